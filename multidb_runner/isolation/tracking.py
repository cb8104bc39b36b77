"""
Record, per alias, what may have been written since that alias was last flushed.

Every statement that goes through a Django cursor is seen by the cursor
wrapper, in every thread: the connections that exist when the run starts
and, through the ``connection_created`` signal, every connection opened
later (a live server's thread, a thread a test starts) make their cursors
with the tracker's wrapper classes. Django's ``connection.execute_wrappers``
is left to the project: code that reads or resets that list sees only its
own wrappers, as under stock Django. Driver methods that run SQL without
``execute`` (psycopg's ``cursor.copy()``, sqlite3's ``executescript()``,
``callproc()``) are caught on the cursor and count as a write to every
table of the alias.

Recording starts with the process's first flush, and is then continuous,
not per test: what a ``TestCase`` wrote and rolled back costs at most one
needless flush of those tables, while a write made outside any test
(``setUpClass``, a thread that outlived its test) is still flushed by the
next ``TransactionTestCase``. Before it, only which aliases a statement
may have left a lasting write on is noted: a statement outside a
``TestCase``'s transactions (which roll back whatever ran inside them)
that may write. Such an alias counts as written entirely at its first
flush (what it held before is not known table by table); an alias no such
statement reached holds what its set-up gave it, and its first flush
leaves it alone, as any flush of an alias nothing wrote. A suite made of
``TestCase`` classes pays an attribute check per statement.

Statements the driver receives from the driver's own objects
(``connection.connection``, ``cursor.cursor``) bypass Django and are not
seen, like writes made by another process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

from .mirrors import primary_of
from .read_only import DatabaseVerdict, MirrorGuard
from .side_effects import DatabaseFacts, read_facts
from .statements import TableName, classify

#: Cursor attributes that only read results or settings.
CURSOR_READ_ATTRIBUTES = frozenset(
    {
        "fetchone", "fetchmany", "fetchall", "nextset", "description", "rowcount", "lastrowid",
        "arraysize", "itersize", "rownumber", "close", "closed", "connection", "query", "params",
        "statusmessage", "pgresult", "mogrify", "name", "format", "row_factory", "scroll",
        "scrollable", "withhold", "setinputsizes", "setoutputsizes", "messages", "warning_count",
        "description_flags", "adapters", "results", "tzinfo_factory",
    }
)  # fmt: skip
#: Why an alias counts as written before anything was recorded.
FIRST_FLUSH = "first flush since the databases were set up"


def in_testcase_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Return whether ``connection`` is inside a ``TestCase``'s transaction: what runs there is rolled back."""
    blocks = connection.atomic_blocks
    return bool(blocks) and bool(getattr(blocks[0], "_from_testcase", False))


class AliasWrites:
    """What may have been written on one alias since its last flush."""

    __slots__ = ("calls", "schema_changed", "tables", "whole")

    def __init__(self, whole: str | None = FIRST_FLUSH) -> None:
        #: Why every table may have been written, or None.
        self.whole: str | None = whole
        #: Tables named by writing statements, as written.
        self.tables: set[TableName] = set()
        #: Functions called that may write (or any, before the facts are known).
        self.calls: set[str] = set()
        #: A statement may have changed tables, triggers or functions.
        self.schema_changed = False

    def is_clean(self) -> bool:
        return self.whole is None and not self.tables and not self.calls and not self.schema_changed


