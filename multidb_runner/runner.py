"""MultiDBRunner: Django's DiscoverRunner for projects with several databases."""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import unittest
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from django.core.management.base import CommandError
from django.db import connections
from django.test import TestCase, TransactionTestCase
from django.test.runner import DiscoverRunner, ParallelTestSuite

from . import options
from .config import RunnerConfig, build_config
from .isolation.layer import IsolationLayer, IsolationOptions
from .isolation.mirrors import MirrorSharing
from .parallel.suite import MultiDBParallelTestSuite
from .parallel.worker import WorkerState, reset_connections
from .planning.aliases import resolve_mirrors, select_aliases, usable_aliases
from .planning.injection import DatabasesInjector, all_aliases_skip_decorators, class_key, test_classes
from .planning.names import suffixed_test_name
from .planning.plan import AliasSettings, DatabasePlan, build_plan
from .planning.sharding import assign_shards, shard_key
from .reports import coverage_support
from .reports.results import RecordingResult, read_durations, write_durations, write_junit_xml
from .reports.usage import ClassDatabases, format_usage_report
from .setup import legacy
from .setup.clones import WorkerClones, clone_name, remove_stale_clones
from .setup.databases import (
    OldConfig,
    create_test_databases,
    destroy_test_databases,
    serialize_test_databases,
    serialized_contents_reloaded_in_place,
    test_database_name,
)
from .setup.locks import TestDatabaseLocks
from .setup.safety import RealDatabases, check_clones_are_not_real, check_test_databases_are_not_real, database_identity

#: The signals that end a run cleanly, and the exit code each gives (128 + number).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class TestRunInterrupted(CommandError):
    """The run was stopped with Ctrl-C (or SIGTERM, SIGHUP): it fails, whatever the tests did."""


class CurrentTestRecorder:
    """A result mixin that keeps the test being run on ``current_test_box[0]``."""

    current_test_box: list[Any]

    def startTest(self, test: Any) -> None:
        self.current_test_box[0] = test
        super().startTest(test)  # type: ignore[misc]

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)  # type: ignore[misc]
        self.current_test_box[0] = None


def display_name(alias: str) -> str:
    """Return the test database name of ``alias`` as users know it."""
    connection = connections[alias]
    name = test_database_name(alias)
    if connection.vendor == "sqlite" and connection.creation.is_in_memory_db(name):  # type: ignore[attr-defined]
        return "(in memory)"
    return str(name)


#: Options of Django's test command on some supported Python only (``--durations``
#: needs 3.12). Where missing, argparse would read them as an abbreviation of
#: one of the runner's options (``--durations=10`` as ``--durations-file=10``).
STOCK_OPTIONS_ON_SOME_PYTHONS = ("--durations",)


