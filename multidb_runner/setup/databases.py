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
from contextlib import AbstractContextManager
from dataclasses import dataclass
from io import StringIO
from typing import Any

from django.core import serializers
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.creation import BaseDatabaseCreation
from django.test.utils import NullTimeKeeper  # type: ignore[attr-defined]

from ..changes import ChangeStack, attribute_replaced

# Defined with the other errors users see; importable from here as before.
from ..errors import TestDatabaseLeftOver as TestDatabaseLeftOver
from .catalog import database_exists, drop_database, is_in_memory_name, remove_sqlite_sidecars, sqlite_path
from .copies import display_name, finish_test_database, point_at_test_database

# Also imported from here by the runner and the pytest plugin.
from .safety import RealDatabases, UnsafeDestruction
from .test_names import test_database_name


def remove_sqlite_sidecars_of(connection: BaseDatabaseWrapper) -> None:
    """Remove the journal files of ``connection``'s SQLite test database file, if any."""
    if connection.vendor != "sqlite":
        return
    # Only the test database's name: never a real database's files.
    test_name = test_database_name(connection.alias)
    if not is_in_memory_name(test_name):
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
    try:
        connection.creation.create_test_db(**kwargs)
    except (EOFError, RuntimeError) as exc:
        if not interactive or (isinstance(exc, RuntimeError) and "sys.stdin" not in str(exc)):
            raise
        # Django asked whether to delete a leftover test database, and
        # nobody can answer (a script, a CI job): say so, without a traceback.
        raise TestDatabaseLeftOver(
            f"The test database {test_database_name(connection.alias)!r} of alias "
            f"{connection.alias!r} already exists (left by an earlier run?), and there "
            "is no input to answer whether to delete it. Run with --noinput to "
            "replace it without asking, or delete it yourself."
        ) from None


def use_kept_test_db(connection: BaseDatabaseWrapper, *, verbosity: int, interactive: bool, keepdb: bool) -> None:
    """
    Point ``connection`` at its kept test database as ``create_test_db(keepdb=True)`` does, without migrating.

    Only for a kept database known to hold what a migrate gives now (its
    schema key matches, ``snapshots.py``): there, Django's ``migrate``
    would apply nothing and its ``post_migrate`` receivers (Django's own:
    content types, permissions, the default site) would find their rows in
    place. The rest is Django's: the same message, the cache tables, the
    connection opened, the expected failures of Django's own test suite.
    """
    test_name = test_database_name(connection.alias)
    if verbosity >= 1:
        connection.creation.log(
            f"Using existing test database for alias {display_name(connection, verbosity, test_name)}..."
        )
    point_at_test_database(connection, test_name)
    finish_test_database(connection)


@dataclass
class TestDatabase:
    """
    One alias's part in the run: the database to destroy, if this run created one.

    What Django keeps as an ``old_config`` entry, with the created database's
    name recorded when its creation is known to have happened: the cleanup
    destroys that name and nothing else.
    """

    connection: BaseDatabaseWrapper
    #: The alias's real NAME, given back at teardown.
    real_name: Any
    #: The test database this run created (None: the alias shares another's).
    test_name: str | None = None

    @property
    def alias(self) -> str:
        return str(self.connection.alias)

    def __iter__(self) -> Iterator[Any]:
        """Unpack as Django's ``(connection, old_name, destroy)`` entries do, for subclasses that read them."""
        return iter((self.connection, self.real_name, self.test_name is not None))

    def __getitem__(self, index: int) -> Any:
        return tuple(self)[index]


#: The test databases of a run, in creation order (Django's ``old_config``).
OldConfig = list[TestDatabase]


def created_before_failure(connection: BaseDatabaseWrapper, test_name: str, existed: bool | None) -> bool:
    """
    Return whether a ``create_test_db`` call that failed had created ``test_name``.

    Django points the connection at the test database right after creating
    it: from then on it is ours (half-migrated, perhaps). Before that point,
    a database that did not exist before the call and exists now was
    created by it too. Anything else (a leftover the user chose to keep, a
    database Django could not drop) was not created by this run.
    """
    if os.fspath(connection.settings_dict["NAME"]) == test_name:
        return True
    if existed is not False:
        return False
    try:
        return bool(database_exists(connection, test_name))
    except Exception:
        return False


