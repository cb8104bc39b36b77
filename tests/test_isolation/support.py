"""
The oracle that checks isolation after each test, and the flush log reader.

The oracle only reads, on connections of its own: after a ``TransactionTestCase`` test has been torn
down, every model table of every non-mirror alias of the class must be empty,
and the contenttypes and permissions tables must hold exactly what Django's
post_migrate handlers create (what a stock flush leaves behind). When it finds
leftovers it removes them before failing, so one broken test does not fail
every test after it.
"""

import logging
import os
import re
from contextlib import contextmanager

from django.apps import apps
from django.conf import settings
from django.contrib.auth.management import _get_all_permissions
from django.core.management.color import no_style
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections

#: Tables that post_migrate fills again after a flush: never empty.
REPOPULATED_TABLES = ("django_content_type", "auth_permission")
FLUSH_LOGGER = "multidb_runner.flush"
FLUSH_MESSAGE = re.compile(
    r"flush (?P<alias>\S+): (?:skipped \((?:nothing written|no table the flush command empties was written)\)"
    r"|tables (?P<tables>.+)|every table \((?P<reason>.+)\))"
)
#: expect_flush(alias=EVERY_TABLE): the whole alias is flushed, for any reason.
EVERY_TABLE = "every table"
SKIPPED = "skipped"


def runner_option(name):
    """Return a MULTIDB_RUNNER option of the isolation features (both default to True)."""
    return getattr(settings, "MULTIDB_RUNNER", {}).get(name, True)


def is_in_memory(alias):
    """Return True if ``alias``'s test database is an in-memory SQLite database."""
    connection = connections[alias]
    return connection.vendor == "sqlite" and connection.creation.is_in_memory_db(connection.settings_dict["NAME"])


def close_connections():
    """Close every open connection, as TransactionTestCase and TestCase do after themselves."""
    for connection in connections.all(initialized_only=True):
        connection.close()


def expected_content_types():
    """Return the (app_label, model) pairs post_migrate creates."""
    return sorted((model._meta.app_label, model._meta.model_name) for model in apps.get_models())


def expected_permissions():
    """Return the (app_label, model, codename) triples post_migrate creates."""
    return sorted(
        (model._meta.app_label, model._meta.model_name, codename)
        for model in apps.get_models()
        for codename, _ in _get_all_permissions(model._meta)
    )


@contextmanager
def private_cursor(alias):
    """
    Yield a DB-API cursor on a connection of its own to ``alias``'s test database.

    Nothing goes through Django's connection of the alias: it is neither
    opened nor closed, and neither the runner's write tracking nor its
    usage report hears of the oracle's reads.
    """
    connection = connections[alias]
    private = connection.get_new_connection(connection.get_connection_params())
    try:
        cursor = private.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        private.close()


def find_table(present, table):
    """Return the name ``table`` has in the database (in another case where names ignore case), or None."""
    if table in present:
        return table
    matches = [name for name in present if name.lower() == table.lower()]
    return matches[0] if len(matches) == 1 else None


def inspect_alias(alias):
    """
    Return (problems, tables to clean) for ``alias`` after a test.

    Every table of a Django model (M2M tables included) that exists in the
    alias's database must be empty, except the contenttypes and permissions
    tables, which must hold exactly what post_migrate creates.
    """
    connection = connections[alias]
    quote = connection.ops.quote_name
    problems, dirty = [], []
    with private_cursor(alias) as cursor:
        present = {info.name for info in connection.introspection.get_table_list(cursor) if info.type == "t"}
        model_tables = sorted({model._meta.db_table for model in apps.get_models(include_auto_created=True)})
        for table in model_tables:
            name = find_table(present, table)
            if table in REPOPULATED_TABLES or name is None:
                continue
            cursor.execute(f"SELECT COUNT(*) FROM {quote(name)}")
            rows = cursor.fetchone()[0]
            if rows:
                problems.append(f"{alias}: {rows} row(s) left in {table}")
                dirty.append(name)
        if all(table in present for table in REPOPULATED_TABLES):
            cursor.execute("SELECT app_label, model FROM django_content_type")
            content_types = sorted(tuple(row) for row in cursor.fetchall())
            cursor.execute("SELECT COUNT(*) FROM auth_permission")
            permission_count = cursor.fetchone()[0]
            cursor.execute(
                "SELECT ct.app_label, ct.model, p.codename FROM auth_permission p "
                "INNER JOIN django_content_type ct ON ct.id = p.content_type_id"
            )
            permissions = sorted(tuple(row) for row in cursor.fetchall())
            expected_types, expected = expected_content_types(), expected_permissions()
            if content_types != expected_types:
                problems.append(
                    f"{alias}: django_content_type is not what post_migrate creates "
                    f"(differences: {sorted(set(content_types) ^ set(expected_types))})"
                )
            if permissions != expected or permission_count != len(expected):
                problems.append(
                    f"{alias}: auth_permission holds {permission_count} row(s), not the {len(expected)} "
                    f"post_migrate creates (differences: {sorted(set(permissions) ^ set(expected))})"
                )
            if content_types != expected_types or permission_count != len(expected):
                dirty.extend(REPOPULATED_TABLES)
    return problems, dirty


def clean_alias(alias, tables):
    """Remove what a failed check found, so that later tests start clean."""
    connection = connections[alias]
    statements = connection.ops.sql_flush(no_style(), tables, allow_cascade=True)
    connection.ops.execute_sql_flush(statements)
    if any(table in REPOPULATED_TABLES for table in tables):
        emit_post_migrate_signal(verbosity=0, interactive=False, db=alias)


