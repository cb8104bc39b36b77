"""
Flush, after a ``TransactionTestCase`` test, only the tables that were written.

Stock Django (``TransactionTestCase._fixture_teardown``) runs the ``flush``
command on every database the class may use: every table is truncated,
though a test usually writes two or three. Here each alias's flush covers
the tables recorded as written since that alias's last flush
(``tracking.py``), or every table when that cannot be told, and an alias
nothing wrote is not touched at all. Everything else is the ``flush``
command's: the same SQL (``connection.ops.sql_flush``, sequences are not
reset, as in stock), the same ``post_migrate`` signal afterwards, the same
tables (the models' tables on that alias, restricted by
``available_apps``).

The state a flush leaves is taken as the clean state: the rows the
``post_migrate`` handlers then create (content types, permissions) are
what stock Django leaves after a flush too, so they are not recorded.
"""

from __future__ import annotations

import functools
import logging
import threading
from importlib import import_module
from typing import Any

from django.apps import apps
from django.core.management.color import no_style
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .side_effects import DatabaseFacts
from .tracking import AliasWrites, WriteTracker

logger = logging.getLogger("multidb_runner.flush")


def tables_to_flush(
    connection: BaseDatabaseWrapper,
    writes: AliasWrites,
    facts: DatabaseFacts,
    flushable: set[str],
    baseline: set[str] | None = None,
) -> tuple[set[str], str | None]:
    """
    Return the tables to flush among ``flushable``, and why all of them, if so.

    ``flushable`` are the tables stock Django would flush. A written name
    that is not a table of this database (a view, another schema, a table
    the test created) or a table with triggers, rules or cascading foreign
    keys, or a call of a function that may write, means every table.

    ``baseline`` are the tables that hold rows although nothing wrote them
    since the last flush (what post_migrate fills; None: unknown, any). Those
    among them that refer to a flushed table are flushed too, as stock
    Django's flush of every table would: otherwise their rows would point
    at deleted ones.
    """
    if writes.whole is not None:
        return set(flushable), writes.whole
    if not facts.understood:
        return set(flushable), f"the {connection.vendor} backend is not understood"
    written: set[str] = set()
    for name in sorted(writes.tables, key=str):
        resolved = facts.resolve(name)
        if resolved is None:
            return set(flushable), f"{name} is not a table of this database"
        for table in resolved:
            why = facts.side_effect_of(table)
            if why is not None:
                return set(flushable), f"{table} has {why}"
        written.update(resolved)
    called = sorted(writes.calls & facts.writing_functions)
    if called:
        return set(flushable), f"{called[0]}() may write"
    tables = written & flushable
    pending = list(tables)
    while pending:
        for table in facts.referencing(pending.pop()):
            if table in flushable and table not in tables and (baseline is None or table in baseline):
                tables.add(table)
                pending.append(table)
    return tables, None


def flushable_tables(tracker: WriteTracker, connection: BaseDatabaseWrapper, facts: DatabaseFacts) -> set[str]:
    """
    Return the tables the ``flush`` command would empty on ``connection``.

    Adapted from ``django.core.management.sql.sql_flush``, with the
    database's tables read once instead of at every flush, and the answer
    kept until the schema or the installed apps (``available_apps``) change.
    """
    key = (connection.alias, id(facts), tuple(apps.app_configs))
    if key not in tracker.flushable:
        introspection = connection.introspection
        names = introspection.django_table_names(only_existing=False, include_views=False)
        tracker.flushable[key] = {name for name in names if introspection.identifier_converter(name) in facts.tables}
    return tracker.flushable[key]


def baseline_tables(tracker: WriteTracker, alias: str, facts: DatabaseFacts) -> set[str] | None:
    """Return the tables post_migrate filled after flushes of ``alias``, or None if that is unknown."""
    if alias in tracker.baseline_unknown:
        return None
    tables: set[str] = set()
    for name in tracker.baseline.get(alias, ()):
        resolved = facts.resolve(name)
        if resolved is None:
            return None
        tables.update(resolved)
    return tables


