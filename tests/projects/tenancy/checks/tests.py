"""Every tenant's test database has what a migrate gives it, however it was made."""

import os
import threading

from catalog.models import Product
from django.db import connections
from django.test import TestCase, TransactionTestCase
from ledger.models import Currency, Entry

MIGRATIONS = os.environ.get("TENANCY_MIGRATIONS", "canonical")
TENANTS = ["tenant_1", "tenant_2", "tenant_3"]


class TenantSchemaTests(TestCase):
    """Keeps Django's default ``databases``: the runner gives it every alias."""

    def test_every_tenant_has_the_rows_of_its_data_migration(self):
        for alias in TENANTS:
            extra = ["XTR"] if MIGRATIONS == "names_alias" and alias == "tenant_1" else []
            codes = sorted(Currency.objects.using(alias).values_list("code", flat=True))
            self.assertEqual(codes, sorted(["EUR", "USD", *extra]), alias)

    def test_every_tenant_has_the_latest_schema(self):
        for alias in TENANTS:
            euro = Currency.objects.using(alias).get(code="EUR")
            entry = Entry.objects.using(alias).create(currency=euro, amount=1, memo=alias)
            self.assertEqual(Entry.objects.using(alias).get(pk=entry.pk).memo, alias)

    def test_the_tenants_have_the_same_tables(self):
        tables = {alias: sorted(connections[alias].introspection.table_names()) for alias in TENANTS}
        self.assertIn("ledger_entry", tables["tenant_1"])
        self.assertNotIn("catalog_product", tables["tenant_1"])
        self.assertEqual(tables["tenant_2"], tables["tenant_1"])
        self.assertEqual(tables["tenant_3"], tables["tenant_1"])

    def test_the_currency_columns_are_those_of_the_migrations(self):
        # The "extended" migrations (another branch) add a column; the others do not have it.
        for alias in TENANTS:
            with connections[alias].cursor() as cursor:
                columns = [
                    column.name
                    for column in connections[alias].introspection.get_table_description(cursor, "ledger_currency")
                ]
            self.assertEqual("name" in columns, MIGRATIONS == "extended", alias)

    def test_the_archive_has_a_schema_of_its_own(self):
        tables = connections["archive"].introspection.table_names()
        self.assertIn("ledger_currency", tables)
        self.assertNotIn("ledger_entry", tables)
        self.assertEqual(Currency.objects.using("archive").count(), 2)

    def test_what_the_tenant_migrations_wrote_to_default(self):
        # One product per ledger migration run: the tenants and the archive.
        expected = 4 if MIGRATIONS == "writes_elsewhere" else 0
        self.assertEqual(Product.objects.using("default").count(), expected)


class TenantWritesTests(TransactionTestCase):
    #: Whether its test ran in this process (a parallel run may give it to another worker).
    ran = False

    def test_rows_written_to_two_tenants_stay_apart(self):
        TenantWritesTests.ran = True
        for alias in ("tenant_2", "tenant_3"):
            Entry.objects.using(alias).create(currency=Currency.objects.using(alias).get(code="USD"), amount=2)
        self.assertEqual(Entry.objects.using("tenant_2").count(), 1)
        self.assertEqual(Entry.objects.using("tenant_3").count(), 1)


class UntouchedTenantTests(TransactionTestCase):
    """
    Runs after ``TenantWritesTests`` (classes run in name order), which wrote to tenant_2 and tenant_3 only.

    Both classes may use every alias. A tenant no test wrote to was not
    flushed: it holds what its migrate gave it, as under stock Django when
    classes declare what they use.
    """

    def test_an_untouched_tenant_keeps_the_rows_of_its_data_migration(self):
        extra = ["XTR"] if MIGRATIONS == "names_alias" else []
        codes = sorted(Currency.objects.using("tenant_1").values_list("code", flat=True))
        self.assertEqual(codes, sorted(["EUR", "USD", *extra]))
        # Written by TenantWritesTests, then flushed as under stock Django: the currencies went too.
        if TenantWritesTests.ran:
            self.assertEqual(Currency.objects.using("tenant_2").count(), 0)


if os.environ.get("TENANCY_STRAY_WRITE"):

    class ThreadWriteTests(TestCase):
        """A TestCase whose thread commits a row to archive on a connection of its own: never rolled back."""

        def test_a_thread_commits_a_row(self):
            def write():
                try:
                    Currency.objects.using("archive").create(code="THR")
                finally:
                    connections.close_all()

            thread = threading.Thread(target=write)
            thread.start()
            thread.join()
            self.assertEqual(Currency.objects.using("archive").filter(code="THR").count(), 1)