def test_database_created(alias):
    """Return False if ``alias``'s test database is on a server and does not exist yet (set up on first use)."""
    from django.db import connections

    from multidb_runner.setup.catalog import database_exists

    connection = connections[alias]
    if connection.vendor == "sqlite":
        return True
    return database_exists(connection, connection.settings_dict["NAME"]) is not False


def check_aliases_are_clean(aliases, context=""):
    """Raise AssertionError listing what survived on ``aliases``, after cleaning it up."""
    problems = []
    for alias in aliases:
        if not test_database_created(alias):
            # Set up on first use and not used yet: nothing can be in it.
            continue
        found, dirty = inspect_alias(alias)
        problems.extend(found)
        if dirty:
            try:
                clean_alias(alias, dirty)
            finally:
                # Leave the connections closed, as Django's teardowns do.
                close_connections()
    if problems:
        raise AssertionError("Data survived the test:\n  " + "\n  ".join(problems) + context)


class FlushLogCapture(logging.Handler):
    """Collect the messages of the ``multidb_runner.flush`` logger while started."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.logger = logging.getLogger(FLUSH_LOGGER)
        self.messages = []
        self.saved_level = None

    def emit(self, record):
        self.messages.append(record.getMessage())

    def start(self):
        self.saved_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def stop(self):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved_level)
        return list(self.messages)


#: The process in which the first flush round has happened.
_first_flush_done_in = None


def ensure_first_flush_round(test):
    """
    Run a throwaway flush round once per process.

    The runner's first flush in a process of an alias written before it
    flushes every table; without this, whichever test happens to come first in
    a process (serial run, or each parallel worker) would be isolated by that
    full flush, whatever its writes, and the selective flush would go unchecked.
    """
    global _first_flush_done_in
    if _first_flush_done_in != os.getpid():
        test._fixture_teardown()
        _first_flush_done_in = os.getpid()


class NothingSurvivesMixin:
    """
    Check, after each TransactionTestCase test, that nothing it wrote survived.

    ``_post_teardown`` lets Django (and the runner) flush, then reads every
    model table of every non-mirror alias of the class; a row left anywhere
    makes the test error. The flush log is captured during the teardown: when
    the runner logs anything it must be one well-formed message per alias,
    and tests that call ``expect_flush()`` also check what was flushed.
    """

    expected_flush = None

    def setUp(self):
        super().setUp()
        ensure_first_flush_round(self)

    def require_selective_flush(self):
        """Skip a white-box test when the runner flushes like stock Django."""
        if not runner_option("SELECTIVE_FLUSH"):
            self.skipTest("MULTIDB_RUNNER['SELECTIVE_FLUSH'] is False: every alias is flushed and nothing is logged.")

    def expect_flush(self, **expected):
        """
        Declare what the teardown must flush, per alias.

        A list of table names, ``EVERY_TABLE`` or ``SKIPPED``; aliases not
        named must be skipped.
        """
        self.require_selective_flush()
        self.expected_flush = expected

    def _post_teardown(self):
        # The runner logs at the teardown's flush, and only then.
        capture = FlushLogCapture().start()
        try:
            super()._post_teardown()
        finally:
            messages = capture.stop()
        aliases = self._databases_names(include_mirrors=False)
        log = "\nFlush log:\n  " + ("\n  ".join(messages) or "(nothing)")
        check_aliases_are_clean(aliases, log)
        if messages or self.expected_flush is not None:
            self.check_flush_log(messages, aliases, log)

    def check_flush_log(self, messages, aliases, log):
        by_alias = {}
        for message in messages:
            match = FLUSH_MESSAGE.fullmatch(message)
            if match is None:
                raise AssertionError(f"Unexpected message on {FLUSH_LOGGER}: {message!r}{log}")
            if match["alias"] in by_alias:
                raise AssertionError(f"Two flush messages for alias {match['alias']!r}{log}")
            if match["tables"] is not None:
                tables = match["tables"].split(", ")
                if tables != sorted(set(tables)):
                    raise AssertionError(f"Flushed tables are not sorted and unique: {message!r}{log}")
            by_alias[match["alias"]] = message
        unknown = set(self.expected_flush or ()) - set(aliases)
        if unknown:
            raise AssertionError(f"expect_flush() names aliases the class does not flush: {sorted(unknown)}")
        if sorted(by_alias) != sorted(aliases):
            raise AssertionError(f"Expected one flush message for each of {sorted(aliases)}{log}")
        if self.expected_flush is None:
            return
        for alias in aliases:
            expected = self.expected_flush.get(alias, SKIPPED)
            if expected == SKIPPED:
                matched = by_alias[alias] == f"flush {alias}: skipped (nothing written)"
            elif expected == EVERY_TABLE:
                matched = re.fullmatch(rf"flush {re.escape(alias)}: every table \(.+\)", by_alias[alias])
            else:
                matched = by_alias[alias] == f"flush {alias}: tables {', '.join(sorted(expected))}"
            if not matched:
                raise AssertionError(f"Expected the teardown to flush {expected!r} on {alias!r}{log}")


class NothingSurvivesTheClassMixin:
    """Check, after a TestCase class, that nothing it wrote on any alias survived its rollback."""

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        check_aliases_are_clean(cls._databases_names(include_mirrors=False), f"\n(after {cls.__qualname__})")
