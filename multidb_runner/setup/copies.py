"""
Test databases made as copies of one migrated database of the same schema.

The first test database of a group (``schema_groups.py``) is migrated as
Django does; right after, before anything else is added to it (legacy
tables, rows of a test), a template is taken of it: a database
``<test name>_mdbtpl`` on PostgreSQL (``CREATE DATABASE ... TEMPLATE``), a
file in a private temporary folder for SQLite, and for MySQL and MariaDB
(the ``mysqldump`` output Django's own clone pipes into ``mysql``). Every
other test database of the group is then made from the template instead of
migrating: on PostgreSQL through Django's own creation with
``TEST['TEMPLATE']`` naming the template (so a leftover test database is
replaced or asked about as Django does), on SQLite by copying the file (or,
in memory, SQLite's backup API), on MySQL and MariaDB by Django's own
creation of an empty database, then ``mysql`` loading the dump. The rest
of the set-up (legacy tables, clones, serialization) goes on as for a
migrated database. Templates are test databases by name: checked
like clones before they are created or dropped, dropped once the group is
complete, and at the end of the run whatever happened.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .catalog import (
    DumpFailed,
    copy_database,
    dump_mysql_database,
    is_in_memory_name,
    load_mysql_dump,
    remove_sqlite_sidecars,
    write_sqlite_file,
)
from .safety import RealDatabases
from .schema_groups import group_of
from .servers import SERVER_CONNECTIONS

#: Appended to a test database's name to name its template (PostgreSQL).
TEMPLATE_SUFFIX = "_mdbtpl"
#: PostgreSQL's longest identifier, in bytes.
POSTGRESQL_NAME_LIMIT = 63

CreateTestDatabase = Callable[..., None]
ABSENT = object()


@dataclass
class Template:
    """A copy of a freshly migrated test database, the source of its group's other test databases."""

    alias: str
    vendor: str
    #: The template database (PostgreSQL) or file (SQLite).
    name: str


@contextmanager
def statements_elsewhere(source: str) -> Iterator[list[str]]:
    """
    Collect the aliases other than ``source`` that run a statement while active.

    A migration that reads or writes another database through the routers
    makes its result depend on more than its own database: that group is
    not copied.
    """
    seen: list[str] = []
    watched = [alias for alias in connections if alias != source]

    def make_watcher(alias: str) -> Callable[..., Any]:
        def watcher(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any) -> Any:
            if alias not in seen:
                seen.append(alias)
            return execute(sql, params, many, context)

        return watcher

    wrappers = [(connections[alias], make_watcher(alias)) for alias in watched]
    for connection, watcher in wrappers:
        connection.execute_wrappers.append(watcher)
    try:
        yield seen
    finally:
        for connection, watcher in wrappers:
            if watcher in connection.execute_wrappers:
                connection.execute_wrappers.remove(watcher)


def display_name(connection: BaseDatabaseWrapper, verbosity: int, test_name: str) -> str:
    """Name the alias (and, from verbosity 2, its test database) as Django's creation messages do."""
    return f"'{connection.alias}'" + (f" ('{test_name}')" if verbosity >= 2 else "")