def flush_alias(
    tracker: WriteTracker, alias: str, *, allow_cascade: bool, inhibit_post_migrate: bool
) -> set[str] | None:
    """
    Flush what was written on ``alias`` since its last flush; return the tables flushed.

    Return None when nothing was written, so nothing was done.
    """
    # From the first flush on, writes are recorded (before it, only the
    # aliases that may hold a lasting write were noted: each counts as written).
    tracker.recording = True
    writes = tracker.writes_of(alias)
    if writes.is_clean():
        logger.debug("flush %s: skipped (nothing written)", alias)
        return None
    connection = connections[alias]
    facts = tracker.facts_of(connection)
    flushable = flushable_tables(tracker, connection, facts)
    baseline = baseline_tables(tracker, alias, facts)
    tables, everything = tables_to_flush(connection, writes, facts, flushable, baseline)
    if everything is not None:
        logger.debug("flush %s: every table (%s)", alias, everything)
    elif tables:
        logger.debug("flush %s: tables %s", alias, ", ".join(sorted(tables)))
    else:
        logger.debug("flush %s: skipped (no table the flush command empties was written)", alias)
    sql_list = connection.ops.sql_flush(
        no_style(),
        sorted(tables),
        reset_sequences=False,
        # A part of the tables: PostgreSQL refuses to TRUNCATE a table others
        # refer to unless they go too (they are empty, or were added above).
        allow_cascade=allow_cascade or (everything is None and connection.vendor == "postgresql"),
    )
    with tracker.pause():
        connection.ops.execute_sql_flush(sql_list)
    if sql_list and not inhibit_post_migrate:
        import_management_modules()
        with tracker.recording_baseline():
            emit_post_migrate_signal(0, False, alias)
    forget_flushed(writes, facts, tables, everything, restricted=allow_cascade)
    return tables


def forget_flushed(
    writes: AliasWrites, facts: DatabaseFacts, tables: set[str], everything: str | None, restricted: bool
) -> None:
    """
    Keep only the writes the flush did not cover.

    A table outside ``available_apps`` was not flushed, and stock Django's
    next full flush would empty it: it stays recorded. So does "everything"
    after a flush restricted to ``available_apps``.
    """
    if everything is not None and restricted:
        return
    writes.whole = None
    writes.calls.clear()
    writes.schema_changed = False
    if everything is not None or not restricted:
        # A written table the full flush does not empty (sqlite_sequence,
        # django_migrations) is not emptied by stock Django either.
        writes.tables.clear()
        return
    writes.tables = {name for name in writes.tables if not (facts.resolve(name) or set()) <= tables}


@functools.cache
def import_management_modules() -> None:
    """
    Import each app's ``management`` module, as the ``flush`` command does.

    Some apps connect their ``post_migrate`` handlers there. Cached: once
    per process imports them all, and each flush needs not look again.
    """
    for app_config in apps.get_app_configs():
        try:
            import_module(".management", app_config.name)
        except ImportError:
            pass


class SelectiveFlush:
    """
    Make ``TransactionTestCase`` flush only what was written: the replacements.

    Stock ``_fixture_teardown`` still runs, and still calls
    ``call_command("flush", ...)`` once per alias (code that hooks or mocks
    that call sees it as under stock Django); while it runs, the ``flush``
    command flushes selectively. A ``flush`` a test runs itself is whole.
    """

    def __init__(self, tracker: WriteTracker) -> None:
        self.tracker = tracker
        self.local = threading.local()
        #: The aliases whose tables a flush emptied in this process (``--keepdb``: their rows changed).
        self.flushed: set[str] = set()

    def fixture_teardown(self, original: Any) -> Any:
        """Return ``TransactionTestCase._fixture_teardown`` marking its flushes as the test's end."""
        selective = self

        def _fixture_teardown(test: Any) -> None:
            selective.local.flushing = True
            try:
                original(test)
            finally:
                selective.local.flushing = False

        return _fixture_teardown

    def flush_handle(self, original: Any) -> Any:
        """Return the ``flush`` command's ``handle``, selective at the end of a test."""
        selective = self

        def handle(command: Any, **options: Any) -> None:
            ours = getattr(selective.local, "flushing", False)
            if not ours or options.get("interactive") or options.get("reset_sequences", True):
                selective.flushed.add(options["database"])
                return original(command, **options)  # type: ignore[no-any-return]
            tables = flush_alias(
                selective.tracker,
                options["database"],
                allow_cascade=options.get("allow_cascade", False),
                inhibit_post_migrate=options.get("inhibit_post_migrate", False),
            )
            if tables:
                selective.flushed.add(options["database"])
            return None

        return handle

    def noting_flushes(self, original: Any) -> Any:
        """Return the ``flush`` command's ``handle``, noting the alias it empties (selective flush off)."""
        flushed = self.flushed

        def handle(command: Any, **options: Any) -> None:
            flushed.add(options.get("database", "default"))
            return original(command, **options)  # type: ignore[no-any-return]

        return handle
