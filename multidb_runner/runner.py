"""MultiDBRunner: Django's DiscoverRunner for projects with several databases."""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import threading
import unittest
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from django.db import connections
from django.test import TestCase, TransactionTestCase
from django.test.runner import DiscoverRunner

from . import options
from .config import RunnerConfig, build_config
from .errors import sentence
from .interrupts import CurrentTestRecorder, StopSignals
from .isolation.layer import IsolationLayer, IsolationOptions
from .isolation.mirrors import MirrorSharing
from .output import RunOutput
from .parallel.suite import MultiDBParallelTestSuite
from .parallel.worker import WorkerState, reset_connections
from .planning.aliases import resolve_mirrors, select_aliases, usable_aliases, with_primaries
from .planning.injection import DatabasesInjector, all_aliases_skip_decorators, class_key, test_classes
from .planning.plan import FIRST_USE_FAILED, FIRST_USE_INTERRUPTED, SERVER_UNREACHABLE, DatabasePlan
from .planning.sharding import assign_shards, shard_key
from .reports import coverage_support
from .reports.durations import read_durations, write_durations
from .reports.results import RecordingResult, write_junit_xml
from .reports.usage import ClassDatabases, format_usage_report
from .setup import legacy, reachability
from .setup.clones import WorkerClones, remove_stale_clones
from .setup.databases import (
    OldConfig,
    create_test_databases,
    destroy_test_databases,
    restore_real_name,
    serialize_test_databases,
    serialized_contents_reloaded_in_place,
    test_database_name,
)
from .setup.lazy import LazyTestDatabases, RunStartState, run_database_checks, unobserved_by_test
from .setup.locks import ClaimLost, TestDatabaseLocks
from .setup.naming import NamesPointedAhead, name_test_databases, plan_test_databases, restore_test_names
from .setup.safety import RealDatabases, check_plan_is_safe, real_databases_now


