"""
Reads through the replica inside a TestCase.

The class declares its aliases so that stock Django fails for the mirror
alone: the replica has a connection of its own that cannot see the test's
uncommitted writes (ticket #23718), or on in-memory SQLite, "database table
is locked".
"""

from django.db import connections
from django.test import TestCase
from orders.models import Order


class ReplicaReadsTests(TestCase):
    databases = {"default", "default_RO"}

    def test_router_reads_from_replica_and_sees_the_write(self):
        Order.objects.create(reference="R1")
        self.assertEqual(Order.objects.all().db, "default_RO")
        self.assertEqual(list(Order.objects.values_list("reference", flat=True)), ["R1"])

    def test_replica_uses_primary_settings(self):
        replica, primary = connections["default_RO"].settings_dict, connections["default"].settings_dict
        self.assertEqual(replica["NAME"], primary["NAME"])
        self.assertEqual(replica["OPTIONS"], primary["OPTIONS"])