def create_test_databases(
    creations: Iterable[tuple[str, list[str]]],
    *,
    into: OldConfig,
    verbosity: int,
    interactive: bool,
    keepdb: bool = False,
    time_keeper: Any = None,
    prepare_database: Callable[[str], None] | None = None,
    create: Callable[..., None] | None = None,
) -> OldConfig:
    """
    Create the test databases of ``creations`` (a ``DatabasePlan``'s) and point sharing aliases at them.

    Each database is recorded in ``into`` only once this run is known to
    have created it, so that the caller's cleanup, on failure, destroys what
    was created and nothing else. ``prepare_database(alias)`` runs after
    each database is migrated. ``create(connection, verbosity=...,
    interactive=..., keepdb=...)`` makes a test database (default:
    ``create_test_db()``, Django's). Return ``into``.
    """
    time_keeper = time_keeper or NullTimeKeeper()
    for first, aliases in creations:
        connection = connections[first]
        real_name = connection.settings_dict["NAME"]
        test_name = test_database_name(first)
        # With --keepdb nothing is ever destroyed, so there is nothing to tell apart.
        existed = None if keepdb else database_exists(connection, test_name)
        try:
            with time_keeper.timed(f"  Creating '{first}'"):
                (create or create_test_db)(connection, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
        except BaseException:
            if created_before_failure(connection, test_name, existed):
                into.append(TestDatabase(connection, real_name, test_name))
            raise
        into.append(TestDatabase(connection, real_name, test_name))
        if prepare_database is not None:
            prepare_database(first)
        for alias in aliases[1:]:
            other = connections[alias]
            into.append(TestDatabase(other, other.settings_dict["NAME"]))
            other.creation.set_as_test_mirror(connection.settings_dict)
    return into


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


def serialized_contents_reloaded_in_place() -> AbstractContextManager[None]:
    """Make ``serialized_rollback`` reload each alias's contents into its own database, for the run."""
    return attribute_replaced(BaseDatabaseCreation, "deserialize_db_from_string", reload_serialized_contents)


@dataclass(frozen=True)
class SerializedContentsReloadedInPlace:
    """The run-wide change ``serialized_contents_reloaded_in_place`` makes, as a worker replays it."""

    def apply(self, stack: ChangeStack) -> None:
        stack.enter(serialized_contents_reloaded_in_place())


def destroy_test_databases(
    old_config: OldConfig, *, verbosity: int, keepdb: bool = False, real_databases: RealDatabases | None = None
) -> None:
    """
    Destroy the databases this run created; restore every alias's NAME.

    Unlike stock Django, aliases that shared another alias's test database get
    their own NAME back too. A name that is a configured real database (in
    ``real_databases``) is never destroyed, whatever led here.
    """
    errors: list[BaseException] = []
    for entry in old_config:
        try:
            destroy_test_database(entry, verbosity=verbosity, keepdb=keepdb, real_databases=real_databases)
        except Exception as exc:  # keep destroying the others
            errors.append(exc)
    old_config.clear()
    if errors:
        raise errors[0]


def destroy_test_database(
    entry: TestDatabase, *, verbosity: int, keepdb: bool, real_databases: RealDatabases | None
) -> None:
    """Destroy ``entry``'s test database, if this run created one, and give the alias its NAME back."""
    connection = entry.connection
    if entry.test_name is None:
        connection.close()
        connection.settings_dict["NAME"] = entry.real_name
        return
    if real_databases is not None:
        try:
            real_databases.check_destroyable(entry.alias, connection, entry.test_name)
        except UnsafeDestruction:
            restore_real_name(entry)
            raise
    if not keepdb and connection.vendor == "sqlite" and not is_in_memory_name(entry.test_name):
        remove_sqlite_sidecars(sqlite_path(entry.test_name))
    if os.fspath(connection.settings_dict["NAME"]) == entry.test_name:
        connection.creation.destroy_test_db(entry.real_name, verbosity, keepdb)
        return
    # Creation was cut short before Django pointed the alias at the new
    # database: destroy it by its name.
    restore_real_name(entry)
    if not keepdb:
        if verbosity >= 1:
            connection.creation.log(
                f"Destroying test database {entry.test_name!r} of alias {entry.alias!r} (its creation was cut short)..."
            )
        drop_database(connection, entry.test_name, verbosity)


def restore_real_name(entry: TestDatabase) -> None:
    """Point ``entry``'s alias at its real database name again, as Django's teardown does."""
    from django.conf import settings

    entry.connection.close()
    if entry.alias in settings.DATABASES:
        settings.DATABASES[entry.alias]["NAME"] = entry.real_name
    entry.connection.settings_dict["NAME"] = entry.real_name
