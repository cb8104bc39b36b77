"""
End-to-end: ``manage.py test --parallel`` of the ``shop`` sample project.

Each test runs the project in a subprocess (in a process group of its own,
so that a safety-net timeout can stop the workers too) with its SQLite files
in a fresh folder, then checks the exit code, the lines that matter and the
database files left behind: none, journals included, unless ``--keepdb``.
The test classes run in the workers live in ``parallel_checks.scenarios``;
they report what a worker sees to JSON files next to the databases, or
misbehave (die, hang, fail unpicklably, wait for Ctrl-C) when asked to by an
environment variable.
"""

import json
import os
import signal
import time

from .e2e import sqlite_tables
from .shop_harness import (
    INTERRUPTED,
    PASSED,
    POLL_SECONDS,
    WAIT_SECONDS,
    ShopTestCase,
    is_running,
)

SCENARIOS = "parallel_checks.scenarios"
#: How long a worker may outlive its killed main process.
ORPHAN_SECONDS = 10
ALIASES_WITH_FILES = ("default", "crm", "tenant_a", "tenant_b")


class ParallelShopTestCase(ShopTestCase):
    """The shop project run with --parallel: worker reports, pauses and signals."""

    def reports(self):
        """Return what the WorkerNames classes reported, ordered by worker number."""
        reports = [json.loads(path.read_text()) for path in self.db_dir.glob("worker-*.json")]
        return sorted(reports, key=lambda report: report["worker_id"])

    def remove_reports(self):
        for path in self.db_dir.glob("worker-*.json"):
            path.unlink()

    def wait_for_file(self, pattern):
        """Return the first file matching ``pattern`` in the folder, polling for at most WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not (found := sorted(self.db_dir.glob(pattern))):
            if time.monotonic() > deadline:
                self.fail(f"no {pattern} in {self.db_dir} after {WAIT_SECONDS} s")
            time.sleep(POLL_SECONDS)
        return found[0]

    def started_pid(self):
        """Wait for a blocking test to say it started; return the pid of its process."""
        return int(self.wait_for_file("started-*").name.split("-", 1)[1])

    def assertProcessGone(self, pid):
        self.assertFalse(is_running(pid), f"process {pid} that ran the blocked test is still running")

    def interrupt_paused_run(self, process):
        """Ctrl-C a run paused on the release file, let it go on; check it failed cleanly."""
        os.kill(process.pid, signal.SIGINT)
        (self.db_dir / "release").touch()
        result = process.finish()
        self.assertEqual(result.returncode, 130, result)
        self.assertIn(INTERRUPTED, result.stderr, result)
        self.assertNotIn("Traceback", result.output, result)
        self.assertNoDatabaseFiles(result)
        return result


class WorkerDatabasesTests(ParallelShopTestCase):
    """Each worker uses its own clone of every database; mirrors read their primary's clone."""

    def expected_names(self, start_method, worker):
        """Return the NAME of each reported alias in worker number ``worker``."""
        names = {}
        for alias in ("default", "crm", "tenant_a"):
            if not self.in_memory:
                names[alias] = str(self.db_dir / f"test_{alias}_{worker}.sqlite3")
            elif start_method == "fork":
                # The worker inherits the main process's memory, name and all.
                names[alias] = f"file:memorydb_{alias}?mode=memory&cache=shared"
            else:
                names[alias] = f"file:memorydb_{alias}_{worker}?mode=memory&cache=shared"
        # The mirror reads its primary's clone.
        names["default_RO"] = names["default"]
        return names

    def check_worker_databases(self, start_method):
        result = self.manage(
            "test",
            f"{SCENARIOS}.WorkerNamesA",
            f"{SCENARIOS}.WorkerNamesB",
            "checks.test_all_aliases",
            "--parallel",
            "2",
            "--start-method",
            start_method,
        )
        self.assertPassed(result, tests=3)
        reports = self.reports()
        self.assertEqual(sorted(report["class"] for report in reports), ["WorkerNamesA", "WorkerNamesB"], reports)
        self.assertEqual([report["worker_id"] for report in reports], [1, 2], reports)
        self.assertNotEqual(reports[0]["pid"], reports[1]["pid"])
        for report in reports:
            with self.subTest(worker=report["worker_id"], test_class=report["class"]):
                self.assertEqual(report["names"], self.expected_names(start_method, report["worker_id"]))
                self.assertIs(report["mirror_sees_write"], True)
                # The crm models' tables exist in this worker's clone of crm.
                self.assertIs(report["legacy_tables_work"], True)
                self.assertIn("orders_order", report["default_tables"])
        self.assertNoDatabaseFiles(result)

    def check_whole_suite(self, start_method):
        result = self.manage("test", "--parallel", "2", "--start-method", start_method)
        self.assertPassed(result, tests=9)
        self.assertNoDatabaseFiles(result)

    def test_worker_databases_fork(self):
        self.check_worker_databases("fork")

    def test_worker_databases_spawn(self):
        self.check_worker_databases("spawn")

    def test_worker_databases_forkserver(self):
        self.check_worker_databases("forkserver")

    def test_whole_suite_fork(self):
        self.check_whole_suite("fork")

    def test_whole_suite_spawn(self):
        self.check_whole_suite("spawn")

    def test_whole_suite_forkserver(self):
        self.check_whole_suite("forkserver")


