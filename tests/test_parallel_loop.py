"""
Unit tests of the parallel suite's loop: which test a dead worker is blamed for, without processes.

The end-to-end runs (``test_parallel_end_to_end.py``, the fault suite) kill
real workers; these feed ``blame_dead_workers`` the data the suite gathers
when the pool breaks (exit codes by pid, what each worker's slot showed)
and check the errors and the line printed.
"""

from __future__ import annotations

import signal

from django.test import SimpleTestCase

from multidb_runner.parallel.dead_workers import (
    Blame,
    ClassTests,
    blame_dead_workers,
    dead_worker_pids,
    describe_exit_code,
)

SIGKILL = -signal.SIGKILL
SIGTERM = -signal.SIGTERM

ORDERS = ClassTests(
    "OrderTests", ("shop.tests.OrderTests.test_a", "shop.tests.OrderTests.test_b", "shop.tests.OrderTests.test_c")
)
TENANTS = ClassTests("TenantTests", ("shop.tests.TenantTests.test_x", "shop.tests.TenantTests.test_y"))
REPORTS = ClassTests("ReportTests", ("shop.tests.ReportTests.test_z",))
CLASSES = {0: ORDERS, 1: TENANTS, 2: REPORTS}


class DeadWorkerPidsTests(SimpleTestCase):
    def test_the_worker_not_ended_by_the_pool_died(self):
        self.assertEqual(dead_worker_pids({100: SIGKILL, 101: SIGTERM}), [100])

    def test_a_worker_terminated_by_someone_else_counts_when_all_were(self):
        self.assertEqual(dead_worker_pids({100: SIGTERM, 101: SIGTERM}), [100, 101])

    def test_a_clean_exit_is_no_death(self):
        self.assertEqual(dead_worker_pids({100: 0, 101: 3}), [101])
        self.assertEqual(dead_worker_pids({100: 0}), [])


class BlameDeadWorkersTests(SimpleTestCase):
    def test_the_test_the_dead_worker_was_running_is_blamed(self):
        # Worker 100 died in OrderTests.test_b; 101 ran TenantTests and was
        # terminated by the pool; ReportTests waited.
        verdict = blame_dead_workers(
            unreported=[0, 1, 2],
            classes=CLASSES,
            exit_codes={100: SIGKILL, 101: SIGTERM},
            running={100: (0, 1), 101: (1, 0)},
            workers_started=2,
        )
        message = (
            "A parallel test worker died while running shop.tests.OrderTests.test_b, exit code -9 (killed by SIGKILL)"
        )
        self.assertEqual(verdict.blames, [Blame(0, 1, f"{message}.")])
        self.assertEqual(
            verdict.summary,
            f"{message}; 5 tests did not run (1 of them ran before it in that worker; their outcomes were lost). "
            "Stopping the run.",
        )

    def test_one_test_not_run_is_counted_in_the_singular(self):
        verdict = blame_dead_workers([1], CLASSES, {100: 3}, {100: (1, 0)}, 1)
        self.assertEqual(
            verdict.summary,
            "A parallel test worker died while running shop.tests.TenantTests.test_x, exit code 3; "
            "1 test did not run. Stopping the run.",
        )

    def test_the_classes_waiting_did_not_run(self):
        verdict = blame_dead_workers([2, 1], CLASSES, {100: 3}, {100: (2, 0), 101: (1, 1)}, 2)
        self.assertEqual(verdict.blames, [Blame(2, 0, verdict.summary.split(";")[0] + ".")])
        self.assertTrue(verdict.summary.endswith("; 2 tests did not run. Stopping the run."), verdict.summary)

    def test_a_worker_dead_before_its_first_test_blames_its_class(self):
        verdict = blame_dead_workers([1, 0], CLASSES, {100: SIGKILL}, {100: (1, -1)}, 1)
        self.assertEqual(
            verdict.blames,
            [
                Blame(
                    1,
                    None,
                    "Tests of TenantTests were not reported by their worker: "
                    "its worker died before its first test (exit code -9 (killed by SIGKILL)).",
                )
            ],
        )
        self.assertEqual(
            verdict.summary,
            "A parallel test worker died while running TenantTests, exit code -9 (killed by SIGKILL); "
            "3 tests did not run. Stopping the run.",
        )

    def test_each_dead_worker_is_a_line(self):
        verdict = blame_dead_workers([0, 1], CLASSES, {100: 3, 101: 4}, {100: (0, 0), 101: (1, 1)}, 2)
        self.assertEqual([(blame.index, blame.test) for blame in verdict.blames], [(0, 0), (1, 1)])
        self.assertEqual(
            verdict.summary,
            "A parallel test worker died while running shop.tests.OrderTests.test_a, exit code 3;\n"
            "A parallel test worker died while running shop.tests.TenantTests.test_y, exit code 4; "
            "3 tests did not run (1 of them ran before it in that worker; their outcomes were lost). "
            "Stopping the run.",
        )

    def test_a_slot_showing_a_reported_class_blames_nothing_in_it(self):
        # The dead worker's slot still shows class 2, already reported: it died between classes.
        verdict = blame_dead_workers([0, 1], CLASSES, {100: SIGKILL, 101: SIGTERM}, {100: (2, 0)}, 2)
        why = (
            "were not reported by their worker: a worker process died between test classes "
            "(exit code -9 (killed by SIGKILL))."
        )
        self.assertEqual(
            verdict.blames,
            [Blame(0, None, f"Tests of OrderTests {why}"), Blame(1, None, f"Tests of TenantTests {why}")],
        )
        self.assertEqual(
            verdict.summary,
            "A parallel test worker died (exit code -9 (killed by SIGKILL)): "
            "a worker process died between test classes. Stopping the run.",
        )

    def test_a_worker_that_never_started_blames_every_class(self):
        verdict = blame_dead_workers([0, 1], CLASSES, {100: 1}, {}, 0)
        message = (
            "Tests of OrderTests were not reported by their worker: "
            "a worker process failed to start; see its traceback above (exit code 1)."
        )
        self.assertEqual(verdict.blames[0], Blame(0, None, message))
        self.assertEqual(len(verdict.blames), 2)
        self.assertEqual(
            verdict.summary,
            "A parallel test worker died (exit code 1): "
            "a worker process failed to start; see its traceback above. Stopping the run.",
        )

    def test_a_worker_whose_initializer_failed_exits_with_status_zero(self):
        verdict = blame_dead_workers([0], CLASSES, {100: 0, 101: SIGTERM}, {}, 2)
        self.assertEqual(
            verdict.blames,
            [
                Blame(
                    0,
                    None,
                    "Tests of OrderTests were not reported by their worker: "
                    "a worker process failed to start; see its traceback above.",
                )
            ],
        )
        self.assertEqual(
            verdict.summary,
            "A parallel test worker died: a worker process failed to start; see its traceback above. Stopping the run.",
        )


class DescribeExitCodeTests(SimpleTestCase):
    def test_signals_are_named(self):
        self.assertEqual(describe_exit_code(SIGKILL), "-9 (killed by SIGKILL)")
        self.assertEqual(describe_exit_code(7), "7")
