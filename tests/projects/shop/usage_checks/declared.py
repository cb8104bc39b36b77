"""
Classes for --report-db-usage: one declares an alias it never uses, one keeps the default.

Run by label: the file name keeps them out of the whole suite's discovery.
"""

from django.db import connections
from django.test import TestCase, TransactionTestCase
from orders.models import Order
from tenants.models import Invoice


class OverDeclaredTests(TestCase):
    databases = {"default", "tenant_a", "tenant_b"}

    @classmethod
    def setUpTestData(cls):
        Invoice.objects.using("tenant_b").create(number=1)

    def test_default_only(self):
        Order.objects.create(reference="U1")
        self.assertEqual(Order.objects.using("default").count(), 1)
        # Not a use of tenant_a: no statement runs there.
        self.assertIsNotNone(connections["tenant_a"].settings_dict["NAME"])


class UndeclaredReaderTests(TransactionTestCase):
    def test_reads_crm_through_a_raw_cursor(self):
        with connections["crm"].cursor() as cursor:
            cursor.execute("SELECT 1")
            self.assertEqual(cursor.fetchone(), (1,))
