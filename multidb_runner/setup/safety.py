"""
Refuse to create a test database over a configured real database.

Django creates a test database by dropping any database of the same name
(without asking, under ``--noinput``). When ``TEST['NAME']`` equals the
``NAME`` of a configured alias, stock Django destroys that real database.
Two aliases may reach that database's server different ways (a socket
directory and ``127.0.0.1``, a service): databases are compared by the
server they live on, as ``addresses.py`` spells it, and where two spellings
cannot tell, as the servers themselves say (``servers.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigurationError

# Defined with the other errors users see; importable from here as before.
from ..errors import UnsafeDestruction as UnsafeDestruction
from .addresses import LocalMachine, ServerAddress, server_address
from .catalog import is_in_memory_name, sqlite_path
from .servers import ServerFingerprint, own_connection, server_fingerprint
from .test_names import clone_name, test_database_name

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass(frozen=True)
class DatabaseIdentity:
    """What identifies one physical database: vendor, the server as the settings reach it, and name."""

    vendor: str
    server: ServerAddress
    name: str


#: Answers whether two databases of one vendor and name are on one server:
#: True, False, or None when it cannot tell.
SameServer = Callable[[DatabaseIdentity, DatabaseIdentity], "bool | None"]


def database_identity(
    vendor: str, settings_dict: Mapping[str, object], name: object, environ: Mapping[str, str] | None = None
) -> DatabaseIdentity | None:
    """
    Return the identity of database ``name`` on the server of ``settings_dict``.

    The server is folded into one spelling per way there (``addresses.py``;
    ``environ`` defaults to this process's). In-memory SQLite databases have
    no identity (None): they cannot hold real data. ``name`` may be a path
    object, as in ``BASE_DIR / "db.sqlite3"``.
    """
    name = os.fspath(name) if isinstance(name, os.PathLike) else str(name or "")
    if vendor == "sqlite":
        if is_in_memory_name(name):
            return None
        return DatabaseIdentity(vendor, ServerAddress("file", ""), os.path.realpath(sqlite_path(name)))
    return DatabaseIdentity(vendor, server_address(vendor, settings_dict, environ), name)


def clash(
    test: DatabaseIdentity | None,
    real: DatabaseIdentity | None,
    same_server: SameServer | None,
    machine: LocalMachine | None = None,
) -> str | None:
    """
    Return why ``test`` is the database ``real``, or None if it is another one.

    Same vendor and name on one server spelled alike: the same database
    (''); this machine's own names and addresses (``machine``, by default
    asked of the resolver, only here) count as one spelling. Spelled
    differently: ``same_server`` asks the servers; a doubt (no way to ask,
    no answer) counts as the same database, the safe answer for every check
    here.
    """
    if test is None or real is None or test.vendor != real.vendor or test.name != real.name:
        return None
    if test.server == real.server:
        return ""
    machine = machine or LocalMachine.here()
    if test.server.folded(machine) == real.server.folded(machine):
        return ""
    verdict = same_server(test, real) if same_server is not None else None
    if verdict is False:
        return None
    if verdict:
        return f"The server at {test.server} is the one at {real.server}, by the servers' own account."
    return (
        f"The server at {test.server} may be the one at {real.server}: the runner could not ask "
        "both, so it counts them as one."
    )


def owners_of(
    identity: DatabaseIdentity | None,
    real_databases: Mapping[str, DatabaseIdentity | None],
    same_server: SameServer | None = None,
) -> dict[str, str]:
    """Return the aliases whose real database ``identity`` is, each with why (none for an in-memory database)."""
    owners = {}
    for alias, real in real_databases.items():
        reason = clash(identity, real, same_server)
        if reason is not None:
            owners[alias] = reason
    return owners


def explain(owners: Mapping[str, str]) -> str:
    """Return the reasons in ``owners`` that say more than a name, as sentences after a space."""
    return "".join(f" {reason}" for reason in dict.fromkeys(owners.values()) if reason)


def check_test_databases_are_not_real(
    test_databases: Mapping[str, DatabaseIdentity | None],
    real_databases: Mapping[str, DatabaseIdentity | None],
    same_server: SameServer | None = None,
) -> None:
    """
    Raise ConfigurationError if a test database is a configured real database.

    ``test_databases`` maps each alias whose test database will be created
    to that test database; ``real_databases`` maps every configured alias to
    its real database; ``same_server`` asks the servers where the settings
    cannot tell.
    """
    for alias, test_identity in test_databases.items():
        clashes = owners_of(test_identity, real_databases, same_server)
        if test_identity is not None and clashes:
            raise ConfigurationError(
                f"Refusing to run: the test database of alias {alias!r} "
                f"({test_identity.name!r}) is the real database of "
                f"{describe_aliases(clashes)}.{explain(clashes)} Creating it would destroy that data. "
                f"Set DATABASES[{alias!r}]['TEST']['NAME'] to a name of its own "
                "(by default Django uses 'test_' + NAME)."
            )


def check_clones_are_not_real(
    clones: Mapping[str, list[DatabaseIdentity | None]],
    real_databases: Mapping[str, DatabaseIdentity | None],
    same_server: SameServer | None = None,
) -> None:
    """
    Raise ConfigurationError if a parallel worker's clone would be a configured real database.

    ``clones`` maps each alias whose test database is cloned to its clones'
    identities, worker 1 first. Django drops a database of a clone's name
    before cloning into it.
    """
    for alias, identities in clones.items():
        for number, identity in enumerate(identities, start=1):
            clashes = owners_of(identity, real_databases, same_server)
            if identity is not None and clashes:
                raise ConfigurationError(
                    f"Refusing to run: worker {number}'s clone of the test database of alias "
                    f"{alias!r} would be {identity.name!r}, the real database of "
                    f"{describe_aliases(clashes)}.{explain(clashes)} Cloning would destroy that data. Give "
                    f"DATABASES[{alias!r}]['TEST']['NAME'] a name whose clones (the name "
                    "with _1, _2, ... added) are no real database, or run without --parallel."
                )


def describe_aliases(aliases: Iterable[str]) -> str:
    """Return ``alias 'a'`` or ``aliases 'a', 'b'``."""
    aliases = list(aliases)
    noun = "alias" if len(aliases) == 1 else "aliases"
    return f"{noun} {', '.join(map(repr, aliases))}"


class ServerQuestions:
    """
    Ask servers whether two spellings reach one of them, each server at most once.

    Made for one check and dropped after it: a server restarted in between
    answers differently (its start time), so answers are not kept longer.
    """

    def __init__(self) -> None:
        #: (vendor, address) -> wrappers that reach it, tried in turn.
        self.wrappers: dict[tuple[str, ServerAddress], list[BaseDatabaseWrapper]] = {}
        self.fingerprints: dict[tuple[str, ServerAddress], ServerFingerprint | None] = {}

    def add(self, identity: DatabaseIdentity | None, wrapper: BaseDatabaseWrapper) -> None:
        """Reach the server of ``identity`` through ``wrapper``'s settings, when it must be asked."""
        if identity is not None:
            self.wrappers.setdefault((identity.vendor, identity.server), []).append(wrapper)

    def fingerprint(self, identity: DatabaseIdentity) -> ServerFingerprint | None:
        """Return what the server of ``identity`` says it is (None: no way to ask it, or no answer)."""
        key = (identity.vendor, identity.server)
        if key not in self.fingerprints:
            answer = None
            for wrapper in self.wrappers.get(key, []):
                answer = server_fingerprint(wrapper)
                if answer is not None:
                    break
            self.fingerprints[key] = answer
        return self.fingerprints[key]

    def same_server(self, a: DatabaseIdentity, b: DatabaseIdentity) -> bool | None:
        """Return whether ``a`` and ``b`` are on one server, or None if either cannot be asked."""
        first = self.fingerprint(a)
        second = self.fingerprint(b) if first is not None else None
        if first is None or second is None:
            return None
        return first.is_same_server(second)


