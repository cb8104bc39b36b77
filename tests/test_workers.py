"""Unit tests of the pure parts of the worker machinery."""

from unittest import TestCase

from multidb_runner.workers import worker_number


class WorkerNumberTests(TestCase):
    def test_first_workers_get_their_own_clone(self):
        self.assertEqual([worker_number(started, 3) for started in (1, 2, 3)], [1, 2, 3])

    def test_replacement_workers_reuse_an_existing_clone(self):
        self.assertEqual([worker_number(started, 3) for started in (4, 5, 6, 7)], [1, 2, 3, 1])
        self.assertEqual(worker_number(10, 1), 1)
