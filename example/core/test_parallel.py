"""
What each parallel worker sees (run with ``--parallel 2``; also passes serially).

Stock DiscoverRunner under ``--parallel``: every alias gets a clone per worker,
but a ``TEST['MIRROR']`` alias keeps reading the un-cloned database (or its own
in-memory copy on Django 6.1), so a read through the replica misses what the
test wrote; under spawn or forkserver the workers also lose every change a
custom runner made in the main process. Here each worker's aliases all point at
that worker's clones, the replica at its primary's clone.
"""

from django.db import connections
from django.test import TestCase

from core.models import Organizer
from legacy.models import Account


class WorkerDatabasesTests(TestCase):
    def test_replica_reads_this_workers_clone(self):
        self.assertEqual(connections["default_RO"].settings_dict["NAME"], connections["default"].settings_dict["NAME"])
        Organizer.objects.create(name="Ada")
        # The router reads organizers from default_RO.
        self.assertEqual(list(Organizer.objects.values_list("name", flat=True)), ["Ada"])

    def test_legacy_tables_exist_in_every_clone(self):
        Account.objects.create(acronym="PAR", accountname="Parallel Ltd")
        self.assertEqual(Account.objects.count(), 1)