class InMemoryWorkerDatabasesTests(WorkerDatabasesTests):
    in_memory = True


class DeadWorkerTests(ParallelShopTestCase):
    """A worker process exits in the middle of a test: the run ends, failed, and says so."""

    def check_dead_worker(self, start_method):
        result = self.manage(
            "test",
            f"{SCENARIOS}.KillsItsWorker",
            f"{SCENARIOS}.Harmless",
            "--parallel",
            "2",
            "--start-method",
            start_method,
            SHOP_KILL_WORKER="1",
        )
        self.assertFailedWithErrors(
            result,
            "ERROR: test_exit_the_worker (parallel_checks.scenarios.KillsItsWorker",
            "WorkerProblem: A parallel test worker died while running "
            "parallel_checks.scenarios.KillsItsWorker.test_exit_the_worker, exit code 3",
        )
        self.assertIn("\nA parallel test worker died", result.stderr, result)
        self.assertNoDatabaseFiles(result)

    def test_dead_worker_fork(self):
        self.check_dead_worker("fork")

    def test_dead_worker_spawn(self):
        self.check_dead_worker("spawn")


class HungWorkerTests(ParallelShopTestCase):
    """A test blocks its worker: after --worker-timeout the run stops it and fails."""

    def test_hung_worker_is_stopped(self):
        started = time.monotonic()
        result = self.manage(
            "test",
            f"{SCENARIOS}.HangsItsWorker",
            f"{SCENARIOS}.Harmless",
            "--parallel",
            "2",
            "--worker-timeout",
            "3",
            SHOP_HANG_WORKER="1",
        )
        # The blocked test gives up after 90 s by itself: the runner stopped it well before.
        self.assertLess(time.monotonic() - started, 60, result)
        self.assertFailedWithErrors(
            result,
            "ERROR: test_block (parallel_checks.scenarios.HangsItsWorker",
            "WorkerProblem: Tests of HangsItsWorker were not reported by their worker: "
            "it did not finish within 3 seconds (hung worker).",
        )
        self.assertProcessGone(self.started_pid())
        self.assertNoDatabaseFiles(result)


class UnpicklableFailureTests(ParallelShopTestCase):
    """A test fails with an error that cannot be sent back from its worker."""

    labels = (f"{SCENARIOS}.UnpicklableFailure", f"{SCENARIOS}.Harmless", f"{SCENARIOS}.AlsoHarmless")

    def run_unpicklable(self):
        return self.manage("test", *self.labels, "--parallel", "2", SHOP_UNPICKLABLE_FAILURE="1")

    def test_failure_is_reported_and_the_run_fails(self):
        result = self.run_unpicklable()
        self.assertFailedWithErrors(
            result,
            "ERROR: test_fail_with_a_lambda_attached (parallel_checks.scenarios.UnpicklableFailure",
            "WorkerProblem: The outcome of this test could not be sent back from its worker (AttributeError: Can't ",
            # Django's explanation, printed by the worker.
            "the exception it raised cannot be pickled",
        )
        self.assertNoDatabaseFiles(result)

    def test_failure_is_reported_as_such_and_the_other_classes_run(self):
        result = self.run_unpicklable()
        self.assertFailedWithErrors(
            result,
            "run it with --parallel 1 to see it.",
        )
        # Not a worker that died: the test failed, and nothing else went wrong.
        self.assertNotIn("A parallel test worker died", result.stderr, result)
        self.assertIn("Ran 3 tests", result.stderr, result)
        self.assertIn("FAILED (errors=1)", result.stderr, result)


