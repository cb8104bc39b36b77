"""
MultiDBRunner: Django's DiscoverRunner for projects with several databases.

The runner is the ``manage.py test`` adapter of the run's core,
``session.MultiDBSession``: it keeps ``DiscoverRunner``'s overridable steps
(``build_suite``, ``get_databases``, ``setup_databases``, ``run_suite``,
``teardown_databases``...) with their names and signatures, and each step
calls the session; a project's subclass that overrides one and calls
``super()`` keeps the runner's guarantees.
"""

from __future__ import annotations

import argparse
import unittest
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.test.runner import DiscoverRunner, ParallelTestSuite

from . import options
from .config import RunnerConfig
from .injection import test_classes
from .planning.plan import DatabasePlan
from .session import MultiDBSession, RunParameters, SetUp
from .setup.databases import OldConfig

if TYPE_CHECKING:
    from typing import TypeGuard

    from .parallel.suite import MultiDBParallelTestSuite


class ParallelSuiteClass:
    """
    ``MultiDBRunner.parallel_test_suite``: the parallel suite's class, imported when first asked for.

    Django asks for it only for a parallel run; a serial run does not import
    the parallel machinery (workers, their pool, crash reports).
    """

    def __get__(self, instance: Any, owner: Any = None) -> type:
        from .parallel.suite import MultiDBParallelTestSuite

        return MultiDBParallelTestSuite


def is_multidb_parallel(suite: unittest.TestSuite) -> TypeGuard[MultiDBParallelTestSuite]:
    """Return whether ``suite`` is the runner's parallel suite (imported only for a parallel suite)."""
    if not isinstance(suite, ParallelTestSuite):
        return False
    from .parallel.suite import MultiDBParallelTestSuite

    return isinstance(suite, MultiDBParallelTestSuite)


