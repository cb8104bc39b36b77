"""
Tests that run inside MultiDBRunner itself, without declaring ``databases``.

Under stock DiscoverRunner every test here that touches an alias other than
``default`` fails with DatabaseOperationForbidden.
"""

from django.db import connections
from django.test import TestCase, TransactionTestCase

from tests.legacyapp.models import Customer, Region
from tests.testapp.models import Author, AuthorStats


class UndeclaredTestCase(TestCase):
    def assert_empty_then_write_everywhere(self):
        # Whichever of the two tests below runs second sees what the first rolled back.
        self.assertEqual(Author.objects.using("other").count(), 0)
        self.assertEqual(Author.objects.count(), 0)
        Author.objects.using("other").create(name="on other")
        Author.objects.create(name="on default")
        self.assertEqual(Author.objects.using("other").count(), 1)
        self.assertEqual(Author.objects.count(), 1)

    def test_every_alias_is_usable(self):
        self.assert_empty_then_write_everywhere()

    def test_rollback_on_every_alias(self):
        self.assert_empty_then_write_everywhere()

    def test_mirror_reads_uncommitted_primary_writes(self):
        Author.objects.create(name="written through default")
        self.assertEqual(
            list(Author.objects.using("replica").values_list("name", flat=True)), ["written through default"]
        )

    def test_mirror_uses_primary_connection_settings(self):
        for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS"):
            self.assertEqual(connections["replica"].settings_dict[key], connections["default"].settings_dict[key])
        self.assertEqual(connections["replica"].settings_dict["TEST"]["MIRROR"], "default")

    def test_legacy_tables_exist_on_their_database(self):
        region = Region.objects.create(code="EU")
        customer = Customer.objects.create(name="ACME", region=region)
        customer.regions_served.add(region)
        self.assertEqual(Customer.objects.using("legacy").get().regions_served.get(), region)

    def test_view_made_by_migration_is_left_alone(self):
        author = Author.objects.create(name="Ann")
        author.book_set.create(title="One")
        self.assertEqual(AuthorStats.objects.get().books, 1)


class UndeclaredTransactionTestCase(TransactionTestCase):
    """Whichever test runs second finds every alias flushed after the first, in any order."""

    def assert_empty_then_write_everywhere(self):
        self.assertFalse(Author.objects.using("other").exists())
        self.assertFalse(Author.objects.exists())
        self.assertFalse(Region.objects.exists())
        Author.objects.using("other").create(name="x")
        Author.objects.create(name="y")
        Region.objects.create(code="US")
        self.assertEqual((Author.objects.using("other").count(), Region.objects.count()), (1, 1))

    def test_writes_everywhere(self):
        self.assert_empty_then_write_everywhere()

    def test_nothing_left_behind(self):
        self.assert_empty_then_write_everywhere()


class DeclaredDefaultOnly(TestCase):
    """An explicit declaration is kept: the other aliases stay forbidden."""

    databases = {"default"}

    def test_other_alias_is_forbidden(self):
        from django.test.testcases import DatabaseOperationForbidden

        with self.assertRaisesMessage(DatabaseOperationForbidden, "Database queries to 'other' are not allowed"):
            Author.objects.using("other").count()

    def test_mirror_not_declared_is_forbidden(self):
        from django.test.testcases import DatabaseOperationForbidden

        with self.assertRaisesMessage(DatabaseOperationForbidden, "Database queries to 'replica' are not allowed"):
            Author.objects.using("replica").count()
        # The primary is not affected by the mirror's guard.
        self.assertEqual(Author.objects.count(), 0)


class DeclaredReplicaOnly(TransactionTestCase):
    """A class that may use the replica may use (and isolates) its primary."""

    databases = {"replica2"}

    def assert_empty_then_write_through_the_replica(self):
        # A mirror of a mirror brings the end of its chain.
        self.assertEqual(type(self).databases, frozenset({"replica2", "default"}))
        # Whichever test runs second finds default flushed after the first
        # (replica2 is the suite's writable mirror).
        self.assertEqual(Author.objects.using("default").count(), 0)
        Author.objects.using("replica2").create(name="via replica2")
        self.assertEqual(Author.objects.using("default").count(), 1)

    def test_write_through_the_replica(self):
        self.assert_empty_then_write_through_the_replica()

    def test_flushed(self):
        self.assert_empty_then_write_through_the_replica()


class AllAliases(TestCase):
    databases = "__all__"

    def test_expanded(self):
        self.assertEqual(type(self).databases, frozenset(connections))
        Author.objects.using("other").create(name="x")


class MirrorQueriesInPrimaryLog(TestCase):
    def test_mirror_queries_count_on_the_shared_connection(self):
        with self.assertNumQueries(2, using="default"):
            Author.objects.count()
            Author.objects.using("replica").count()