class InterruptTests(ParallelShopTestCase):
    """Ctrl-C while a test is running: exit code 130, no verdict of OK, nothing left behind."""

    def interrupt(self, *args, whole_group=False):
        process = self.start("test", f"{SCENARIOS}.WaitsForRelease", *args, SHOP_WAIT_FOR_RELEASE="1")
        test_pid = self.started_pid()
        if whole_group:
            # What a terminal does on Ctrl-C: signal the whole foreground group.
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, signal.SIGINT)
        # Let the test go on, should the run not stop it.
        (self.db_dir / "release").touch()
        result = process.finish()
        self.assertEqual(result.returncode, 130, result)
        self.assertIn(INTERRUPTED, result.stderr, result)
        self.assertNotRegex(result.stderr, PASSED, result)
        return result, test_pid

    def test_serial(self):
        result, _ = self.interrupt()
        self.assertNotIn("Traceback", result.output, result)
        self.assertNoDatabaseFiles(result)

    def test_parallel(self):
        result, test_pid = self.interrupt(f"{SCENARIOS}.Harmless", "--parallel", "2")
        self.assertNotIn("Traceback", result.output, result)
        self.assertProcessGone(test_pid)
        self.assertNoDatabaseFiles(result)

    def test_parallel_spawn_whole_group(self):
        result, test_pid = self.interrupt(
            f"{SCENARIOS}.Harmless", "--parallel", "2", "--start-method", "spawn", whole_group=True
        )
        self.assertProcessGone(test_pid)
        self.assertNoDatabaseFiles(result)


class InterruptDuringSetupTests(ParallelShopTestCase):
    """Ctrl-C while the test databases are being created."""

    def test_interrupt_between_two_databases(self):
        process = self.start("test", "checks.test_undeclared", "--noinput", "--no-lazy-setup", SHOP_PAUSE_IN_SETUP="1")
        self.started_pid()
        # default's test database exists by now; crm's is being set up.
        self.assertIn("test_default.sqlite3", self.database_files())
        result = self.interrupt_paused_run(process)
        self.assertNotIn("Ran ", result.stderr, result)

    def test_interrupt_while_a_database_is_set_up_on_first_use(self):
        # The first test (test_rolled_back_everywhere) uses tenant_a, then
        # tenant_b, then crm, whose set-up pauses: in the middle of the test.
        process = self.start("test", "checks.test_undeclared", "--noinput", SHOP_PAUSE_IN_SETUP="1")
        self.started_pid()
        files = self.database_files()
        self.assertIn("test_tenant_a.sqlite3", files)
        self.assertIn("test_crm.sqlite3", files)
        # The classes keep Django's default databases: default was set up before the tests, as stock does.
        self.assertIn("test_default.sqlite3", files)
        self.interrupt_paused_run(process)


class InterruptDuringTeardownTests(ParallelShopTestCase):
    """Ctrl-C while the test databases are being destroyed: the cleanup still completes."""

    def test_interrupt_between_two_destructions(self):
        runner = "shop.checking_runner.CheckingRunner"
        process = self.start(
            "test", "checks.test_undeclared", "--testrunner", runner, "--no-lazy-setup", SHOP_PAUSE_IN_TEARDOWN="1"
        )
        self.started_pid()
        self.assertNotIn("test_default.sqlite3", self.database_files())
        self.assertIn("test_crm.sqlite3", self.database_files())
        self.interrupt_paused_run(process)


class WorkerTracebackTests(ParallelShopTestCase):
    """A failure in a worker comes back with its whole traceback (tblib)."""

    def test_whole_traceback(self):
        for method in ("fork", "spawn"):
            with self.subTest(method=method):
                result = self.manage(
                    "test",
                    f"{SCENARIOS}.FailsWithTraceback",
                    f"{SCENARIOS}.Harmless",
                    "--parallel",
                    "2",
                    "--start-method",
                    method,
                    SHOP_FAILING_TEST="1",
                )
                self.assertEqual(result.returncode, 1, result)
                self.assertRegex(
                    result.stderr,
                    r'File ".*scenarios\.py", line \d+, in test_fails_deep\n\s+self\.check_the_orders\(\)',
                )
                self.assertRegex(result.stderr, r'File ".*scenarios\.py", line \d+, in check_the_orders')
                self.assertIn("AssertionError: 0 != 42 : deliberate failure", result.stderr)
                self.assertIn("FAILED (failures=1)", result.stderr)
                self.assertNoDatabaseFiles(result)