class UnrecognizedOption(argparse.Action):
    """Refuse an option this Python's Django lacks, as argparse refuses any unknown option."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None) -> None:
        given = f"{option_string}={values}" if values is not None else str(option_string)
        parser.error(f"unrecognized arguments: {given}")


def reject_missing_stock_options(parser: argparse.ArgumentParser) -> None:
    """Keep the stock options this Python lacks from being taken for abbreviations of the runner's."""
    known = {option for action in parser._actions for option in action.option_strings}
    for option in STOCK_OPTIONS_ON_SOME_PYTHONS:
        if option not in known:
            parser.add_argument(option, action=UnrecognizedOption)


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
        ``coverage``, ``selective_flush``, ``lazy_transactions`` and
        ``report_db_usage``: None (the default) leaves each to the setting.
        """
        # The runner's own options, checked against the setting when the run starts.
        self.options: dict[str, Any] = {option.dest: kwargs.pop(option.dest, None) for option in options.OPTIONS}
        super().__init__(*args, **kwargs)
        self.measurement: Any = None
        self.saved_test_names: dict[str, Any] = {}
        self.saved_start_method: str | None = None
        self.interrupted = False
        #: The signal that stopped the run (SIGINT for Ctrl-C), if any.
        self.stop_signal: int | None = None
        self.saved_signal_handlers: dict[int, Any] = {}
        self.tearing_down = False
        #: The configured real databases, read before setup changes any NAME.
        self.real_databases: RealDatabases | None = None
        self.locks = TestDatabaseLocks()
        #: The test running in this process, if any (see CurrentTestRecorder).
        self.current_test_box: list[Any] = [None]
        #: The test that was running when a signal stopped the run.
        self.interrupted_test: Any = None
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
        self.run_stack = ExitStack()
        # Test modules may be imported as soon as the runner exists (the
        # suite is built later), so fix their skip decorators from now on.
        self.run_stack.enter_context(all_aliases_skip_decorators())
        self.run_stack.enter_context(serialized_contents_reloaded_in_place())

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        cls.add_own_arguments(parser)
        reject_missing_stock_options(parser)

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
            raise self.interruption() from None
        finally:
            self.restore_run_state()
        if self.interrupted:
            # Ctrl-C during teardown: everything was cleaned up, but the run
            # did not end the way it should.
            raise self.interruption()
        if self.measurement is not None and not coverage_support.finish(self.measurement, self.log):
            failures += 1
        return failures

    def interruption(self) -> TestRunInterrupted:
        """Return the error that ends a run stopped by Ctrl-C or another signal."""
        signum = self.stop_signal or signal.SIGINT
        how = "interrupted (Ctrl-C)" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        return TestRunInterrupted(
            f"The test run was {how}; it is reported as failed. "
            "Test databases were destroyed unless --keepdb was given.",
            returncode=128 + signum,
        )

    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)
        self.watch_for_interrupt()

    def watch_for_interrupt(self) -> None:
        """
        Turn Ctrl-C, SIGTERM and SIGHUP into a clean, failed end of the run, at any phase.

        unittest's own handler stops a serial run after the current test and
        the run then ends with "OK", and during database setup it does
        nothing at all; SIGTERM (a cancelled CI job, ``timeout``, ``docker
        stop``) and SIGHUP kill the process with everything left behind.
        Here each stops the run at once (setup, tests and workers are
        abandoned; the runner's cleanup then destroys the test databases),
        except while the databases are being destroyed: then it is only
        remembered, so that the cleanup completes.
        """

        def on_interrupt(signum: int, frame: Any) -> None:
            if not self.interrupted:
                # unittest's stopTest still runs on the way out: remember the test now.
                self.interrupted_test = self.current_test_box[0]
            self.interrupted = True
            if self.stop_signal is None:
                self.stop_signal = signum
            if not self.tearing_down:
                raise KeyboardInterrupt

        for signum in STOP_SIGNALS:
            try:
                self.saved_signal_handlers[signum] = signal.signal(signum, on_interrupt)
            except ValueError:  # not the main thread: leave signals alone
                return

    def restore_signal_handlers(self) -> None:
        """Give the signals their handlers from before the run."""
        while self.saved_signal_handlers:
            signum, handler = self.saved_signal_handlers.popitem()
            signal.signal(signum, handler)

    def check_interrupted(self) -> None:
        """Stop now if Ctrl-C was pressed since the run started."""
        if self.interrupted:
            raise KeyboardInterrupt

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
        if self.config.database_patterns is None:
            injected = usable_aliases(connections.settings)
        else:
            injected = select_aliases(self.config.database_patterns, connections, self.config.database_source)
        self.injector = DatabasesInjector(injected, usable_aliases(connections.settings), self.mirrors)
        classes = test_classes(suite)
        # What each class declared itself, read before injection changes it.
        declared = {cls: self.injector.declared(cls) for cls in classes if issubclass(cls, TransactionTestCase)}
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

    def plan_databases(self, aliases: Sequence[str]) -> DatabasePlan:
        """Plan which test database each alias gets."""
        settings = [
            AliasSettings(
                alias=alias,
                signature=connections[alias].creation.test_db_signature(),
                test_name=display_name(alias),
                dependencies=tuple(connections[alias].settings_dict["TEST"]["DEPENDENCIES"])
                if "DEPENDENCIES" in connections[alias].settings_dict["TEST"]
                else None,
            )
            for alias in connections
        ]
        return build_plan(settings, aliases, self.mirrors, keepdb=self.keepdb)

    def name_test_databases(self) -> None:
        """
        Give every test database its final name: with the suffix token, fitting the backend.

        Stored as ``TEST['NAME']`` for the run (so clones, workers and
        teardown all follow) and restored afterwards.
        """
        assert self.config is not None
        for alias in connections:
            if alias in self.mirrors:
                continue
            connection = connections[alias]
            test_name = test_database_name(alias)
            name = suffixed_test_name(connection.vendor, test_name, self.config.db_suffix)
            if name != test_name:
                test_settings = connection.settings_dict["TEST"]
                self.saved_test_names.setdefault(alias, test_settings.get("NAME"))
                test_settings["NAME"] = name

    def read_real_databases(self) -> RealDatabases:
        """Record every alias's real database, before setup points any alias elsewhere."""
        return RealDatabases.from_settings(
            {alias: (connections[alias].vendor, connections[alias].settings_dict) for alias in connections}
        )

    def check_safety(self, plan: DatabasePlan) -> None:
        """Refuse to create a test database, or a worker's clone of one, that is a configured real database."""
        test_databases = {}
        clones = {}
        for first in plan.primaries:
            connection = connections[first]
            test_name = test_database_name(first)
            test_databases[first] = database_identity(connection.vendor, connection.settings_dict, test_name)
            if self.parallel > 1:
                clones[first] = [
                    database_identity(
                        connection.vendor, connection.settings_dict, clone_name(connection.vendor, test_name, number)
                    )
                    for number in range(1, self.parallel + 1)
                ]
        real_databases = {
            alias: database_identity(
                connections[alias].vendor, connections[alias].settings_dict, connections[alias].settings_dict["NAME"]
            )
            for alias in connections
        }
        check_test_databases_are_not_real(test_databases, real_databases)
        check_clones_are_not_real(clones, real_databases)

    def setup_databases(self, **kwargs: Any) -> OldConfig:  # type: ignore[override]
        aliases = kwargs.get("aliases") or {}
        serialized_aliases = kwargs.get("serialized_aliases")
        self.check_interrupted()
        self.real_databases = self.read_real_databases()
        self.name_test_databases()
        plan = self.plan = self.plan_databases(list(aliases))
        self.check_safety(plan)
        old_config: OldConfig = []
        try:
            self.lock_test_databases(plan)
            legacy_models = self.setup_legacy_models(plan)
            if self.parallel > 1:
                self.clones = WorkerClones(
                    workers=self.parallel,
                    start_method=multiprocessing.get_start_method(),
                    verbosity=self.verbosity,
                    keepdb=self.keepdb,
                    real_databases=self.real_databases,
                )
            with self.managed_flip.suspended():
                create_test_databases(
                    plan,
                    into=old_config,
                    verbosity=self.verbosity,
                    interactive=self.interactive,
                    keepdb=self.keepdb,
                    time_keeper=self.time_keeper,
                    prepare_database=lambda alias: self.prepare_database(alias, legacy_models),
                )
            self.mirror_sharing.install(plan.mirrors)
            serialize_test_databases(
                alias
                for alias in plan.primaries
                if serialized_aliases is None or any(a in serialized_aliases for a in dict(plan.creations)[alias])
            )
            if self.debug_sql:
                for alias in connections:
                    connections[alias].force_debug_cursor = True
            self.check_interrupted()
        except BaseException:
            self.undo_setup(old_config)
            raise
        self.log_plan(plan)
        self.install_isolation()
        return old_config

    def lock_test_databases(self, plan: DatabasePlan) -> None:
        """Lock every test database of the plan, or refuse to run if a live run holds one."""
        for first in plan.primaries:
            self.locks.acquire(first, connections[first], test_database_name(first))

    def prepare_database(self, alias: str, legacy_models: dict[str, list[legacy.ModelType]]) -> None:
        """Make a freshly migrated test database ready: legacy tables, stale clones gone, clones made."""
        assert self.plan is not None and self.real_databases is not None
        self.check_interrupted()
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
        self.check_interrupted()

    def undo_setup(self, old_config: OldConfig) -> None:
        """
        Destroy what a failed or interrupted setup created, then unlock.

        Clones first, while every alias still points at its test database;
        a signal now only is remembered, so that the cleanup completes.
        """
        self.tearing_down = True
        try:
            with ExitStack() as steps:
                # Callbacks run last-in first-out: listed here in reverse order.
                steps.callback(self.locks.release)
                steps.callback(
                    destroy_test_databases,
                    old_config,
                    verbosity=self.verbosity,
                    keepdb=self.keepdb,
                    real_databases=self.real_databases,
                )
                steps.callback(self.destroy_clones)
                steps.callback(self.mirror_sharing.restore)
        except Exception as exc:
            # The setup's own error is what the user needs to see.
            self.log(f"The cleanup after the failed setup did not complete: {exc}", level=40)
        finally:
            self.tearing_down = False

    def install_isolation(self) -> None:
        """Start tracking writes, flushing selectively and opening transactions lazily, as configured."""
        self.isolation = IsolationLayer(self.isolation_options(), self.mirrors)
        self.isolation.install()

    def isolation_options(self) -> IsolationOptions:
        assert self.config is not None
        return IsolationOptions(
            selective_flush=self.config.selective_flush,
            lazy_transactions=self.config.lazy_transactions,
            report_usage=self.config.report_db_usage,
        )

    def destroy_clones(self) -> None:
        """Destroy the workers' clones, if any were made."""
        if self.clones is not None:
            self.clones.destroy()

    def setup_legacy_models(self, plan: DatabasePlan) -> dict[str, list[legacy.ModelType]]:
        """
        Treat legacy models as managed and route them to their test databases.

        Return the legacy models to create, keyed by the first alias of each
        test database.
        """
        assert self.config is not None
        if not self.config.managed_legacy:
            return {}
        legacy_models = legacy.find_legacy_models()
        if not legacy_models:
            return {}
        self.managed_flip.apply(legacy_models)
        # Aliases sharing a test database count as that database's first alias.
        database_of = {alias: first for first, aliases in plan.creations for alias in aliases}
        route = dict(database_of)
        route.update(
            {mirror: database_of[primary] for mirror, primary in plan.mirrors.items() if primary in database_of}
        )
        by_alias = legacy.tables_by_alias(legacy_models, list(database_of), route)
        by_database: dict[str, list[legacy.ModelType]] = {}
        for alias, found in by_alias.items():
            models = by_database.setdefault(database_of[alias], [])
            models.extend(model for model in found if model not in models)
        routed = {alias: by_database[first] for alias, first in database_of.items() if first in by_database}
        self.legacy_router = legacy.LegacyTablesRouter(routed)
        self.run_stack.enter_context(legacy.router_installed(self.legacy_router))
        return by_database

    def log_plan(self, plan: DatabasePlan) -> None:
        """Print the database plan (verbosity 1 and up)."""
        self.log("Database plan:\n" + plan.format())

    # Reports ---------------------------------------------------------------

    def get_resultclass(self) -> Any:
        """
        Note the test being run (for an interrupted --keepdb run); add outcome and duration recording.

        Recording only when a report or durations file is wanted.
        """
        base = super().get_resultclass() or unittest.TextTestResult
        if self.config is not None and (self.config.junit_xml or self.config.durations_file):
            base = type(f"Recording{base.__name__}", (RecordingResult, base), {})
        return type(base.__name__, (CurrentTestRecorder, base), {"current_test_box": self.current_test_box})

    def write_reports(self, result: Any) -> None:
        """Write the JUnit XML report and the durations file, as configured."""
        if self.config is None or not isinstance(result, RecordingResult):
            return
        if self.config.junit_xml:
            write_junit_xml(self.config.junit_xml, result.records)
            self.log(f"JUnit XML report written to {self.config.junit_xml}.")
        if self.config.durations_file and result.records:
            write_durations(self.config.durations_file, result.class_durations())

    def report_db_usage(self) -> None:
        """Print which databases each test class was given and used (--report-db-usage)."""
        if self.config is None or not self.config.report_db_usage or self.isolation is None:
            return
        self.log(format_usage_report(self.class_databases, self.isolation.usage.used))

    # Parallel runs -----------------------------------------------------------

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        self.check_interrupted()
        if isinstance(suite, MultiDBParallelTestSuite):
            suite.worker_state = self.worker_state(suite)
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
        self.check_interrupted()
        return result

    def worker_state(self, suite: ParallelTestSuite) -> WorkerState:
        """Collect what a worker needs to repeat this process's setup."""
        assert self.plan is not None
        process_setup = getattr(suite, "process_setup", None)
        process_setup = getattr(process_setup, "__func__", process_setup)
        return WorkerState(
            start_method=multiprocessing.get_start_method(),
            workers=suite.processes,
            debug_mode=self.debug_mode,
            settings={alias: dict(connections[alias].settings_dict) for alias in connections},
            serialized={
                alias: connections[alias]._test_serialized_contents  # type: ignore[attr-defined]
                for alias in self.plan.primaries
                if hasattr(connections[alias], "_test_serialized_contents")
            },
            creations=self.plan.creations,
            mirrors=self.plan.mirrors,
            snapshots=dict(self.clones.snapshots) if self.clones else {},
            managed_models=[(m._meta.app_label, m._meta.model_name or "") for m in self.managed_flip.flipped],
            legacy_routes=set(self.legacy_router.allowed) if self.legacy_router else set(),
            class_databases=self.injector.given() if self.injector else {},
            process_setup=None if process_setup is ParallelTestSuite.process_setup else process_setup,
            process_setup_args=tuple(getattr(suite, "process_setup_args", ())),
            coverage=self.measurement is not None,
            isolation=self.isolation_options(),
        )

    def teardown_databases(self, old_config: OldConfig, **kwargs: Any) -> None:  # type: ignore[override]
        # From here on, a signal must not cut the cleanup short.
        self.tearing_down = True
        with ExitStack() as steps:
            # Callbacks run last-in first-out: listed here in reverse order.
            steps.callback(self.locks.release)
            steps.callback(
                destroy_test_databases,
                old_config,
                verbosity=self.verbosity,
                keepdb=self.keepdb,
                real_databases=self.real_databases,
            )
            # Clones first, while every alias still points at its test database.
            steps.callback(self.destroy_clones)
            steps.callback(self.mirror_sharing.restore)
            steps.callback(self.remove_isolation)
            if self.interrupted and self.keepdb:
                steps.callback(self.flush_interrupted_test, old_config)

    def flush_interrupted_test(self, old_config: OldConfig) -> None:
        """
        Flush what an interrupted TransactionTestCase test wrote, so kept databases stay clean.

        The test never reached its own flush; with --keepdb its rows would
        stay in the kept database and trip the next run. Open transactions
        are rolled back first (a TestCase test needs nothing more). Parallel
        workers write only to their clones, which are never reused.
        """
        test, self.interrupted_test = self.interrupted_test, None
        reset_connections()
        if not isinstance(test, TransactionTestCase) or isinstance(test, TestCase):
            return
        if not any(entry.test_name is not None for entry in old_config):
            return
        try:
            test._fixture_teardown()  # type: ignore[attr-defined]
        except Exception as exc:
            self.log(f"Could not flush what the interrupted test {test.id()} wrote: {exc}", level=40)
        reset_connections()

    def restore_run_state(self) -> None:
        """
        Undo every change the run made to Django: classes, models, routers, mirrors.

        Every step runs even if an earlier one fails; the first error is raised.
        """
        with ExitStack() as steps:
            # Callbacks run last-in first-out: listed here in reverse order.
            steps.callback(self.run_stack.close)
            steps.callback(self.restore_signal_handlers)
            steps.callback(self.locks.release)
            steps.callback(self.restore_start_method)
            steps.callback(self.restore_test_names)
            steps.callback(self.managed_flip.restore)
            if self.injector is not None:
                steps.callback(self.injector.restore)
            steps.callback(self.mirror_sharing.restore)
            steps.callback(self.remove_isolation)

    def remove_isolation(self) -> None:
        if self.isolation is not None:
            self.isolation.remove()

    def restore_test_names(self) -> None:
        for alias, name in self.saved_test_names.items():
            connections[alias].settings_dict["TEST"]["NAME"] = name
        self.saved_test_names.clear()

    def restore_start_method(self) -> None:
        if self.saved_start_method is not None:
            multiprocessing.set_start_method(self.saved_start_method, force=True)
            self.saved_start_method = None
