"""
Create and destroy the test databases of a ``DatabasePlan``.

Adapted from ``django.test.utils.setup_databases`` and ``teardown_databases``.
The differences: the steps run in the plan's order, a hook prepares each
database right after its migrations (legacy tables, then the clones for
parallel workers), serialization waits until every database and mirror is
ready, and a failure half-way destroys what was already created instead of
leaving it behind. Clones are made and destroyed by ``clones``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any

from django.core import serializers
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.creation import BaseDatabaseCreation
from django.test.utils import NullTimeKeeper  # type: ignore[attr-defined]

from .clones import remove_sqlite_sidecars
from .plan import DatabasePlan

#: (connection, original NAME, whether to destroy it) — Django's old_config.
OldConfig = list[tuple[BaseDatabaseWrapper, str, bool]]


def test_database_name(alias: str) -> str:
    """Return the name Django gives ``alias``'s test database (TEST['NAME'] or a default)."""
    name: str = os.fspath(connections[alias].creation._get_test_db_name())  # type: ignore[attr-defined]
    return name


def remove_sqlite_sidecars_of(connection: BaseDatabaseWrapper) -> None:
    """Remove the journal files of ``connection``'s SQLite test database file, if any."""
    if connection.vendor != "sqlite":
        return
    # Only the test database's name: never a real database's files.
    test_name = test_database_name(connection.alias)
    if test_name and test_name != ":memory:" and "mode=memory" not in test_name:
        remove_sqlite_sidecars(test_name)


def create_test_db(connection: BaseDatabaseWrapper, *, verbosity: int, interactive: bool, keepdb: bool) -> None:
    """
    Call ``create_test_db`` without serializing.

    Django 5.2 serializes unless told ``serialize=False``; Django 6.0+
    deprecates the argument and serializes only when asked.
    """
    if not keepdb:
        # Django replaces the file; a journal left by a crashed run must go too.
        # (With --keepdb a hot journal is what restores the kept database.)
        remove_sqlite_sidecars_of(connection)
    kwargs: dict[str, Any] = {"verbosity": verbosity, "autoclobber": not interactive, "keepdb": keepdb}
    parameter = inspect.signature(connection.creation.create_test_db).parameters.get("serialize")
    if parameter is not None and parameter.default is not None:
        kwargs["serialize"] = False
    connection.creation.create_test_db(**kwargs)


def create_test_databases(
    plan: DatabasePlan,
    *,
    verbosity: int,
    interactive: bool,
    keepdb: bool = False,
    time_keeper: Any = None,
    prepare_database: Callable[[str], None] | None = None,
) -> OldConfig:
    """
    Create every test database of ``plan`` and point sharing aliases at it.

    ``prepare_database(alias)`` runs after each database is migrated.
    Return Django's ``old_config`` for teardown.
    """
    time_keeper = time_keeper or NullTimeKeeper()
    old_config: OldConfig = []
    try:
        for first, aliases in plan.creations:
            connection = connections[first]
            old_config.append((connection, connection.settings_dict["NAME"], True))
            with time_keeper.timed(f"  Creating '{first}'"):
                create_test_db(connection, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
            if prepare_database is not None:
                prepare_database(first)
            for alias in aliases[1:]:
                other = connections[alias]
                old_config.append((other, other.settings_dict["NAME"], False))
                other.creation.set_as_test_mirror(connection.settings_dict)
    except BaseException:
        # Leave nothing behind: destroy what this call created, then re-raise.
        try:
            destroy_test_databases(old_config, verbosity=verbosity, keepdb=keepdb)
        except Exception:
            pass
        raise
    return old_config


def serialize_test_databases(aliases: Iterable[str]) -> None:
    """
    Serialize the contents of the test databases of ``aliases``.

    Done once every database and mirror is set up, as Django does, so that
    routing during serialization sees the final configuration.
    """
    for alias in aliases:
        connection = connections[alias]
        connection._test_serialized_contents = connection.creation.serialize_db_to_string()  # type: ignore[attr-defined]


def reload_serialized_contents(creation: BaseDatabaseCreation, data: str) -> None:
    """
    Reload a test database with its contents serialized at setup, into that database.

    Adapted from ``BaseDatabaseCreation.deserialize_db_from_string``, which
    saves each object with ``obj.save()``: the routers choose where it goes,
    and when none answers, the contents serialized from another alias are
    written to ``default``. Here every object is saved with ``using=`` the
    alias being reloaded.
    """
    alias = creation.connection.alias
    table_names = set()
    # Load data in a transaction to handle forward references and cycles.
    with transaction.atomic(using=alias):
        # Disable constraint checks: MySQL does not support deferred checks.
        with creation.connection.constraint_checks_disabled():
            for deserialized in serializers.deserialize("json", StringIO(data), using=alias):
                deserialized.save(using=alias)
                table_names.add(deserialized.object._meta.db_table)
        # Check the keys that were loaded while constraint checks were disabled.
        creation.connection.check_constraints(table_names=sorted(table_names))


@contextmanager
def serialized_contents_reloaded_in_place() -> Iterator[None]:
    """Make ``serialized_rollback`` reload each alias's contents into its own database, for the run."""
    original = BaseDatabaseCreation.__dict__["deserialize_db_from_string"]
    setattr(BaseDatabaseCreation, "deserialize_db_from_string", reload_serialized_contents)  # noqa: B010
    try:
        yield
    finally:
        setattr(BaseDatabaseCreation, "deserialize_db_from_string", original)  # noqa: B010


def destroy_test_databases(old_config: OldConfig, *, verbosity: int, keepdb: bool = False) -> None:
    """
    Destroy the created databases; restore every alias's NAME.

    Unlike stock Django, aliases that shared another alias's test database get
    their own NAME back too.
    """
    errors: list[BaseException] = []
    for connection, old_name, destroy in old_config:
        try:
            if destroy:
                if not keepdb:
                    remove_sqlite_sidecars_of(connection)
                connection.creation.destroy_test_db(old_name, verbosity, keepdb)
            else:
                connection.close()
                connection.settings_dict["NAME"] = old_name
        except Exception as exc:  # keep destroying the others
            errors.append(exc)
    if errors:
        raise errors[0]