@dataclass
class SchemaCopies:
    """The templates of a run, and the test databases made from them."""

    groups: Iterable[tuple[str, ...]]
    real_databases: RealDatabases | None = None
    #: Aliases whose test database is made (migrated or copied) already.
    made: set[str] = field(default_factory=set)
    #: Group -> its template, while some of the group remains to be made.
    templates: dict[tuple[str, ...], Template] = field(default_factory=dict)
    #: Groups whose first migration touched another database: each migrates.
    in_doubt: set[tuple[str, ...]] = field(default_factory=set)
    #: Under --keepdb, the aliases whose test database is made afresh (``Snapshots.afresh``).
    afresh: set[str] | None = None
    #: Alias -> the alias whose freshly migrated test database it was copied from.
    copied: dict[str, str] = field(default_factory=dict)
    folder: str | None = None

    def __post_init__(self) -> None:
        self.group_of = group_of(self.groups)

    def create(
        self,
        connection: BaseDatabaseWrapper,
        create: CreateTestDatabase,
        *,
        verbosity: int,
        interactive: bool,
        keepdb: bool,
    ) -> None:
        """
        Make ``connection``'s test database: a copy of its group's template, or ``create(...)`` (a migrate).

        With ``--keepdb``, only a database made afresh (``afresh``: a kept one
        rebuilt, or none kept) takes part; a kept one is made by ``create(...)``.
        """
        alias = connection.alias
        group = self.group_of.get(alias)
        kept = keepdb and not (self.afresh is not None and alias in self.afresh)
        if kept or group is None or group in self.in_doubt:
            create(connection, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
            self.made.add(alias)
            return
        template = self.templates.get(group)
        if template is not None:
            create_test_db_from(connection, template.name, verbosity=verbosity, interactive=interactive)
            self.made.add(alias)
            self.copied[alias] = template.alias
            self.drop_if_complete(group)
            return
        with statements_elsewhere(alias) as elsewhere:
            create(connection, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
        self.made.add(alias)
        if elsewhere:
            self.in_doubt.add(group)
            return
        if any(member not in self.made for member in group):
            template = self.make_template(connection)
            if template is None:
                self.in_doubt.add(group)
            else:
                self.templates[group] = template

    # Templates -------------------------------------------------------------------

    def make_template(self, connection: BaseDatabaseWrapper) -> Template | None:
        """Take a template of ``connection``'s freshly migrated test database (None: it cannot be taken)."""
        test_name = os.fspath(connection.settings_dict["NAME"])
        if connection.vendor in ("sqlite", "mysql"):
            if self.folder is None:
                self.folder = tempfile.mkdtemp(prefix="multidb_runner_templates_")
            if connection.vendor == "sqlite":
                path = os.path.join(self.folder, f"{connection.alias}.sqlite3")
                write_sqlite_file(connection, path)
                return Template(connection.alias, "sqlite", path)
            path = os.path.join(self.folder, f"{connection.alias}.sql")
            try:
                dump_mysql_database(connection, test_name, path)
            except (OSError, DumpFailed):
                return None  # no mysqldump, or it failed: the group migrates each
            return Template(connection.alias, "mysql", path)
        name = f"{test_name}{TEMPLATE_SUFFIX}"
        if len(name.encode()) > POSTGRESQL_NAME_LIMIT:
            return None
        if self.real_databases is not None:
            self.real_databases.check_destroyable(connection.alias, connection, name)
        copy_database(connection, test_name, name)
        return Template(connection.alias, "postgresql", name)

    def drop_if_complete(self, group: tuple[str, ...]) -> None:
        """Drop the group's template once every test database of the group is made."""
        if all(member in self.made for member in group):
            template = self.templates.pop(group, None)
            if template is not None:
                self.drop(template)

    def drop(self, template: Template) -> None:
        if template.vendor in ("sqlite", "mysql"):
            try:
                os.remove(template.name)
            except FileNotFoundError:
                pass
            return
        connection = connections[template.alias]
        if self.real_databases is not None:
            self.real_databases.check_destroyable(template.alias, connection, template.name)
        SERVER_CONNECTIONS.execute(connection, f"DROP DATABASE IF EXISTS {connection.ops.quote_name(template.name)}")

    def destroy(self) -> None:
        """Drop every template left (the run ends, or its set-up failed)."""
        errors: list[Exception] = []
        for group in list(self.templates):
            template = self.templates.pop(group)
            try:
                self.drop(template)
            except Exception as exc:  # keep dropping the others
                errors.append(exc)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if errors:
            raise errors[0]


def create_test_db_from(connection: BaseDatabaseWrapper, source: str, *, verbosity: int, interactive: bool) -> None:
    """
    Make ``connection``'s test database a copy of ``source``, as ``create_test_db`` would by migrating.

    ``source`` is a database of the same server (PostgreSQL), an SQLite file
    or a ``mysqldump`` file (MySQL, MariaDB): a template of a same-schema
    database, or a snapshot. Adapted from
    ``BaseDatabaseCreation.create_test_db``: the same message, the same
    handling of a leftover test database (replaced under ``--noinput``,
    asked about otherwise), the settings pointed at the test database, the
    cache tables, a connection opened.
    """
    creation = connection.creation
    test_name = os.fspath(creation._get_test_db_name())  # type: ignore[attr-defined]
    if verbosity >= 1:
        creation.log(f"Creating test database for alias {display_name(connection, verbosity, test_name)}...")
    if connection.vendor in ("sqlite", "mysql"):
        if connection.vendor == "sqlite" and not is_in_memory_name(test_name):
            remove_sqlite_sidecars(test_name)
        creation._create_test_db(verbosity, not interactive, False)  # type: ignore[attr-defined]
    else:
        test_settings = connection.settings_dict["TEST"]
        own_template = test_settings.get("TEMPLATE", ABSENT)
        test_settings["TEMPLATE"] = source
        try:
            creation._create_test_db(verbosity, not interactive, False)  # type: ignore[attr-defined]
        finally:
            if own_template is ABSENT:
                del test_settings["TEMPLATE"]
            else:
                test_settings["TEMPLATE"] = own_template
    point_at_test_database(connection, test_name)
    if connection.vendor == "sqlite":
        if is_in_memory_name(test_name):
            connection.ensure_connection()
            reader = sqlite3.connect(source)
            try:
                reader.backup(connection.connection)
            finally:
                reader.close()
        else:
            shutil.copyfile(source, test_name)
    elif connection.vendor == "mysql":
        load_mysql_dump(connection, source, test_name)
    finish_test_database(connection)


def point_at_test_database(connection: BaseDatabaseWrapper, test_name: str) -> None:
    """Point ``connection`` (and the settings) at its test database, as ``create_test_db`` does once it exists."""
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = test_name
    connection.settings_dict["NAME"] = test_name


def finish_test_database(connection: BaseDatabaseWrapper) -> None:
    """
    Do what ``create_test_db`` does after migrating: the cache tables, a connection opened.

    And, in Django's own test suite, its expected failures and skips.
    """
    call_command("createcachetable", database=connection.alias)
    connection.ensure_connection()
    if os.environ.get("RUNNING_DJANGOS_TEST_SUITE") == "true":
        connection.creation.mark_expected_failures_and_skips()