class MultiDBRunner(DiscoverRunner):
    """
    Run a multi-database suite the way it is written.

    Test classes that keep Django's default ``databases`` may use every alias
    (or the ``--databases`` selection); mirrors read their primary's data;
    ``managed = False`` models get tables; a test database is never created
    over a real one; parallel workers each get their own clone of every
    database, whatever the start method.
    """

    parallel_test_suite = ParallelSuiteClass()
    #: The run's core; a subclass may give its own.
    session_class = MultiDBSession

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
        # Test modules may be imported as soon as the runner exists (the
        # suite is built later): the session fixes their skip decorators now.
        self.session = self.session_class(self.options, log=self.log)
        #: What ``setup_databases()`` set up, for ``teardown_databases()``.
        self.setup: SetUp | None = None

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

    @property
    def config(self) -> RunnerConfig:
        """The run's configuration, read by ``load_configuration()``."""
        return self.session.config

    @property
    def plan(self) -> DatabasePlan | None:
        """The database plan, once the databases are set up."""
        return self.setup.plan if self.setup is not None else None

    def load_configuration(self) -> RunnerConfig:
        """
        Read and check settings and options; report mistakes before any setup.

        Checks the ``MULTIDB_RUNNER`` setting, the ``--databases`` selection
        and every ``TEST['MIRROR']``.
        """
        return self.session.configure(parallel=self.parallel)

    # DiscoverRunner steps -------------------------------------------------

    def run_tests(self, test_labels: Sequence[str], **kwargs: Any) -> int:
        """Run the suite; whatever happens, leave Django's classes and settings as found."""
        config = self.load_configuration()
        if config.coverage:
            from .reports import coverage_support

            # May restart this command under coverage (and never return).
            self.measurement = coverage_support.start_in_main_process()
        signals, output = self.session.signals, self.session.output
        try:
            failures: int = super().run_tests(list(test_labels), **kwargs)
        except KeyboardInterrupt:
            raise signals.error() from None
        except BrokenPipeError:
            if not output.lost_reader():
                raise
            raise output.error() from None
        finally:
            self.restore_run_state()
        if signals.interrupted:
            # Ctrl-C during teardown: everything was cleaned up, but the run
            # did not end the way it should.
            raise signals.error()
        if self.measurement is not None:
            from .reports import coverage_support

            if not coverage_support.finish(self.measurement, self.log):
                failures += 1
        return failures

    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)
        self.session.install_signal_handlers()

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
        if self.session.configured and self.config.shard is not None:
            tests = self.select_shard(tests, *self.config.shard)
        return unittest.TestSuite(tests)

    def select_shard(self, tests: list[Any], index: int, total: int) -> list[Any]:
        """Keep the tests of the classes that fall in shard ``index`` of ``total``."""
        from .planning.sharding import assign_shards, shard_key
        from .reports.durations import read_durations

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
        self.session.inject(test_classes(suite))

    def get_databases(self, suite: unittest.TestSuite) -> dict[str, bool]:  # type: ignore[override]
        """Return the aliases to set up; a used mirror makes its primary used."""
        databases: dict[str, bool] = super().get_databases(suite)  # type: ignore[assignment]
        for mirror, primary in self.session.mirrors.items():
            if mirror in databases:
                databases[primary] = databases.get(primary, False) or databases[mirror]
        return databases

    def run_checks(self, databases: Any) -> None:
        """
        Run Django's system checks on the models as written: legacy models unmanaged again.

        The checks that need a database run on those set up now; a database
        set up on first use gets Django's database checks then.
        """
        pending = self.session.pending_on_first_use()
        databases = [alias for alias in databases if alias not in pending]
        # Two unmanaged models over one table, or one over a managed model's
        # table, are fine as written, and errors (models.E028, fields.E340)
        # once both count as managed.
        with self.session.managed_flip.suspended():
            super().run_checks(databases)

    def setup_databases(self, **kwargs: Any) -> OldConfig:  # type: ignore[override]
        """
        Set up the test databases the tests need before they start; leave the others to their first use.

        Django's ``old_config`` is returned, to be handed back to
        ``teardown_databases()``, as ``DiscoverRunner`` does; the session's
        set-up (``session.py``) says what else to undo.
        """
        self.setup = self.session.set_up(
            kwargs.get("aliases") or {}, kwargs.get("serialized_aliases"), self.run_parameters()
        )
        return self.setup.old_config

    def run_parameters(self) -> RunParameters:
        """Return the runner's arguments the set-up follows."""
        return RunParameters(
            verbosity=self.verbosity,
            interactive=self.interactive,
            parallel=self.parallel,
            keepdb=self.keepdb,
            debug_sql=self.debug_sql,
            time_keeper=self.time_keeper,
        )

    def log_plan(self) -> None:
        """Print what became of each alias (verbosity 1 and up), once the tests are over."""
        if self.setup is not None:
            self.session.log_plan(self.setup)

    # Reports ---------------------------------------------------------------

    def get_resultclass(self) -> Any:
        """
        Note the test being run (for an interrupted --keepdb run); add outcome and duration recording.

        Recording only when a report or durations file is wanted.
        """
        from .interrupts import CurrentTestRecorder

        base = super().get_resultclass() or unittest.TextTestResult
        config = self.session.config if self.session.configured else None
        if config is not None and (config.junit_xml or config.durations_file):
            from .reports.results import RecordingResult

            base = type(f"Recording{base.__name__}", (RecordingResult, base), {})
        box = self.session.signals.current_test_box
        return type(base.__name__, (CurrentTestRecorder, base), {"current_test_box": box})

    def write_reports(self, result: Any) -> None:
        """Write the JUnit XML report and the durations file, as configured."""
        config = self.config
        if not (config.junit_xml or config.durations_file):
            return
        from .reports.durations import write_durations
        from .reports.results import RecordingResult, write_junit_xml

        if not isinstance(result, RecordingResult):
            return
        if config.junit_xml:
            write_junit_xml(config.junit_xml, result.records)
            self.log(f"JUnit XML report written to {config.junit_xml}.")
        if config.durations_file and result.records:
            write_durations(config.durations_file, result.class_durations(), config.shard)

    def report_db_usage(self) -> None:
        """Print which databases each test class was given and used (--report-db-usage)."""
        session = self.session
        if not self.config.report_db_usage or self.setup is None or self.setup.isolation is None:
            return
        from .reports.usage_report import format_usage_report

        class_databases = session.injection.class_databases if session.injection is not None else {}
        self.log(format_usage_report(class_databases, session.used_aliases(), not_set_up=session.not_set_up()))

    # Parallel runs -----------------------------------------------------------

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        from django.db import connections

        signals = self.session.signals
        signals.check()
        if is_multidb_parallel(suite):
            suite.worker_state = self.session.worker_state(
                suite, debug_mode=self.debug_mode, coverage=self.measurement is not None
            )
            suite.timeout = self.config.worker_timeout
            # Workers must not share the main process's open sockets.
            connections.close_all()
            isolation = self.setup.isolation if self.setup is not None else None
            if isolation is not None:
                suite.isolation = isolation
                suite.usage_sink = isolation.usage.merge
        result = super().run_suite(suite, **kwargs)
        # What the workers wrote to their clones (kept with --keepdb, reused when nothing was written).
        self.session.note_clone_writes(suite.clone_writes if is_multidb_parallel(suite) else {})
        self.write_reports(result)
        self.report_db_usage()
        signals.check()
        return result

    def teardown_databases(self, old_config: OldConfig, **kwargs: Any) -> None:  # type: ignore[override]
        """Destroy the test databases in ``old_config`` and undo the rest of the set-up; print the plan first."""
        setup = self.setup
        if setup is None:
            return
        setup.old_config = old_config
        self.session.teardown(setup, before=self.log_plan)

    def restore_run_state(self) -> None:
        """Undo every change the run made to Django: classes, models, routers, mirrors, signals."""
        self.session.close()