class KeepdbTests(ParallelShopTestCase):
    """--keepdb --parallel twice: clones follow the kept template's schema."""

    labels = (f"{SCENARIOS}.WorkerNamesA", f"{SCENARIOS}.WorkerNamesB")

    def kept_files(self):
        return sorted(f"test_{alias}{suffix}.sqlite3" for alias in ALIASES_WITH_FILES for suffix in ("", "_1", "_2"))

    def test_schema_change_reaches_every_clone(self):
        first = self.manage("test", *self.labels, "--keepdb", "--parallel", "2")
        self.assertPassed(first, tests=2)
        self.assertEqual(self.database_files(), self.kept_files(), first)
        self.assertEqual([report["worker_id"] for report in self.reports()], [1, 2])
        for report in self.reports():
            self.assertNotIn("parallel_extra_shipment", report["default_tables"])
        self.remove_reports()

        # A new migration between the runs: the kept template gets it, and so must the clones.
        second = self.manage("test", *self.labels, "--keepdb", "--parallel", "2", SHOP_EXTRA_TABLE="1")
        self.assertPassed(second, tests=2)
        self.assertEqual(self.database_files(), self.kept_files(), second)
        reports = self.reports()
        self.assertEqual([report["worker_id"] for report in reports], [1, 2])
        for report in reports:
            with self.subTest(worker=report["worker_id"]):
                self.assertIn("parallel_extra_shipment", report["default_tables"])
                self.assertIs(report["legacy_tables_work"], True)
        for suffix in ("", "_1", "_2"):
            with self.subTest(suffix=suffix):
                self.assertIn("parallel_extra_shipment", sqlite_tables(self.db_dir / f"test_default{suffix}.sqlite3"))
                self.assertLessEqual(
                    {"ACCOUNTS", "CONTACTS", "CONTACTS_accounts_followed"},
                    sqlite_tables(self.db_dir / f"test_crm{suffix}.sqlite3"),
                )
        self.remove_reports()

        # Without --keepdb (and told not to ask) the kept databases and clones are destroyed.
        third = self.manage("test", *self.labels, "--noinput", "--parallel", "2", SHOP_EXTRA_TABLE="1")
        self.assertPassed(third, tests=2)
        self.assertNoDatabaseFiles(third)


class CrashedRunTests(ParallelShopTestCase):
    """The main process is killed (kill -9) while a worker runs a test."""

    def crash(self):
        """Start a run with 3 workers, kill its main process mid-test; return the run and the blocked worker."""
        labels = (f"{SCENARIOS}.WaitsForRelease", f"{SCENARIOS}.Harmless", f"{SCENARIOS}.AlsoHarmless")
        process = self.start("test", *labels, "--parallel", "3", SHOP_WAIT_FOR_RELEASE="1")
        worker = self.started_pid()
        os.kill(process.pid, signal.SIGKILL)
        process.wait_for_death_unreaped()
        return process, worker

    def test_rerun_after_the_main_process_was_killed(self):
        process, _ = self.crash()
        left = self.database_files()
        for suffix in ("", "_1", "_2", "_3"):
            self.assertIn(f"test_default{suffix}.sqlite3", left)
        process.kill_group()
        crashed = process.finish()
        self.assertEqual(crashed.returncode, -signal.SIGKILL, crashed)
        for marker in self.db_dir.glob("started-*"):
            marker.unlink()

        # The leftovers (the template, clones 1 to 3, a journal) are no obstacle.
        result = self.manage("test", "--noinput", "--parallel", "2")
        self.assertPassed(result, tests=9)
        self.assertNoDatabaseFiles(result)

    def test_workers_end_when_the_main_process_was_killed(self):
        process, worker = self.crash()
        (self.db_dir / "release").touch()
        # Once its test is over, a worker whose main process is gone has nothing
        # left to do; left running, it would hold its clone open for good.
        deadline = time.monotonic() + ORPHAN_SECONDS
        while is_running(worker) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        still_running = is_running(worker)
        process.kill_group()
        process.finish()
        self.assertFalse(
            still_running, f"worker {worker} still runs {ORPHAN_SECONDS} s after its main process was killed"
        )