@dataclass(frozen=True)
class RealDatabases:
    """
    The configured real databases, read before setup changes any ``NAME``.

    Checked again right before anything is destroyed: whatever went wrong
    before (a creation cut short, a name restored too early), a name that is
    some alias's real database is never dropped.
    """

    #: alias -> identity of its real database (None: in-memory SQLite).
    identities: Mapping[str, DatabaseIdentity | None]
    #: alias -> an unconnected wrapper with its settings as read, to ask its
    #: server who it is (an alias without one cannot be asked: a doubt).
    servers: Mapping[str, BaseDatabaseWrapper] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, databases: Mapping[str, tuple[str, Mapping[str, object]]]) -> RealDatabases:
        """Build from ``alias -> (vendor, settings_dict)``, with every ``NAME`` still the real one."""
        return cls(
            {
                alias: database_identity(vendor, settings_dict, settings_dict.get("NAME"))
                for alias, (vendor, settings_dict) in databases.items()
            }
        )

    @classmethod
    def from_connections(cls, connections: Iterable[BaseDatabaseWrapper]) -> RealDatabases:
        """Build from connections whose ``NAME`` is still the real one; keep a copy of their settings to ask."""
        connections = list(connections)
        return cls(
            {
                connection.alias: database_identity(
                    connection.vendor, connection.settings_dict, connection.settings_dict.get("NAME")
                )
                for connection in connections
            },
            {
                connection.alias: own_connection(connection, connection.settings_dict.get("NAME"))
                for connection in connections
                if connection.vendor != "sqlite"
            },
        )

    def questions(self) -> ServerQuestions:
        """Return the questions of one check, every real database's server reachable through its alias."""
        questions = ServerQuestions()
        for alias, wrapper in self.servers.items():
            questions.add(self.identities[alias], wrapper)
        return questions

    def owners(
        self, connection: BaseDatabaseWrapper, name: object, questions: ServerQuestions | None = None
    ) -> dict[str, str]:
        """Return the aliases whose real database ``name`` on ``connection``'s server is, each with why."""
        identity = database_identity(connection.vendor, connection.settings_dict, name)
        questions = questions or self.questions()
        questions.add(identity, connection)
        return owners_of(identity, self.identities, questions.same_server)

    def check_destroyable(self, alias: str, connection: BaseDatabaseWrapper, name: object) -> None:
        """Raise UnsafeDestruction if database ``name`` of ``alias``'s server is a real database."""
        owners = self.owners(connection, name)
        if owners:
            raise UnsafeDestruction(
                f"Refusing to destroy {os.fspath(name) if isinstance(name, os.PathLike) else name!r} "
                f"(a test database of alias {alias!r}): it is the real database of "
                f"{describe_aliases(owners)}.{explain(owners)} It was left untouched."
            )


