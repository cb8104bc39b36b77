"""
Refuse to create a test database over a configured real database.

Django creates a test database by dropping any database of the same name
(without asking, under ``--noinput``). When ``TEST['NAME']`` equals the
``NAME`` of a configured alias, stock Django destroys that real database.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import ConfigurationError

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
DEFAULT_PORTS = {"postgresql": "5432", "mysql": "3306", "oracle": "1521"}


@dataclass(frozen=True)
class DatabaseIdentity:
    """What identifies one physical database: vendor, server and name."""

    vendor: str
    host: str
    port: str
    name: str


def database_identity(vendor: str, settings_dict: Mapping[str, object], name: object) -> DatabaseIdentity | None:
    """
    Return the identity of database ``name`` on the server of ``settings_dict``.

    Local host spellings are folded together and default ports filled in, so
    that a doubt counts as the same database. In-memory SQLite databases have
    no identity (None): they cannot hold real data. ``name`` may be a path
    object, as in ``BASE_DIR / "db.sqlite3"``.
    """
    name = os.fspath(name) if isinstance(name, os.PathLike) else str(name or "")
    if vendor == "sqlite":
        if not name or name == ":memory:" or "mode=memory" in name:
            return None
        path = name[len("file:") :].split("?", 1)[0] if name.startswith("file:") else name
        return DatabaseIdentity(vendor, "", "", os.path.realpath(path))
    host = str(settings_dict.get("HOST") or "").strip().lower()
    if host in LOCAL_HOSTS:
        host = "localhost"
    port = str(settings_dict.get("PORT") or "").strip() or DEFAULT_PORTS.get(vendor, "")
    return DatabaseIdentity(vendor, host, port, name)


def owners_of(identity: DatabaseIdentity | None, real_databases: Mapping[str, DatabaseIdentity | None]) -> list[str]:
    """Return the aliases whose real database ``identity`` is (none for an in-memory database)."""
    if identity is None:
        return []
    return [alias for alias, real in real_databases.items() if real == identity]


def check_test_databases_are_not_real(
    test_databases: Mapping[str, DatabaseIdentity | None],
    real_databases: Mapping[str, DatabaseIdentity | None],
) -> None:
    """
    Raise ConfigurationError if a test database is a configured real database.

    ``test_databases`` maps each alias whose test database will be created
    to that test database; ``real_databases`` maps every configured alias to
    its real database.
    """
    for alias, test_identity in test_databases.items():
        clashes = owners_of(test_identity, real_databases)
        if test_identity is not None and clashes:
            raise ConfigurationError(
                f"Refusing to run: the test database of alias {alias!r} "
                f"({test_identity.name!r}) is the real database of "
                f"{describe_aliases(clashes)}. Creating it would destroy that data. "
                f"Set DATABASES[{alias!r}]['TEST']['NAME'] to a name of its own "
                "(by default Django uses 'test_' + NAME)."
            )


def check_clones_are_not_real(
    clones: Mapping[str, list[DatabaseIdentity | None]],
    real_databases: Mapping[str, DatabaseIdentity | None],
) -> None:
    """
    Raise ConfigurationError if a parallel worker's clone would be a configured real database.

    ``clones`` maps each alias whose test database is cloned to its clones'
    identities, worker 1 first. Django drops a database of a clone's name
    before cloning into it.
    """
    for alias, identities in clones.items():
        for number, identity in enumerate(identities, start=1):
            clashes = owners_of(identity, real_databases)
            if identity is not None and clashes:
                raise ConfigurationError(
                    f"Refusing to run: worker {number}'s clone of the test database of alias "
                    f"{alias!r} would be {identity.name!r}, the real database of "
                    f"{describe_aliases(clashes)}. Cloning would destroy that data. Give "
                    f"DATABASES[{alias!r}]['TEST']['NAME'] a name whose clones (the name "
                    "with _1, _2, ... added) are no real database, or run without --parallel."
                )


def describe_aliases(aliases: Iterable[str]) -> str:
    """Return ``alias 'a'`` or ``aliases 'a', 'b'``."""
    aliases = list(aliases)
    noun = "alias" if len(aliases) == 1 else "aliases"
    return f"{noun} {', '.join(map(repr, aliases))}"


class UnsafeDestruction(ConfigurationError):
    """The runner was about to destroy (or clone over) a database that is a configured real database."""


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

    @classmethod
    def from_settings(cls, databases: Mapping[str, tuple[str, Mapping[str, object]]]) -> RealDatabases:
        """Build from ``alias -> (vendor, settings_dict)``, with every ``NAME`` still the real one."""
        return cls(
            {
                alias: database_identity(vendor, settings_dict, settings_dict.get("NAME"))
                for alias, (vendor, settings_dict) in databases.items()
            }
        )

    def owners(self, vendor: str, settings_dict: Mapping[str, object], name: object) -> list[str]:
        """Return the aliases whose real database ``name`` (on that server) is."""
        return owners_of(database_identity(vendor, settings_dict, name), self.identities)

    def check_destroyable(self, alias: str, vendor: str, settings_dict: Mapping[str, object], name: object) -> None:
        """Raise UnsafeDestruction if database ``name`` of ``alias``'s server is a real database."""
        owners = self.owners(vendor, settings_dict, name)
        if owners:
            raise UnsafeDestruction(
                f"Refusing to destroy {os.fspath(name) if isinstance(name, os.PathLike) else name!r} "
                f"(a test database of alias {alias!r}): it is the real database of "
                f"{describe_aliases(owners)}. It was left untouched."
            )


def real_databases_now() -> RealDatabases:
    """Record every alias's real database, before setup points any alias elsewhere."""
    from django.db import connections

    return RealDatabases.from_settings(
        {alias: (connections[alias].vendor, connections[alias].settings_dict) for alias in connections}
    )


def check_plan_is_safe(primaries: Iterable[str], workers: int, real_databases: RealDatabases) -> None:
    """
    Refuse to create a test database, or a worker's clone of one, that is a configured real database.

    ``primaries`` are the first alias of each test database to create;
    ``workers`` is the number of parallel workers (1: no clones).
    """
    from django.db import connections

    from .clones import clone_name
    from .databases import test_database_name

    test_databases = {}
    clones = {}
    for first in primaries:
        connection = connections[first]
        test_name = test_database_name(first)
        test_databases[first] = database_identity(connection.vendor, connection.settings_dict, test_name)
        if workers > 1:
            clones[first] = [
                database_identity(
                    connection.vendor, connection.settings_dict, clone_name(connection.vendor, test_name, number)
                )
                for number in range(1, workers + 1)
            ]
    check_test_databases_are_not_real(test_databases, real_databases.identities)
    check_clones_are_not_real(clones, real_databases.identities)