class WriteTracker:
    """The run's record of writes, and of which aliases each test class used."""

    def __init__(self, mirrors: Mapping[str, str] | None = None) -> None:
        #: mirror -> the primary it finally reads from (chains resolved).
        self.mirrors: Mapping[str, str] = dict(mirrors or {})
        self.writes: dict[str, AliasWrites] = {}
        self.facts: dict[str, DatabaseFacts] = {}
        #: Tables the post_migrate handlers fill after a flush (alias -> names),
        #: and the aliases where they did something the runner cannot read.
        self.baseline: dict[str, set[TableName]] = {}
        self.baseline_unknown: set[str] = set()
        #: (alias, facts, installed apps) -> the tables the flush command empties.
        self.flushable: dict[tuple[str, int, tuple[str, ...]], set[str]] = {}
        #: Called with an alias whenever a statement runs on it (the usage report).
        self.on_use: Callable[[str], None] | None = None
        #: Refuses writes sent through read-only mirrors' own connections (None: no check).
        self.mirror_guard: MirrorGuard | None = None
        #: Off until the first flush: before it, only ``written_before_recording`` is noted.
        self.recording = False
        #: The aliases a statement outside a TestCase's transactions may have written before recording started.
        self.written_before_recording: set[str] = set()
        #: The aliases such a statement may have written at any time: a kept database whose rows may have changed.
        self.lasting_writes: set[str] = set()
        self.local = threading.local()
        #: The cursor wrapper classes that report to this tracker.
        self.cursor_classes = (
            type("GuardedCursorWrapper", (CursorGuard, CursorWrapper), {"tracker": self}),
            type("GuardedCursorDebugWrapper", (CursorGuard, CursorDebugWrapper), {"tracker": self}),
        )

    # Recording -------------------------------------------------------------------

    def writes_of(self, alias: str) -> AliasWrites:
        """Return the record of ``alias``; one written before recording started counts as written entirely."""
        writes = self.writes.get(alias)
        if writes is None:
            first = FIRST_FLUSH if alias in self.written_before_recording else None
            writes = self.writes.setdefault(alias, AliasWrites(first))
        return writes

    def note_before_recording(self, connection: BaseDatabaseWrapper, sql: Any) -> None:
        """Note ``connection``'s alias as written if ``sql`` may leave a lasting write there."""
        alias = self.written_alias(connection)
        if alias in self.written_before_recording or in_testcase_transaction(connection):
            return
        if isinstance(sql, str):
            effect = classify(sql, connection.vendor)
            if not effect.writes and not effect.calls:
                return  # a read (a function it calls may write: the facts are not read yet)
        self.written_before_recording.add(alias)
        self.lasting_writes.add(alias)

    @property
    def paused(self) -> bool:
        return getattr(self.local, "paused", 0) > 0

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Do not record this thread's statements: the runner's own flushes and savepoints."""
        self.local.paused = getattr(self.local, "paused", 0) + 1
        try:
            yield
        finally:
            self.local.paused -= 1

    @contextmanager
    def recording_baseline(self) -> Iterator[None]:
        """Record this thread's writes as the clean state's rows (post_migrate after a flush), not as writes."""
        self.local.baseline = True
        try:
            yield
        finally:
            self.local.baseline = False

    def note_baseline(self, connection: BaseDatabaseWrapper, sql: Any) -> None:
        alias = self.written_alias(connection)
        effect = classify(sql, connection.vendor) if isinstance(sql, str) else None
        if effect is None or effect.whole is not None:
            self.baseline_unknown.add(alias)
        else:
            self.baseline.setdefault(alias, set()).update(effect.tables)

    def note_statement(self, connection: BaseDatabaseWrapper, sql: Any) -> None:
        """Record what ``sql``, about to run on ``connection``, may write."""
        if self.paused:
            return
        if getattr(self.local, "baseline", False):
            self.note_baseline(connection, sql)
            return
        if self.on_use is not None:
            self.on_use(connection.alias)
        if not self.recording:
            self.note_before_recording(connection, sql)
            return
        if not isinstance(sql, str):
            # psycopg's sql.Composed and the like: no text to read.
            self.note_everything(connection, f"a {type(sql).__name__} statement")
            return
        effect = classify(sql, connection.vendor)
        if not effect.writes and not effect.calls:
            return
        alias = self.written_alias(connection)
        if not in_testcase_transaction(connection):
            self.lasting_writes.add(alias)
        facts = self.facts.get(alias)
        if not effect.writes:
            # A read calling functions matters only if one may write. Before
            # the facts are read (first flush, or a schema change since), the
            # next flush empties every table anyway.
            if facts is not None and effect.calls & facts.writing_functions:
                self.writes_of(alias).calls.update(effect.calls & facts.writing_functions)
            return
        writes = self.writes_of(alias)
        if effect.whole is not None and writes.whole is None:
            writes.whole = effect.whole
        writes.tables.update(effect.tables)
        for name in effect.tables:
            if len(name.parts) > 1 and not self.is_own(alias, name):
                self.note_everywhere(f"{name} was written through '{alias}'")
        if effect.schema_change:
            writes.schema_changed = True
            self.facts.pop(alias, None)
        elif facts is not None:
            writes.calls.update(effect.calls & facts.writing_functions)

    def note_everything(self, connection: BaseDatabaseWrapper, why: str) -> None:
        """Record that every table of ``connection``'s alias may have been written."""
        if self.paused:
            return
        if getattr(self.local, "baseline", False):
            self.baseline_unknown.add(self.written_alias(connection))
            return
        if self.on_use is not None:
            self.on_use(connection.alias)
        if not in_testcase_transaction(connection):
            self.lasting_writes.add(self.written_alias(connection))
            if not self.recording:
                self.written_before_recording.add(self.written_alias(connection))
        if not self.recording:
            return
        writes = self.writes_of(self.written_alias(connection))
        if writes.whole is None:
            writes.whole = why

    def written_alias(self, connection: BaseDatabaseWrapper) -> str:
        """
        Return the alias whose database ``connection`` writes: a mirror's final primary.

        Outside the test thread a mirror has a connection of its own (to its
        primary's test database); its writes must be flushed with the
        primary, at the end of a chain of mirrors too.
        """
        return self.mirrors.get(connection.alias, connection.alias)

    def is_own(self, alias: str, name: TableName) -> bool:
        """Return True if the qualified ``name`` is known to be a table of ``alias``'s own database."""
        facts = self.facts.get(alias)
        return facts is not None and facts.resolve(name) is not None

    def note_everywhere(self, why: str) -> None:
        """
        Record that every alias's every table may have been written.

        A name qualified with another schema or database (SQLite's ATTACH,
        MySQL's ``other_db.table``) may be another alias's test database.
        """
        for alias in connections:
            writes = self.writes_of(alias)
            if writes.whole is None:
                writes.whole = why

    def facts_of(self, connection: BaseDatabaseWrapper) -> DatabaseFacts:
        """Return what ``connection``'s database can write by itself (read once, again after schema changes)."""
        facts = self.facts.get(connection.alias)
        if facts is None:
            with self.pause():
                facts = self.facts[connection.alias] = read_facts(connection)
        return facts

    def forget(self) -> None:
        """Start over: nothing recorded (a worker's fresh clones hold what the set-up gave them)."""
        self.recording = False
        self.written_before_recording.clear()
        self.lasting_writes.clear()
        self.writes.clear()
        self.facts.clear()
        self.baseline.clear()
        self.baseline_unknown.clear()
        self.flushable.clear()

    # Installing ------------------------------------------------------------------

    def install(self) -> None:
        """Watch every connection of this process, present and future."""
        connection_created.connect(self.watch_new_connection, dispatch_uid=self.dispatch_uid, weak=False)
        for connection in connections.all():
            self.watch(connection)

    def uninstall(self) -> None:
        connection_created.disconnect(dispatch_uid=self.dispatch_uid)
        for connection in connections.all():
            self.unwatch(connection)

    @property
    def dispatch_uid(self) -> str:
        return f"{WATCH_UID}.{id(self)}"

    def watch_new_connection(self, sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
        self.watch(connection)

    def watch(self, connection: BaseDatabaseWrapper) -> None:
        """Make ``connection``'s cursors report to this tracker (once)."""
        # A mirror's cursors are its primary's: guard the primary, so that
        # writes are recorded under the alias that gets flushed.
        connection = primary_of(connection)
        if "make_cursor" not in vars(connection) and not hasattr(connection.make_cursor, "multidb_guard"):
            plain, debug = self.cursor_classes
            connection.make_cursor = guarded(plain, connection, self)  # type: ignore[method-assign,assignment]
            connection.make_debug_cursor = guarded(debug, connection, self)  # type: ignore[method-assign,assignment]

    def unwatch(self, connection: BaseDatabaseWrapper) -> None:
        connection = primary_of(connection)
        if getattr(connection.make_cursor, "multidb_guard", None) is self:
            del connection.make_cursor
            del connection.make_debug_cursor


WATCH_UID = "multidb_runner.tracking"


class CursorGuard:
    """
    Report each statement to the tracker before it runs; count driver methods that bypass ``execute``.

    Mixed into Django's cursor wrappers, before them, so that the statement
    is noted before the project's own execute wrappers see it.
    """

    db: BaseDatabaseWrapper
    #: Set on the subclasses each tracker makes.
    tracker: WriteTracker

    def execute(self, sql: Any, params: Any = None) -> Any:
        verdict = self.note(sql)
        if verdict is None:
            return super().execute(sql, params)  # type: ignore[misc]
        return verdict(self, sql, partial(super().execute, sql, params))  # type: ignore[misc]

    def executemany(self, sql: Any, param_list: Any) -> Any:
        verdict = self.note(sql)
        if verdict is None:
            return super().executemany(sql, param_list)  # type: ignore[misc]
        return verdict(self, sql, partial(super().executemany, sql, param_list))  # type: ignore[misc]

    def note(self, sql: Any) -> DatabaseVerdict | None:
        """Record the statement; return how the database judges it, on a read-only mirror's own connection."""
        tracker = self.tracker
        verdict = None
        if tracker.mirror_guard is not None:
            # A mirror's own connection (outside the test thread): refuse writes first.
            tracker.mirror_guard.check(self.db.alias, self.db.vendor, sql)
            verdict = tracker.mirror_guard.verdict(self.db.alias, self.db.vendor)
        tracker.note_statement(self.db, sql)
        return verdict

    def __getattr__(self, attr: str) -> Any:
        if attr not in CURSOR_READ_ATTRIBUTES and not attr.startswith("_"):
            self.tracker.note_everything(self.db, f"cursor.{attr}()")
        return super().__getattr__(attr)  # type: ignore[misc]

    def callproc(self, procname: str, params: Any = None, kparams: Any = None) -> Any:
        self.tracker.note_everything(self.db, f"cursor.callproc({procname!r})")
        return super().callproc(procname, params, kparams)  # type: ignore[misc]


def guarded(
    wrapper_class: type[CursorWrapper], connection: BaseDatabaseWrapper, tracker: WriteTracker
) -> Callable[[Any], CursorWrapper]:
    """Return a ``make_cursor`` for ``connection`` that wraps cursors in ``wrapper_class``."""
    make = partial(wrapper_class, db=connection)
    make.multidb_guard = tracker  # type: ignore[attr-defined]
    return make