def real_databases_now() -> RealDatabases:
    """Record every alias's real database, before setup points any alias elsewhere."""
    from django.db import connections

    return RealDatabases.from_connections(connections[alias] for alias in connections)


def check_plan_is_safe(primaries: Iterable[str], workers: int, real_databases: RealDatabases) -> None:
    """
    Refuse to create a test database, or a worker's clone of one, that is a configured real database.

    ``primaries`` are the first alias of each test database to create;
    ``workers`` is the number of parallel workers (1: no clones). Where two
    settings' spellings of a server cannot tell whether it is one, the
    servers are asked now, before anything is created.
    """
    from django.db import connections

    questions = real_databases.questions()
    test_databases = {}
    clones = {}
    for first in primaries:
        connection = connections[first]
        test_name = test_database_name(first)
        test_databases[first] = database_identity(connection.vendor, connection.settings_dict, test_name)
        questions.add(test_databases[first], connection)
        if workers > 1:
            clones[first] = [
                database_identity(
                    connection.vendor, connection.settings_dict, clone_name(connection.vendor, test_name, number)
                )
                for number in range(1, workers + 1)
            ]
    check_test_databases_are_not_real(test_databases, real_databases.identities, questions.same_server)
    check_clones_are_not_real(clones, real_databases.identities, questions.same_server)
