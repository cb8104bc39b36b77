"""
A class that declares only the replica, and writes through it.

Stock Django does not set up ``default`` for it, so the replica keeps
pointing at the real default database, and this write lands there. Under
the runner the replica is read-only, as in production, unless the project
says it is writable (SHOP_WRITABLE_REPLICA=1 sets TEST['READ_ONLY'] = False):
then the write lands in default's test database.
"""

from django.db import DatabaseError
from django.test import TransactionTestCase
from orders.models import Order


class ReplicaOnlyTests(TransactionTestCase):
    databases = {"default_RO"}

    def test_write_through_replica(self):
        try:
            Order.objects.using("default_RO").create(reference="through replica")
        except DatabaseError as error:
            print(f"WRITE REFUSED: {type(error).__name__}: {error}")
            self.assertEqual(Order.objects.using("default_RO").count(), 0)
            return
        print("WRITE ACCEPTED")
        self.assertEqual(Order.objects.using("default_RO").count(), 1)