class MultiDBRunner(DiscoverRunner):
    """
    Run a multi-database suite the way it is written.

    Test classes that keep Django's default ``databases`` may use every alias
    (or the ``--databases`` selection); mirrors read their primary's data;
    ``managed = False`` models get tables; a test database is never created
    over a real one; parallel workers each get their own clone of every
    database, whatever the start method.
    """

    parallel_test_suite = MultiDBParallelTestSuite

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """
        Take DiscoverRunner's arguments, and one keyword argument per option of ``options.OPTIONS``.

        ``databases``, ``managed_legacy``, ``worker_timeout``, ``start_method``,
        ``db_suffix``, ``shard``, ``durations_file``, ``junit_xml``,
        ``coverage``, ``selective_flush``, ``lazy_transactions``,
        ``report_db_usage`` and ``read_only_mirrors``: None (the default)
        leaves each to the setting.
        """
        # The runner's own options, checked against the setting when the run starts.
        self.options: dict[str, Any] = {option.dest: kwargs.pop(option.dest, None) for option in options.OPTIONS}
        super().__init__(*args, **kwargs)
        self.measurement: Any = None
        self.saved_test_names: dict[str, Any] = {}
        self.saved_start_method: str | None = None
        self.signals = StopSignals()
        self.output = RunOutput()
        #: The configured real databases, read before setup changes any NAME.
        self.real_databases: RealDatabases | None = None
        self.locks = TestDatabaseLocks()
        self.clones: WorkerClones | None = None
        self.legacy_router: legacy.LegacyTablesRouter | None = None
        self.config: RunnerConfig | None = None
        self.mirrors: dict[str, str] = {}
        self.plan: DatabasePlan | None = None
        self.injector: DatabasesInjector | None = None
        self.isolation: IsolationLayer | None = None
        #: class_key -> what each database test class declared and was given (the usage report).
        self.class_databases: dict[str, ClassDatabases] = {}
        self.mirror_sharing = MirrorSharing()
        self.managed_flip = legacy.ManagedFlip()
        #: The aliases stock Django would set up for the suite (with their primaries): set up before the tests.
        self.stock_aliases: frozenset[str] = frozenset()
        self.serialized_aliases: set[str] | None = None
        self.legacy_models: dict[str, list[legacy.ModelType]] = {}
        #: The run's test databases (Django's ``old_config``); set-up on first use adds to it.
        self.old_config: OldConfig = []
        self.lazy_setup: LazyTestDatabases | None = None
        #: The settings of aliases set up on first use, naming their test databases until then.
        self.names_ahead = NamesPointedAhead()
        #: First alias -> its server, for the databases to set up on first use on a server that cannot be reached.
        self.unreachable_servers: dict[str, reachability.UnreachableServer] = {}
        self.run_start: RunStartState | None = None
        self.run_stack = ExitStack()
        # Test modules may be imported as soon as the runner exists (the
        # suite is built later), so fix their skip decorators from now on.
        self.run_stack.enter_context(all_aliases_skip_decorators())
        self.run_stack.enter_context(serialized_contents_reloaded_in_place())

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        cls.add_own_arguments(parser)
        options.reject_missing_stock_options(parser)

    @classmethod
    def add_own_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add the runner's own options (a stock option's name is never a prefix of one of them)."""
        options.add_arguments(parser)

    # Configuration -------------------------------------------------------

    def load_configuration(self) -> RunnerConfig:
        """
        Read and check settings and options; report mistakes before any setup.

        Checks the ``MULTIDB_RUNNER`` setting, the ``--databases`` selection
        and every ``TEST['MIRROR']``.
        """
        config = build_config(**self.options)
        select_aliases(config.database_patterns, connections, config.database_source)
        self.mirrors = resolve_mirrors(
            {alias: connections[alias].settings_dict["TEST"].get("MIRROR") for alias in connections}
        )
        self.config = config
        if config.start_method is not None and self.parallel > 1:
            self.saved_start_method = multiprocessing.get_start_method(allow_none=True)
            multiprocessing.set_start_method(config.start_method, force=True)
        return config

    # DiscoverRunner steps -------------------------------------------------

    def run_tests(self, test_labels: Sequence[str], **kwargs: Any) -> int:
        """Run the suite; whatever happens, leave Django's classes and settings as found."""
        config = self.load_configuration()
        if config.coverage:
            # May restart this command under coverage (and never return).
            self.measurement = coverage_support.start_in_main_process()
        try:
            failures: int = super().run_tests(list(test_labels), **kwargs)
        except KeyboardInterrupt:
            raise self.signals.error() from None
        except BrokenPipeError:
            if not self.output.lost_reader():
                raise
            raise self.output.error() from None
        finally:
            self.restore_run_state()
        if self.signals.interrupted:
            # Ctrl-C during teardown: everything was cleaned up, but the run
            # did not end the way it should.
            raise self.signals.error()
        if self.measurement is not None and not coverage_support.finish(self.measurement, self.log):
            failures += 1
        return failures

    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)
        self.signals.install()

    def build_suite(self, test_labels: Sequence[str] | None = None, **kwargs: Any) -> unittest.TestSuite:
        suite = super().build_suite(test_labels, **kwargs)
        self.inject_databases(suite)
        return suite

    def test_suite(self, tests: Any = ()) -> unittest.TestSuite:  # type: ignore[override]
        """
        Build the suite of the discovered tests, keeping only this run's shard.

        DiscoverRunner calls this with every test found, filtered and
        ordered, before splitting them between parallel workers.
        """
        tests = list(tests)
        if self.config is not None and self.config.shard is not None:
            tests = self.select_shard(tests, *self.config.shard)
        return unittest.TestSuite(tests)

    def select_shard(self, tests: list[Any], index: int, total: int) -> list[Any]:
        """Keep the tests of the classes that fall in shard ``index`` of ``total``."""
        assert self.config is not None
        durations = read_durations(self.config.durations_file) if self.config.durations_file else {}
        keys = [shard_key(test) for test in tests]
        assignment = assign_shards(keys, total, durations)
        selected = [test for test, key in zip(tests, keys, strict=True) if assignment[key] == index]
        classes = {key for key, shard in assignment.items() if shard == index}
        if selected:
            self.log(
                f"Shard {index}/{total}: {len(classes)} of {len(assignment)} test classes, "
                f"{len(selected)} of {len(tests)} tests."
            )
        else:
            self.log(f"Shard {index}/{total} has no tests to run ({len(assignment)} test classes in {total} shards).")
        return selected

    def inject_databases(self, suite: unittest.TestSuite) -> None:
        """Give every test class of ``suite`` the aliases it may use."""
        assert self.config is not None
        source = None
        if self.config.database_patterns is None:
            injected = usable_aliases(connections.settings)
        else:
            injected = select_aliases(self.config.database_patterns, connections, self.config.database_source)
            source = self.config.database_source
        self.injector = DatabasesInjector(injected, usable_aliases(connections.settings), self.mirrors, source)
        classes = test_classes(suite)
        # What each class declared itself, and what stock Django would set
        # up for it, read before injection changes it.
        declared = {cls: self.injector.declared(cls) for cls in classes}
        self.stock_aliases = frozenset(
            with_primaries(frozenset().union(*(self.injector.stock_databases(cls) for cls in classes)), self.mirrors)
        )
        declared = {cls: aliases for cls, aliases in declared.items() if issubclass(cls, TransactionTestCase)}
        self.injector.inject(classes)
        self.class_databases = {
            class_key(cls): ClassDatabases(declared=declaration, given=frozenset(cls.databases))
            for cls, declaration in declared.items()
            if not isinstance(cls.databases, str)
        }

    def get_databases(self, suite: unittest.TestSuite) -> dict[str, bool]:  # type: ignore[override]
        """Return the aliases to set up; a used mirror makes its primary used."""
        databases: dict[str, bool] = super().get_databases(suite)  # type: ignore[assignment]
        for mirror, primary in self.mirrors.items():
            if mirror in databases:
                databases[primary] = databases.get(primary, False) or databases[mirror]
        return databases

    def run_checks(self, databases: Any) -> None:
        """
        Run Django's system checks on the models as written: legacy models unmanaged again.

        The checks that need a database run on those set up now; a database
        set up on first use gets Django's database checks then.
        """
        if self.lazy_setup is not None:
            databases = [alias for alias in databases if alias not in self.lazy_setup.pending]
        # Two unmanaged models over one table, or one over a managed model's
        # table, are fine as written, and errors (models.E028, fields.E340)
        # once both count as managed.
        with self.managed_flip.suspended():
            super().run_checks(databases)

    def setup_databases(self, **kwargs: Any) -> OldConfig:  # type: ignore[override]
        """
        Set up the test databases the tests need before they start; leave the others to their first use.

        What stock Django would set up is set up now. In a serial run, a
        database only the runner's injection gives a test is set up when a
        test first uses it (``setup/lazy.py``), the settings of its aliases
        naming it from now on; in a parallel run every
        database is set up now, before the workers start, so that they
        never race to create one.
        """
        aliases = kwargs.get("aliases") or {}
        self.serialized_aliases = kwargs.get("serialized_aliases")
        self.signals.check()
        self.real_databases = real_databases_now()
        assert self.config is not None
        self.saved_test_names = name_test_databases(self.mirrors, self.config.db_suffix)
        plan = self.plan = plan_test_databases(list(aliases), self.mirrors, keepdb=self.keepdb)
        plan.on_first_use = self.databases_set_up_on_first_use(plan)
        self.check_servers(plan)
        check_plan_is_safe(plan.primaries, self.parallel, self.real_databases)
        old_config: OldConfig = []
        self.old_config = old_config
        try:
            self.lock_test_databases(plan.eager_creations)
            self.legacy_models = self.setup_legacy_models(plan)
            if self.parallel > 1:
                self.clones = WorkerClones(
                    workers=self.parallel,
                    start_method=multiprocessing.get_start_method(),
                    verbosity=self.verbosity,
                    keepdb=self.keepdb,
                    real_databases=self.real_databases,
                )
            self.create_databases(plan.eager_creations, old_config, verbosity=self.verbosity)
            for first, sharing in plan.creations:
                if first in plan.on_first_use:
                    self.names_ahead.point(sharing)
            # A mirror of a database set up on first use is served by its
            # primary's connection, and set up when first used through either.
            self.mirror_sharing.install(plan.mirrors)
            serialize_test_databases(first for first, sharing in plan.eager_creations if self.serializes(sharing))
            if self.debug_sql:
                for alias in connections:
                    connections[alias].force_debug_cursor = True
            self.signals.check()
        except BaseException:
            self.undo_setup(old_config)
            raise
        self.install_isolation()
        return old_config

    def databases_set_up_on_first_use(self, plan: DatabasePlan) -> set[str]:
        """
        Return the first aliases of the databases to set up when a test first uses them.

        Those stock Django would not set up (no selected class uses them as
        written: a class keeping the default ``databases`` means
        ``default``), in a serial run with lazy set-up on. What stock sets up
        is set up before the tests, with stock's output.
        """
        assert self.config is not None
        if not self.config.lazy_setup or self.parallel > 1:
            return set()
        stock = {plan.database_of(alias) for alias in self.stock_aliases}
        return {first for first in plan.primaries if first not in stock}

    def check_servers(self, plan: DatabasePlan) -> None:
        """
        Check that every test database of ``plan`` has a server to connect to, before anything is created.

        A server that cannot be connected to stops the run with one message
        if a database to set up before the tests is on it. A database to set
        up on first use (which stock Django would not set up) gets a warning
        instead, and only the tests that use it fail (``setup/reachability.py``).
        """
        unreachable = reachability.unreachable_servers(plan.primaries)
        eager = {first: server for first, server in unreachable.items() if first not in plan.on_first_use}
        if eager:
            raise reachability.cannot_connect_error(eager)
        for line in reachability.first_use_warnings(unreachable):
            self.log(line, level=logging.WARNING)
        for first in unreachable:
            plan.first_use_failures[first] = SERVER_UNREACHABLE
        self.unreachable_servers = unreachable

    def serializes(self, aliases: Sequence[str]) -> bool:
        """Return whether the test database read through ``aliases`` is serialized (``serialized_rollback``)."""
        return self.serialized_aliases is None or any(alias in self.serialized_aliases for alias in aliases)

    def create_databases(
        self, creations: list[tuple[str, list[str]]], old_config: OldConfig, *, verbosity: int
    ) -> None:
        """Create and prepare the test databases of ``creations``, recording them in ``old_config``."""
        with self.managed_flip.suspended():
            create_test_databases(
                creations,
                into=old_config,
                verbosity=verbosity,
                interactive=self.interactive,
                keepdb=self.keepdb,
                time_keeper=self.time_keeper,
                prepare_database=lambda alias: self.prepare_database(alias, self.legacy_models),
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
        assert self.plan is not None and self.run_start is not None and self.isolation is not None
        plan = self.plan
        sharing = dict(plan.creations)[first]
        self.signals.check()
        isolation = self.isolation
        created = len(self.old_config)
        with (
            self.run_start.restored(),
            unobserved_by_test(sharing),
            isolation.transactions.deferred(),
            isolation.tracker.pause(),
        ):
            try:
                # Django creates it as before the tests, from the real settings.
                self.names_ahead.withdraw(sharing)
                self.lock_test_databases([(first, sharing)])
                self.create_databases(
                    [(first, sharing)], self.old_config, verbosity=self.verbosity if self.verbosity >= 2 else 0
                )
                for mirror, primary in plan.mirrors.items():
                    if primary in sharing:
                        # The run's thread serves the mirror through its primary's connection already.
                        self.mirror_sharing.point_settings(mirror, primary)
                if self.serializes(sharing):
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
        if threading.get_ident() != self.run_start.thread:
            self.run_start.adopt(self.old_config[created:])
        plan.set_up_on_first_use.add(first)

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

    def prepare_database(self, alias: str, legacy_models: dict[str, list[legacy.ModelType]]) -> None:
        """Make a freshly migrated test database ready: legacy tables, stale clones gone, clones made."""
        assert self.plan is not None and self.real_databases is not None
        self.signals.check()
        # Migrations may have lasted long enough for a lock's connection to be cut.
        self.check_claims()
        if legacy_models.get(alias):
            # Managed while created: the schema editor gives unmanaged models no indexes.
            with self.managed_flip.resumed():
                tables = legacy.create_legacy_tables(connections[alias], legacy_models[alias])
            self.plan.legacy_tables[alias] = tables
        if not self.interactive:
            # Like Django's own test database, leftovers are replaced
            # without asking only under --noinput.
            remove_stale_clones(
                connections[alias], self.parallel if self.clones else 0, self.real_databases, self.verbosity
            )
        if self.clones is not None:
            with self.time_keeper.timed(f"  Cloning '{alias}'"):
                self.clones.clone(alias)
        self.signals.check()

    def undo_setup(self, old_config: OldConfig) -> None:
        """
        Destroy what a failed or interrupted setup created, then unlock.

        Clones first, while every alias still points at its test database;
        a signal now only is remembered, so that the cleanup completes.
        """
        try:
            with self.signals.cleanup_protected(), self.output.never_failing(), ExitStack() as steps:
                self.add_cleanup_steps(steps, old_config)
        except Exception as exc:
            # The setup's own error is what the user needs to see.
            self.log(f"The cleanup after the failed setup did not complete: {sentence(exc)}", level=40)

    def install_isolation(self) -> None:
        """Start tracking writes, flushing selectively, opening transactions and setting up databases lazily."""
        assert self.plan is not None
        lazy_setup = None
        if self.plan.on_first_use:
            self.run_start = RunStartState()
            lazy_setup = LazyTestDatabases(
                {alias: first for first in self.plan.on_first_use for alias in self.plan.aliases_of(first)},
                self.set_up_on_first_use,
            )
            for first, server in self.unreachable_servers.items():
                lazy_setup.refuse(first, reachability.first_use_refusal(server))
        self.lazy_setup = lazy_setup
        self.isolation = IsolationLayer(self.isolation_options(), self.mirrors, lazy_setup)
        self.isolation.install()

    def isolation_options(self) -> IsolationOptions:
        assert self.config is not None
        return IsolationOptions(
            selective_flush=self.config.selective_flush,
            lazy_transactions=self.config.lazy_transactions,
            report_usage=self.config.report_db_usage,
            read_only_mirrors=self.read_only_mirrors() if self.config.read_only_mirrors else frozenset(),
        )

    def read_only_mirrors(self) -> frozenset[str]:
        """Return the mirrors whose writes are refused: all but those with ``TEST['READ_ONLY'] = False``."""
        return frozenset(
            mirror
            for mirror in self.mirrors
            if connections[mirror].settings_dict["TEST"].get("READ_ONLY", True) is not False
        )

    def destroy_clones(self) -> None:
        """Destroy the workers' clones, if any were made."""
        if self.clones is not None:
            self.clones.destroy()

    def setup_legacy_models(self, plan: DatabasePlan) -> dict[str, list[legacy.ModelType]]:
        """Treat legacy models as managed and route them (unless --no-managed-legacy); return them by database."""
        assert self.config is not None
        if not self.config.managed_legacy:
            return {}
        by_database, self.legacy_router = legacy.route_legacy_models(plan.creations, plan.mirrors, self.managed_flip)
        if self.legacy_router is not None:
            self.run_stack.enter_context(legacy.router_installed(self.legacy_router))
        return by_database

    def log_plan(self) -> None:
        """
        Print what became of each alias (verbosity 1 and up).

        Printed once the tests are over, when it is known which databases
        were set up on first use. Not at verbosity 1 where nothing differs
        from stock Django: Django's own lines say it all.
        """
        assert self.config is not None
        if self.plan is None or self.verbosity < 1:
            return
        if self.verbosity < 2 and not self.plan.differs_from_stock(db_suffix=self.config.db_suffix):
            return
        self.log("Database plan:\n" + self.plan.format())

    # Reports ---------------------------------------------------------------

    def get_resultclass(self) -> Any:
        """
        Note the test being run (for an interrupted --keepdb run); add outcome and duration recording.

        Recording only when a report or durations file is wanted.
        """
        base = super().get_resultclass() or unittest.TextTestResult
        if self.config is not None and (self.config.junit_xml or self.config.durations_file):
            base = type(f"Recording{base.__name__}", (RecordingResult, base), {})
        return type(base.__name__, (CurrentTestRecorder, base), {"current_test_box": self.signals.current_test_box})

    def write_reports(self, result: Any) -> None:
        """Write the JUnit XML report and the durations file, as configured."""
        if self.config is None or not isinstance(result, RecordingResult):
            return
        if self.config.junit_xml:
            write_junit_xml(self.config.junit_xml, result.records)
            self.log(f"JUnit XML report written to {self.config.junit_xml}.")
        if self.config.durations_file and result.records:
            write_durations(self.config.durations_file, result.class_durations(), self.config.shard)

    def report_db_usage(self) -> None:
        """Print which databases each test class was given and used (--report-db-usage)."""
        if self.config is None or not self.config.report_db_usage or self.isolation is None:
            return
        not_set_up = self.lazy_setup.not_set_up() if self.lazy_setup is not None else set()
        self.log(format_usage_report(self.class_databases, self.isolation.usage.used, not_set_up=not_set_up))

    # Parallel runs -----------------------------------------------------------

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        self.signals.check()
        if isinstance(suite, MultiDBParallelTestSuite):
            assert self.plan is not None
            suite.worker_state = WorkerState.collect(
                suite,
                self.plan,
                debug_mode=self.debug_mode,
                snapshots=dict(self.clones.snapshots) if self.clones else {},
                managed_models=self.managed_flip.flipped,
                legacy_router=self.legacy_router,
                class_databases=self.injector.given() if self.injector else {},
                class_messages=self.injector.messages() if self.injector else {},
                coverage=self.measurement is not None,
                isolation=self.isolation_options(),
            )
            assert self.config is not None
            suite.timeout = self.config.worker_timeout
            # Workers must not share the main process's open sockets.
            connections.close_all()
            if self.isolation is not None:
                suite.isolation = self.isolation
                suite.usage_sink = self.isolation.usage.merge
        result = super().run_suite(suite, **kwargs)
        self.write_reports(result)
        self.report_db_usage()
        self.signals.check()
        return result

    def teardown_databases(self, old_config: OldConfig, **kwargs: Any) -> None:  # type: ignore[override]
        # From here on, to the end of the run, a signal must not cut the cleanup short.
        self.signals.protecting_cleanup = True
        # Written even if the output's reader is gone (``output.py``): the cleanup must complete.
        with self.output.never_failing(), ExitStack() as steps:
            self.add_cleanup_steps(steps, old_config)
            # These run first (last-in first-out).
            steps.callback(self.remove_isolation)
            if self.signals.interrupted and self.keepdb:
                steps.callback(self.flush_interrupted_test, old_config)
            # Before all of them.
            self.log_plan()

    def add_cleanup_steps(self, steps: ExitStack, old_config: OldConfig) -> None:
        """
        Add the cleanup to ``steps``: mirrors back, clones, then test databases, then unlock.

        Every step runs even if one fails. Clones go first, while every
        alias still points at its test database; the locks last, once
        nothing of this run is left.
        """
        # Callbacks run last-in first-out: listed here in reverse order.
        steps.callback(self.locks.release)
        steps.callback(self.names_ahead.restore)
        steps.callback(
            destroy_test_databases,
            old_config,
            verbosity=self.verbosity,
            keepdb=self.keepdb,
            real_databases=self.real_databases,
        )
        steps.callback(self.destroy_clones)
        steps.callback(self.leave_lost_databases, old_config)
        steps.callback(self.mirror_sharing.restore)

    def leave_lost_databases(self, old_config: OldConfig) -> None:
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
        for entry in [entry for entry in old_config if entry.test_name in names]:
            restore_real_name(entry)
            old_config.remove(entry)
        if self.clones is not None:
            for claim in claims:
                self.clones.cloned.pop(claim.alias, None)
        raise ClaimLost("\n".join(str(error) for error in lost))

    def flush_interrupted_test(self, old_config: OldConfig) -> None:
        """
        Flush what an interrupted TransactionTestCase test wrote, so kept databases stay clean.

        The test never reached its own flush; with --keepdb its rows would
        stay in the kept database and trip the next run. Open transactions
        are rolled back first (a TestCase test needs nothing more). Parallel
        workers write only to their clones, which are never reused.
        """
        test, self.signals.interrupted_test = self.signals.interrupted_test, None
        reset_connections()
        if not isinstance(test, TransactionTestCase) or isinstance(test, TestCase):
            return
        if not any(entry.test_name is not None for entry in old_config):
            return
        try:
            test._fixture_teardown()  # type: ignore[attr-defined]
        except Exception as exc:
            self.log(f"Could not flush what the interrupted test {test.id()} wrote: {sentence(exc)}", level=40)
        reset_connections()

    def restore_run_state(self) -> None:
        """
        Undo every change the run made to Django: classes, models, routers, mirrors.

        Every step runs even if an earlier one fails; the first error is raised.
        """
        with ExitStack() as steps:
            # Callbacks run last-in first-out: listed here in reverse order.
            steps.callback(self.run_stack.close)
            steps.callback(self.signals.restore)
            steps.callback(self.locks.release)
            steps.callback(self.restore_start_method)
            steps.callback(restore_test_names, self.saved_test_names)
            steps.callback(self.managed_flip.restore)
            steps.callback(self.names_ahead.restore)
            if self.injector is not None:
                steps.callback(self.injector.restore)
            steps.callback(self.mirror_sharing.restore)
            steps.callback(self.remove_isolation)

    def remove_isolation(self) -> None:
        if self.isolation is not None:
            self.isolation.remove()

    def restore_start_method(self) -> None:
        if self.saved_start_method is not None:
            multiprocessing.set_start_method(self.saved_start_method, force=True)
            self.saved_start_method = None
