"""
A class that declares only the replica.

Stock Django does not set up ``default`` for it, so the replica keeps
pointing at the real default database, and this write lands there.
"""

from django.test import TransactionTestCase
from orders.models import Order


class ReplicaOnlyTests(TransactionTestCase):
    databases = {"default_RO"}

    def test_write_through_replica(self):
        Order.objects.using("default_RO").create(reference="through replica")
        self.assertEqual(Order.objects.using("default_RO").count(), 1)
