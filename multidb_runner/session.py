"""
One multi-database test run, whatever drives it: ``manage.py test`` or pytest.

``MultiDBSession`` is the run's core, independent of unittest and pytest:
it reads the configuration, gives test classes their aliases, plans and
sets up the test databases (before the tests, and on first use), installs
the isolation layer, and tears down what its set-up returned. Its two front
ends are thin adapters: ``MultiDBRunner`` (Django's ``DiscoverRunner``,
whose overridable steps call it) and the pytest plugin (whose hooks and
``django_db_setup`` fixture call it), as ``DiscoverRunner.setup_databases()``
and pytest-django both delegate to ``django.test.utils.setup_databases()``.

Every change the run makes to Django goes on one ``ChangeStack``
(``changes.py``): the set-up's in a segment its teardown closes, the rest
when the run ends (``close()``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import SimpleTestCase, TestCase, TransactionTestCase
from django.test.utils import NullTimeKeeper  # type: ignore[attr-defined]

from .changes import ChangeStack, Segment
from .config import RunnerConfig, build_config
from .errors import sentence
from .injection import DatabasesInjector, InjectedDatabases, SkipDecoratorsForAllAliases, class_key
from .interrupts import StopSignals
from .isolation.layer import IsolationLayer, IsolationOptions
from .isolation.mirrors import MirrorSharing
from .output import RunOutput
from .planning.aliases import resolve_mirrors, select_aliases, usable_aliases, with_primaries
from .planning.plan import FIRST_USE_FAILED, FIRST_USE_INTERRUPTED, SERVER_UNREACHABLE, DatabasePlan
from .reports.usage_report import ClassDatabases
from .setup import legacy, reachability
from .setup.clones import WorkerClones, remove_stale_clones
from .setup.copies import SchemaCopies
from .setup.databases import (
    OldConfig,
    SerializedContentsReloadedInPlace,
    create_test_databases,
    create_test_db,
    destroy_test_databases,
    restore_real_name,
    serialize_test_databases,
    use_kept_test_db,
)
from .setup.lazy import LazyTestDatabases, RunStartState, run_database_checks, unobserved_by_test
from .setup.locks import ClaimLost, TestDatabaseLocks
from .setup.safety import RealDatabases, check_plan_is_safe, real_databases_now
from .setup.schema_groups import SchemaFacts, project_migrate_receivers, schema_groups
from .setup.servers import SERVER_CONNECTIONS
from .setup.snapshots import SNAPSHOT_VENDORS, SchemaKeys, Snapshots, remove_snapshot
from .setup.test_names import (
    NamesPointedAhead,
    name_test_databases,
    plan_test_databases,
    restore_test_names,
    test_database_name,
)

Log = Callable[..., None]

if TYPE_CHECKING:
    from .parallel.worker import WorkerState


@dataclass
class RunParameters:
    """What the front end decides for a set-up: Django's runner arguments, or pytest-django's options."""

    verbosity: int = 1
    interactive: bool = False
    #: Worker processes (1: a serial run, or one pytest-xdist worker's own session).
    parallel: int = 1
    keepdb: bool = False
    #: With ``keepdb``: rebuild the kept databases whatever their state (pytest-django's ``--create-db``).
    recreate: bool = False
    debug_sql: bool = False
    time_keeper: Any = field(default_factory=NullTimeKeeper)


@dataclass
class Injection:
    """What the run gave the test classes, read before it changed them."""

    injector: DatabasesInjector
    #: class_key -> what each database test class declared and was given (the usage report).
    class_databases: dict[str, ClassDatabases]
    #: The aliases stock Django would set up for the suite (with their primaries): set up before the tests.
    stock_aliases: frozenset[str]


@dataclass
class SetUp:
    """What a set-up made, for its teardown: the plan, the test databases, the clones, the segment to close."""

    parameters: RunParameters
    plan: DatabasePlan
    real_databases: RealDatabases
    #: The run's test databases (Django's ``old_config``); set-up on first use adds to it.
    old_config: OldConfig
    #: Which aliases' test databases are serialized (None: all of them, as Django's default).
    serialized_aliases: Collection[str] | None
    segment: Segment
    clones: WorkerClones | None = None
    #: The templates of same-schema test databases, and the copies made from them.
    copies: SchemaCopies | None = None
    #: Snapshots used and taken, and the kept test databases of a ``--keepdb`` run, checked before use.
    snapshots: Snapshots | None = None
    #: First aliases whose kept database was used without migrating (``use_kept_test_db``).
    not_migrated: set[str] = field(default_factory=set)
    #: After the tests: worker number -> the first aliases whose clone it wrote to (None: unknown).
    clone_writes: dict[int, set[str]] | None = None
    legacy_models: dict[str, list[legacy.ModelType]] = field(default_factory=dict)
    isolation: IsolationLayer | None = None
    lazy_setup: LazyTestDatabases | None = None
    run_start: RunStartState | None = None
    #: What decides each alias's migrated schema, read once (``schema_facts()``).
    schema_facts: SchemaFacts | None = None
    #: First alias -> its server, for the databases to set up on first use on a server that cannot be reached.
    unreachable_servers: dict[str, reachability.UnreachableServer] = field(default_factory=dict)

    def serializes(self, aliases: Sequence[str]) -> bool:
        """Return whether the test database read through ``aliases`` is serialized (``serialized_rollback``)."""
        return self.serialized_aliases is None or any(alias in self.serialized_aliases for alias in aliases)


class MultiDBSession:
    """
    One run: configuration, injection, set-up, isolation, teardown, restore.

    Made when the run starts (test modules may be imported from then on,
    so the skip decorators are fixed at once), configured by
    ``configure()``; ``close()`` undoes everything it changed.
    """

    def __init__(self, options: Mapping[str, Any], *, log: Log) -> None:
        """``options``: one value per ``options.OPTIONS`` dest (None leaves it to the setting); ``log(msg, level)``."""
        self.options = dict(options)
        self.log = log
        self.changes = ChangeStack()
        self.signals = StopSignals()
        self.output = RunOutput()
        self.locks = TestDatabaseLocks()
        self.names_ahead = NamesPointedAhead()
        self.mirror_sharing = MirrorSharing()
        self.managed_flip = legacy.ManagedFlip()
        self.legacy_router: legacy.LegacyTablesRouter | None = None
        self.mirrors: dict[str, str] = {}
        self.loaded_config: RunnerConfig | None = None
        self.injection: Injection | None = None
        self.setup: SetUp | None = None
        self.changes.apply(SkipDecoratorsForAllAliases())
        self.changes.apply(SerializedContentsReloadedInPlace())

    # Configuration -------------------------------------------------------

    @property
    def config(self) -> RunnerConfig:
        if self.loaded_config is None:
            raise RuntimeError("MultiDBSession.configure() was not called.")
        return self.loaded_config

    @property
    def configured(self) -> bool:
        return self.loaded_config is not None

    def configure(self, *, parallel: int = 1) -> RunnerConfig:
        """
        Read and check settings and options; report mistakes before any setup.

        Checks the ``MULTIDB_RUNNER`` setting, the ``--databases`` selection
        and every ``TEST['MIRROR']``; sets the start method of a parallel run.
        """
        config = build_config(**self.options)
        select_aliases(config.database_patterns, connections, config.database_source)
        self.mirrors = resolve_mirrors(
            {alias: connections[alias].settings_dict["TEST"].get("MIRROR") for alias in connections}
        )
        self.loaded_config = config
        if config.start_method is not None and parallel > 1:
            saved = multiprocessing.get_start_method(allow_none=True)
            multiprocessing.set_start_method(config.start_method, force=True)
            if saved is not None:
                self.changes.callback(multiprocessing.set_start_method, saved, force=True)
        return config

    def install_signal_handlers(self) -> None:
        """Handle the stop signals from now on, until the run ends."""
        self.signals.install()
        self.changes.callback(self.signals.restore)

    # Injection -----------------------------------------------------------

    def inject(self, classes: Sequence[type[SimpleTestCase]]) -> Injection:
        """Give every test class of ``classes`` the aliases it may use; return what was given."""
        config = self.config
        source = None
        if config.database_patterns is None:
            injected = usable_aliases(connections.settings)
        else:
            injected = select_aliases(config.database_patterns, connections, config.database_source)
            source = config.database_source
        injector = DatabasesInjector(injected, usable_aliases(connections.settings), self.mirrors, source)
        # What each class declared itself, and what stock Django would set
        # up for it, read before injection changes it.
        declared = {cls: injector.declared(cls) for cls in classes}
        stock_aliases = frozenset(
            with_primaries(frozenset().union(*(injector.stock_databases(cls) for cls in classes)), self.mirrors)
        )
        declared = {cls: aliases for cls, aliases in declared.items() if issubclass(cls, TransactionTestCase)}
        injector.inject(classes)
        self.changes.callback(injector.restore)
        self.injection = Injection(
            injector=injector,
            class_databases={
                class_key(cls): ClassDatabases(declared=declaration, given=frozenset(cls.databases))
                for cls, declaration in declared.items()
                if not isinstance(cls.databases, str)
            },
            stock_aliases=stock_aliases,
        )
        return self.injection

    def add_stock_aliases(self, aliases: Iterable[str]) -> None:
        """Count ``aliases`` as set up by stock too (pytest-django's marks ask for them): set up before the tests."""
        if self.injection is not None:
            self.injection.stock_aliases |= with_primaries(aliases, self.mirrors)

    # Set-up ----------------------------------------------------------------

    def set_up(
        self, aliases: Iterable[str], serialized_aliases: Collection[str] | None, parameters: RunParameters
    ) -> SetUp:
        """
        Set up the test databases the tests need before they start; leave the others to their first use.

        What stock Django would set up is set up now. In a serial run, a
        database only the runner's injection gives a test is set up when a
        test first uses it (``setup/lazy.py``), the settings of its aliases
        naming it from now on; in a parallel run every database is set up
        now, before the workers start, so that they never race to create one.
        Everything made here is undone by ``teardown()`` (or by this method,
        if the set-up fails).
        """
        self.signals.check()
        real_databases = real_databases_now()
        segment = self.changes.open_segment()
        # One connection per server for the set-up's catalog statements, closed with the segment.
        self.changes.enter(SERVER_CONNECTIONS.keep())
        saved_test_names = name_test_databases(self.mirrors, self.config.db_suffix)
        self.changes.callback(restore_test_names, saved_test_names)
        plan = plan_test_databases(list(aliases), self.mirrors, keepdb=parameters.keepdb)
        setup = self.setup = SetUp(
            parameters=parameters,
            plan=plan,
            real_databases=real_databases,
            old_config=[],
            serialized_aliases=serialized_aliases,
            segment=segment,
        )
        try:
            plan.on_first_use = self.databases_set_up_on_first_use(plan, parameters)
            self.check_servers(setup)
            check_plan_is_safe(plan.primaries, parameters.parallel, real_databases)
            self.changes.callback(self.locks.release)
            self.changes.callback(self.names_ahead.restore)
            self.lock_test_databases(plan.eager_creations)
            setup.legacy_models = self.setup_legacy_models(plan)
            setup.snapshots = self.plan_snapshots(setup)
            if parameters.keepdb:
                # Once the kept databases are let go: clean unless the run changed their rows.
                self.changes.callback(self.finish_kept_databases, setup)
            self.changes.callback(self.destroy_test_databases, setup)
            setup.copies = self.plan_schema_copies(setup)
            if setup.copies is not None:
                self.changes.callback(setup.copies.destroy)
            if parameters.parallel > 1:
                setup.clones = WorkerClones(
                    workers=parameters.parallel,
                    start_method=multiprocessing.get_start_method(),
                    verbosity=parameters.verbosity,
                    keepdb=parameters.keepdb,
                    real_databases=real_databases,
                    reusable=setup.snapshots.clone_reusable
                    if parameters.keepdb and setup.snapshots is not None
                    else None,
                )
                self.changes.callback(setup.clones.destroy)
            self.changes.callback(self.leave_lost_databases, setup)
            self.create_databases(setup, plan.eager_creations, verbosity=parameters.verbosity)
            for first, sharing in plan.creations:
                if first in plan.on_first_use:
                    self.names_ahead.point(sharing)
            # A mirror of a database set up on first use is served by its
            # primary's connection, and set up when first used through either.
            self.mirror_sharing.install(plan.mirrors)
            self.changes.callback(self.mirror_sharing.restore)
            serialize_test_databases(first for first, sharing in plan.eager_creations if setup.serializes(sharing))
            if parameters.debug_sql:
                for alias in connections:
                    connections[alias].force_debug_cursor = True
            self.signals.check()
        except BaseException:
            self.undo_setup(setup)
            raise
        self.install_isolation(setup)
        return setup

    def databases_set_up_on_first_use(self, plan: DatabasePlan, parameters: RunParameters) -> set[str]:
        """
        Return the first aliases of the databases to set up when a test first uses them.

        Those stock Django would not set up (no selected class uses them as
        written: a class keeping the default ``databases`` means
        ``default``), in a serial run with lazy set-up on. What stock sets up
        is set up before the tests, with stock's output.
        """
        if not self.config.lazy_setup or parameters.parallel > 1:
            return set()
        stock_aliases = self.injection.stock_aliases if self.injection is not None else frozenset()
        stock = {plan.database_of(alias) for alias in stock_aliases}
        return {first for first in plan.primaries if first not in stock}

    def check_servers(self, setup: SetUp) -> None:
        """
        Check that every test database of the plan has a server to connect to, before anything is created.

        A server that cannot be connected to stops the run with one message
        if a database to set up before the tests is on it. A database to set
        up on first use (which stock Django would not set up) gets a warning
        instead, and only the tests that use it fail (``setup/reachability.py``).
        """
        plan = setup.plan
        unreachable = reachability.unreachable_servers(plan.primaries)
        eager = {first: server for first, server in unreachable.items() if first not in plan.on_first_use}
        if eager:
            raise reachability.cannot_connect_error(eager)
        for line in reachability.first_use_warnings(unreachable):
            self.log(line, level=logging.WARNING)
        for first in unreachable:
            plan.first_use_failures[first] = SERVER_UNREACHABLE
        setup.unreachable_servers = unreachable

    def setup_legacy_models(self, plan: DatabasePlan) -> dict[str, list[legacy.ModelType]]:
        """Treat legacy models as managed and route them (unless --no-managed-legacy); return them by database."""
        if not self.config.managed_legacy:
            return {}
        by_database, self.legacy_router = legacy.route_legacy_models(plan.creations, plan.mirrors, self.managed_flip)
        self.changes.callback(self.managed_flip.restore)
        self.changes.record(legacy.ManagedModels.of(self.managed_flip.flipped))
        if self.legacy_router is not None:
            self.changes.apply(legacy.LegacyRoutes(frozenset(self.legacy_router.allowed)))
        return by_database

    def schema_facts(self, setup: SetUp) -> SchemaFacts:
        """Return what decides each alias's migrated schema (migrations, routers' answers), read once per set-up."""
        if setup.schema_facts is None:
            setup.schema_facts = SchemaFacts(frozenset(connections))
        return setup.schema_facts

    def plan_schema_copies(self, setup: SetUp) -> SchemaCopies | None:
        """
        Return the test databases to make as copies of one of the same schema (``setup/schema_groups.py``).

        None with ``--no-schema-copies``. With ``--keepdb``, only the kept
        databases made afresh (rebuilt) take part. Read with legacy models
        unmanaged, as ``migrate`` sees them.
        """
        if not self.config.schema_copies:
            return None
        with self.managed_flip.suspended():
            groups = schema_groups([first for first, _ in setup.plan.creations], partial(self.schema_facts, setup))
        if not groups:
            return None
        # The plan shows which test databases were copied.
        return SchemaCopies(
            groups,
            real_databases=setup.real_databases,
            copied=setup.plan.copied_from,
            afresh=setup.snapshots.afresh if setup.parameters.keepdb and setup.snapshots is not None else None,
        )

    def create_databases(self, setup: SetUp, creations: list[tuple[str, list[str]]], *, verbosity: int) -> None:
        """Create and prepare the test databases of ``creations``, recording them in the set-up's ``old_config``."""
        parameters = setup.parameters
        with self.managed_flip.suspended():
            create_test_databases(
                creations,
                into=setup.old_config,
                verbosity=verbosity,
                interactive=parameters.interactive,
                keepdb=parameters.keepdb,
                time_keeper=parameters.time_keeper,
                prepare_database=lambda alias: self.prepare_database(setup, alias),
                create=partial(self.create_test_database, setup),
            )

    def create_test_database(
        self, setup: SetUp, connection: BaseDatabaseWrapper, *, verbosity: int, interactive: bool, keepdb: bool
    ) -> None:
        """
        Make one test database: Django's ``create_test_db()``, or a copy of one of the same schema.

        With ``--keepdb``, a kept database that is no longer what a migrate
        gives is restored from its snapshot or dropped first, so that it is
        made afresh, and then snapshotted (``setup/snapshots.py``); without it,
        what was kept of the test database goes.
        """
        snapshots = setup.snapshots
        create: Callable[..., None] = create_test_db
        if self.config.snapshots is False or (not keepdb and snapshots is None):
            # No snapshot for this run: a run without --keepdb replaces the
            # test database, and what was kept of it goes too.
            remove_snapshot(connection, setup.real_databases, verbosity=verbosity)
        if keepdb and snapshots is not None:
            snapshots.prepare(connection, verbosity=verbosity, recreate=setup.parameters.recreate)
            if connection.alias in snapshots.verified and not project_migrate_receivers():
                # What a migrate gives is there already: it would apply nothing.
                create = use_kept_test_db
                setup.not_migrated.add(connection.alias)
        elif snapshots is not None:
            create = partial(snapshots.create_fresh, create=create_test_db)
        if setup.copies is not None:
            setup.copies.create(connection, create, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
        else:
            create(connection, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
        if keepdb and snapshots is not None:
            snapshots.after_create(connection)

    def plan_snapshots(self, setup: SetUp) -> Snapshots | None:
        """
        Return the run's snapshots (``setup/snapshots.py``), or None when it uses none.

        ``SNAPSHOTS = None`` (the default): a ``--keepdb`` run checks its kept
        databases and snapshots them; a fresh run migrates, as stock Django
        does (every migration runs, with its output and whatever it does
        outside the database: what a CI job checks). ``True``: fresh runs
        too, on PostgreSQL, SQLite, MySQL and MariaDB. ``False``: none (and they are removed).
        """
        policy = self.config.snapshots
        keepdb = setup.parameters.keepdb
        fresh = SNAPSHOT_VENDORS if policy is True else frozenset()
        if not keepdb and not fresh:
            return None
        return Snapshots(
            SchemaKeys(setup.legacy_models, partial(self.schema_facts, setup)),
            setup.real_databases,
            rebuilt=setup.plan.rebuilt,
            for_kept=policy is not False,
            fresh_vendors=fresh,
        )

    def finish_kept_databases(self, setup: SetUp) -> None:
        """
        Mark clean the kept databases whose rows the run did not change; the others stay marked changed.

        Changed: flushed, or written by a statement outside a ``TestCase``'s
        transactions (whose writes are rolled back).

        A run stopped by a signal, or whose isolation layer never started,
        leaves them all marked changed: the next run rebuilds them.
        """
        if setup.snapshots is None or self.signals.interrupted or setup.isolation is None:
            return
        plan = setup.plan
        # Flushed, or written outside a TestCase's transactions (a thread's committed rows, say).
        written = setup.isolation.flush.flushed | setup.isolation.tracker.lasting_writes
        changed = {plan.database_of(alias) for alias in written}
        setup.snapshots.finish(first for first in changed if first is not None)
        setup.snapshots.finish_clones(setup.clone_writes)

    def note_clone_writes(self, written: dict[int, set[str]] | None) -> None:
        """
        Record, after the tests, what the workers wrote to their clones (worker number -> aliases; None: unknown).

        A run whose tests ran in this process (no parallel suite: one class)
        wrote to no clone: ``{}``.
        """
        setup = self.setup
        if setup is None:
            return
        if written is None:
            setup.clone_writes = None
            return
        plan = setup.plan
        setup.clone_writes = {
            number: {first for first in map(plan.database_of, aliases) if first is not None}
            for number, aliases in written.items()
        }

    def prepare_database(self, setup: SetUp, alias: str) -> None:
        """Make a freshly migrated test database ready: legacy tables, stale clones gone, clones made."""
        self.signals.check()
        if alias not in setup.not_migrated:
            # Migrations may have lasted long enough for a lock's connection to be cut.
            self.check_claims()
        legacy_models = setup.legacy_models
        if legacy_models.get(alias):
            # Managed while created: the schema editor gives unmanaged models no indexes.
            with self.managed_flip.resumed():
                tables = legacy.create_legacy_tables(connections[alias], legacy_models[alias])
            setup.plan.legacy_tables[alias] = tables
        parameters = setup.parameters
        if not parameters.interactive:
            # Like Django's own test database, leftovers are replaced
            # without asking only under --noinput.
            remove_stale_clones(
                connections[alias],
                parameters.parallel if setup.clones else 0,
                setup.real_databases,
                parameters.verbosity,
            )
        if setup.clones is not None:
            with parameters.time_keeper.timed(f"  Cloning '{alias}'"):
                setup.clones.clone(alias)
        self.signals.check()

    def lock_test_databases(self, creations: list[tuple[str, list[str]]]) -> None:
        """
        Lock the test databases of ``creations``, or refuse to run if a live run holds one.

        Refused too once the run has lost the claim on one of its test
        databases: the run that took it may be using the same names.
        """
        self.check_claims()
        for first, _ in creations:
            self.locks.acquire(first, connections[first], test_database_name(first))

    def check_claims(self) -> None:
        """
        Raise ClaimLost if the run lost the claim on one of its test databases and could not take it back.

        Called before each step that creates, clones or destroys: a lock
        that lived on a connection may have been released under the run
        (a cut connection, a server restart); it is taken again here.
        """
        lost = self.locks.check()
        if lost:
            raise lost[0]

    def install_isolation(self, setup: SetUp) -> None:
        """Start tracking writes, flushing selectively, opening transactions and setting up databases lazily."""
        plan = setup.plan
        lazy_setup = None
        if plan.on_first_use:
            setup.run_start = RunStartState()
            lazy_setup = LazyTestDatabases(
                {alias: first for first in plan.on_first_use for alias in plan.aliases_of(first)},
                self.set_up_on_first_use,
            )
            for first, server in setup.unreachable_servers.items():
                lazy_setup.refuse(first, reachability.first_use_refusal(server))
        setup.lazy_setup = lazy_setup
        setup.isolation = IsolationLayer(self.isolation_options(), self.mirrors, lazy_setup)
        setup.isolation.install()
        self.changes.callback(setup.isolation.remove)

    def isolation_options(self) -> IsolationOptions:
        config = self.config
        return IsolationOptions(
            selective_flush=config.selective_flush,
            lazy_transactions=config.lazy_transactions,
            report_usage=config.report_db_usage,
            read_only_mirrors=self.read_only_mirrors() if config.read_only_mirrors else frozenset(),
            note_flushes=self.setup is not None and self.setup.parameters.keepdb,
        )

    def read_only_mirrors(self) -> frozenset[str]:
        """Return the mirrors whose writes are refused: all but those with ``TEST['READ_ONLY'] = False``."""
        return frozenset(
            mirror
            for mirror in self.mirrors
            if connections[mirror].settings_dict["TEST"].get("READ_ONLY", True) is not False
        )

    def set_up_on_first_use(self, first: str) -> None:
        """
        Set up ``first``'s test database in the middle of the run, as it would have been before the tests.

        Locked, created (or kept), migrated and prepared like the others,
        with the run's own app registry and routers; its mirrors follow; it
        is serialized if a ``serialized_rollback`` class may use it; then
        Django's database checks run on it. Django's creation lines are
        printed from verbosity 2, not to break the line of dots at 1 (the
        plan says what happened).
        """
        setup = self.setup
        assert setup is not None and setup.run_start is not None and setup.isolation is not None
        plan = setup.plan
        sharing = dict(plan.creations)[first]
        self.signals.check()
        isolation = setup.isolation
        created = len(setup.old_config)
        verbosity = setup.parameters.verbosity
        with (
            setup.run_start.restored(),
            unobserved_by_test(sharing),
            isolation.transactions.deferred(),
            isolation.tracker.pause(),
        ):
            try:
                # Django creates it as before the tests, from the real settings.
                self.names_ahead.withdraw(sharing)
                self.lock_test_databases([(first, sharing)])
                self.create_databases(setup, [(first, sharing)], verbosity=verbosity if verbosity >= 2 else 0)
                for mirror, primary in plan.mirrors.items():
                    if primary in sharing:
                        # The run's thread serves the mirror through its primary's connection already.
                        self.mirror_sharing.point_settings(mirror, primary)
                if setup.serializes(sharing):
                    serialize_test_databases([first])
                run_database_checks(plan.aliases_of(first))
            except BaseException as exc:
                plan.first_use_failures[first] = (
                    FIRST_USE_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else FIRST_USE_FAILED
                )
                # Disconnected, so that every later use asks again, and is told
                # it failed; named after the test database, never the real one.
                for alias in sharing:
                    with contextlib.suppress(Exception):
                        connections[alias].close()
                self.names_ahead.point(sharing)
                raise
        if threading.get_ident() != setup.run_start.thread:
            setup.run_start.adopt(setup.old_config[created:])
        plan.set_up_on_first_use.add(first)

    def pending_on_first_use(self) -> Collection[str]:
        """Return the aliases whose test database waits for its first use."""
        lazy_setup = self.setup.lazy_setup if self.setup is not None else None
        return lazy_setup.pending if lazy_setup is not None else {}

    def not_set_up(self) -> set[str]:
        """Return the first aliases of the databases that waited for a first use that never came."""
        lazy_setup = self.setup.lazy_setup if self.setup is not None else None
        return lazy_setup.not_set_up() if lazy_setup is not None else set()

    def used_aliases(self) -> dict[str, set[str]]:
        """Return the aliases each test class used (the usage report)."""
        isolation = self.setup.isolation if self.setup is not None else None
        return isolation.usage.used if isolation is not None else {}

    # Parallel runs -----------------------------------------------------------

    def worker_state(self, suite: Any, *, debug_mode: bool, coverage: bool) -> WorkerState:
        """Describe, for the parallel workers, the run-wide changes to replay and the clones to use."""
        from .parallel.worker import ConnectionSettings, WorkerState

        setup = self.setup
        assert setup is not None
        injection = self.injection
        return WorkerState.collect(
            suite,
            setup.plan,
            debug_mode=debug_mode,
            snapshots=dict(setup.clones.snapshots) if setup.clones else {},
            changes=[
                *self.changes.replayable,
                ConnectionSettings.now(setup.plan),
                InjectedDatabases(
                    injection.injector.given() if injection else {},
                    injection.injector.messages() if injection else {},
                ),
            ],
            coverage=coverage,
            isolation=self.isolation_options(),
        )

    # Teardown ----------------------------------------------------------------

    def log_plan(self, setup: SetUp) -> None:
        """
        Say what became of each alias (verbosity 1 and up).

        Said once the tests are over, when it is known which databases
        were set up on first use. Not at verbosity 1 where nothing differs
        from stock Django: Django's own lines say it all.
        """
        verbosity = setup.parameters.verbosity
        if verbosity < 1:
            return
        if verbosity < 2 and not setup.plan.differs_from_stock(db_suffix=self.config.db_suffix):
            return
        self.log("Database plan:\n" + setup.plan.format())

    def teardown(self, setup: SetUp, *, before: Callable[[], None] | None = None) -> None:
        """
        Undo the set-up: isolation and mirrors, clones, then test databases, then unlock.

        Every step runs even if one fails, protected from signals and from
        an output whose reader is gone: the cleanup must complete. First
        ``before()`` (by default, the plan is said).
        """
        # From here on, to the end of the run, a signal must not cut the cleanup short.
        self.signals.protecting_cleanup = True
        # Written even if the output's reader is gone (``output.py``): the cleanup must complete.
        with self.output.never_failing():
            try:
                if before is not None:
                    before()
                else:
                    self.log_plan(setup)
                if self.signals.interrupted and setup.parameters.keepdb:
                    self.flush_interrupted_test(setup)
            finally:
                self.changes.close(setup.segment)

    def undo_setup(self, setup: SetUp) -> None:
        """
        Destroy what a failed or interrupted setup created, then unlock.

        Clones first, while every alias still points at its test database;
        a signal now only is remembered, so that the cleanup completes.
        """
        try:
            with self.signals.cleanup_protected(), self.output.never_failing():
                self.changes.close(setup.segment)
        except Exception as exc:
            # The setup's own error is what the user needs to see.
            self.log(f"The cleanup after the failed setup did not complete: {sentence(exc)}", level=40)

    def destroy_test_databases(self, setup: SetUp) -> None:
        """Destroy the test databases of the set-up (keep them with --keepdb); every alias gets its NAME back."""
        destroy_test_databases(
            setup.old_config,
            verbosity=setup.parameters.verbosity,
            keepdb=setup.parameters.keepdb,
            real_databases=setup.real_databases,
        )

    def leave_lost_databases(self, setup: SetUp) -> None:
        """
        Take the test databases whose claim the run lost out of the cleanup, then raise ClaimLost.

        Another run may be using them now: neither they nor their clones
        are destroyed, and their aliases get their real NAME back. The rest
        of the cleanup goes on (the error is raised once it is over).
        """
        lost = self.locks.check()
        if not lost:
            return
        claims = self.locks.lost()
        names = {claim.test_name for claim in claims}
        old_config = setup.old_config
        for entry in [entry for entry in old_config if entry.test_name in names]:
            restore_real_name(entry)
            old_config.remove(entry)
        if setup.clones is not None:
            for claim in claims:
                setup.clones.cloned.pop(claim.alias, None)
        raise ClaimLost("\n".join(str(error) for error in lost))

    def flush_interrupted_test(self, setup: SetUp) -> None:
        """
        Flush what an interrupted TransactionTestCase test wrote, so kept databases stay clean.

        The test never reached its own flush; with --keepdb its rows would
        stay in the kept database and trip the next run. Open transactions
        are rolled back first (a TestCase test needs nothing more). Parallel
        workers write only to their clones, which are never reused.
        """
        from .parallel.worker import reset_connections

        test, self.signals.interrupted_test = self.signals.interrupted_test, None
        reset_connections()
        if not isinstance(test, TransactionTestCase) or isinstance(test, TestCase):
            return
        if not any(entry.test_name is not None for entry in setup.old_config):
            return
        try:
            test._fixture_teardown()  # type: ignore[attr-defined]
        except Exception as exc:
            self.log(f"Could not flush what the interrupted test {test.id()} wrote: {sentence(exc)}", level=40)
        reset_connections()

    def close(self) -> None:
        """Undo every change the run made to Django: classes, models, routers, mirrors, signals."""
        self.changes.close()
