"""Unit tests of the pure parts of the worker machinery."""

from unittest import TestCase

from multidb_runner.parallel.worker import worker_number


class WorkerNumberTests(TestCase):
    def test_first_workers_get_their_own_clone(self):
        self.assertEqual([worker_number(started, 3) for started in (1, 2, 3)], [1, 2, 3])

    def test_replacement_workers_reuse_an_existing_clone(self):
        self.assertEqual([worker_number(started, 3) for started in (4, 5, 6, 7)], [1, 2, 3, 1])
        self.assertEqual(worker_number(10, 1), 1)


class MarkStartedTests(TestCase):
    """Classes sent ahead wait for a worker: only the first ``processes`` in flight are running."""

    def test_first_in_flight_are_running(self):
        from types import SimpleNamespace

        from multidb_runner.parallel.suite import MultiDBParallelTestSuite

        running = {"a": (0, 5.0), "b": (1, None), "c": (2, None), "d": (3, None)}
        MultiDBParallelTestSuite.mark_started(SimpleNamespace(processes=2), running)
        self.assertEqual(running["a"], (0, 5.0))
        self.assertIsNotNone(running["b"][1])
        self.assertEqual((running["c"], running["d"]), ((2, None), (3, None)))
