"""
Check, before anything is created, that the runner can connect to the server of every test database.

A test database set up before the tests meets its server at once: a wrong
password, a server that is down or an unknown host stops the run there, with
a driver's traceback. Here it stops before anything is created, with one
paragraph naming the alias and the server.

A database set up on first use (one that no test class declares) would meet
its server only when a test first uses it, and then fail every test that
uses it, each with a long chained traceback; on MySQL every ``TestCase``
that may use it, since Django asks the server whether it supports
transactions. Stock Django never sets such a database up, so a run that
never uses it must not fail: the run says once, before the tests, that it
cannot connect, and the tests that use the alias fail with a short
``TestDatabaseSetupError``.

One connection per server and credentials, to no database, as the runner
makes its own (``servers.own_connection()``), closed at once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

# Defined with the other errors users see; importable from here as before.
from ..errors import CannotConnect as CannotConnect
from ..errors import sentence
from .safety import describe_aliases
from .servers import own_connection

#: Seconds a check waits for a server to accept its connection (unless OPTIONS set connect_timeout).
CONNECT_TIMEOUT = 10
#: The backends whose servers are checked (SQLite has none).
SERVER_VENDORS = ("postgresql", "mysql")


@dataclass(frozen=True)
class UnreachableServer:
    """A server that could not be connected to: where it is, and the driver's reason (without the password)."""

    address: str
    reason: str


def unreachable_servers(aliases: Iterable[str]) -> dict[str, UnreachableServer]:
    """Return, for each of ``aliases`` whose server cannot be connected to, that server; one check per server."""
    checked: dict[Hashable, UnreachableServer | None] = {}
    unreachable = {}
    for alias in aliases:
        connection = connections[alias]
        if connection.vendor not in SERVER_VENDORS:
            continue
        key = server_key(connection.settings_dict)
        if key not in checked:
            checked[key] = check_server(connection)
        server = checked[key]
        if server is not None:
            unreachable[alias] = server
    return unreachable


def server_key(settings_dict: Mapping[str, Any]) -> Hashable:
    """Return what tells two aliases' connections apart, but the database: server, credentials, options."""
    return tuple(repr(settings_dict.get(key)) for key in ("ENGINE", "HOST", "PORT", "USER", "PASSWORD", "OPTIONS"))


def check_server(connection: BaseDatabaseWrapper) -> UnreachableServer | None:
    """
    Connect to ``connection``'s server; return None if that works, else why not.

    Where the run lock connects (``locks.ServerLock``): to no database, and
    on PostgreSQL to the alias's own database where ``postgres`` cannot be
    reached. The connection is given up after CONNECT_TIMEOUT seconds, so
    that a host that drops packets does not hang the run before its tests.
    """
    names: list[Any] = [None]
    if connection.vendor == "postgresql":
        names.append(connection.settings_dict["NAME"])
    errors = []
    for name in names:
        probe = own_connection(connection, name)
        options = {"connect_timeout": CONNECT_TIMEOUT, **probe.settings_dict.get("OPTIONS", {})}
        # A pool of its own for one connection would outlive the check.
        options.pop("pool", None)
        probe.settings_dict["OPTIONS"] = options
        try:
            probe.ensure_connection()
        except Exception as exc:
            errors.append(exc)
            continue
        finally:
            probe.close()
        return None
    return UnreachableServer(server_address(connection.settings_dict), reason(errors[0], connection.settings_dict))


def server_address(settings_dict: Mapping[str, Any]) -> str:
    """Return ``HOST:PORT`` as configured (never the credentials)."""
    host = str(settings_dict.get("HOST") or "") or "the default host"
    port = str(settings_dict.get("PORT") or "")
    return f"{host}:{port}" if port else host


def reason(exc: BaseException, settings_dict: Mapping[str, Any]) -> str:
    """Return the driver's message on one line, as a sentence, with the password masked if it quotes it."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    password = str(settings_dict.get("PASSWORD") or "")
    if password:
        text = text.replace(password, "********")
    return sentence(text)


def group_by_server(unreachable: Mapping[str, UnreachableServer]) -> dict[UnreachableServer, list[str]]:
    """Return the aliases of each unreachable server."""
    grouped: dict[UnreachableServer, list[str]] = {}
    for alias, server in unreachable.items():
        grouped.setdefault(server, []).append(alias)
    return grouped


def cannot_connect(aliases: Iterable[str], server: UnreachableServer) -> str:
    """Say that the server of ``aliases`` cannot be connected to, and what the driver said."""
    return f"cannot connect to the server of {describe_aliases(aliases)} ({server.address}): {server.reason}"


def cannot_connect_error(unreachable: Mapping[str, UnreachableServer]) -> CannotConnect:
    """Return the error that stops a run: databases to set up before the tests are on unreachable servers."""
    grouped = group_by_server(unreachable)
    sentences = [cannot_connect(aliases, server) for server, aliases in grouped.items()]
    return CannotConnect(
        " ".join(text[0].upper() + text[1:] for text in sentences) + " No test database was created. "
        "Check that the server is running and reachable from here, and the HOST, PORT, USER and PASSWORD "
        f"of {describe_aliases(unreachable)} in settings.DATABASES."
    )


def first_use_warnings(unreachable: Mapping[str, UnreachableServer]) -> list[str]:
    """Return one line per unreachable server of databases to set up on first use."""
    return [
        f"Warning: {cannot_connect(aliases, server)} "
        f"{'Its test database is' if len(aliases) == 1 else 'Their test databases are'} not set up: "
        f"the tests that use {'it' if len(aliases) == 1 else 'them'} will fail with TestDatabaseSetupError; "
        "the others run."
        for server, aliases in group_by_server(unreachable).items()
    ]


def first_use_refusal(server: UnreachableServer) -> str:
    """Return why a database on an unreachable server is not set up on its first use (TestDatabaseSetupError)."""
    return f"the runner could not connect to its server ({server.address}) before the tests: {server.reason}"
