"""
TestCase transactions opened on an alias at its first use behave like Django's own.

Every check here passes under stock Django's TestCase too, except that an
alias a class never uses stays unconnected (LAZY_TRANSACTIONS only). Classes
whose checks must run as the first use of an alias do so in two tests, so
that one is the first use in the class and the other the first use in a test
whose class already opened the alias; each test also proves that the other
one's writes were rolled back. After each class, nothing may be left on any
alias.
"""

from django.db import connections, reset_queries, transaction
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext

from tests.isolationapp.models import Child, Parent, Tag
from tests.legacyapp.models import Region

from .support import NothingSurvivesTheClassMixin, close_connections, is_in_memory, runner_option

ALL_ALIASES = ("default", "replica", "other", "legacy")


def names(alias, model=Parent):
    """Return the names (codes, for regions) of ``model``'s rows on ``alias``, sorted."""
    field = "code" if model is Region else "name"
    return sorted(model.objects.using(alias).values_list(field, flat=True))


class SetUpTestDataTests(NothingSurvivesTheClassMixin, TestCase):
    """Class data on aliases first touched in setUpTestData: visible in every test, then gone."""

    @classmethod
    def setUpTestData(cls):
        cls.other_parent = Parent.objects.using("other").create(name="class data")
        Child.objects.using("other").create(parent=cls.other_parent, name="class child")
        Parent.objects.create(name="class data")
        Region.objects.create(code="CLS")

    def check_class_data_then_write(self):
        self.assertEqual(names("other"), ["class data"])
        self.assertEqual(names("default"), ["class data"])
        self.assertEqual(names("replica"), ["class data"])
        self.assertEqual(names("legacy", Region), ["CLS"])
        self.assertEqual(self.other_parent.children.get().name, "class child")
        Parent.objects.using("other").create(name="test data")
        Tag.objects.create(name="test data")
        Region.objects.create(code="TST")
        self.other_parent.name = "changed by a test"
        self.other_parent.save()
        self.assertEqual(names("other"), ["changed by a test", "test data"])

    def test_1(self):
        self.check_class_data_then_write()

    def test_2(self):
        self.check_class_data_then_write()


class AliasFirstUsedInALaterTestTests(NothingSurvivesTheClassMixin, TestCase):
    """``other`` is first used by the second test: its writes are rolled back before the third."""

    @classmethod
    def setUpTestData(cls):
        Parent.objects.create(name="class data")

    def test_1_default_only(self):
        self.assertEqual(names("default"), ["class data"])
        Parent.objects.create(name="test 1")

    def check_other_then_write(self):
        self.assertEqual(names("default"), ["class data"])
        self.assertEqual(names("other"), [])
        Parent.objects.using("other").create(name="test data")
        self.assertEqual(names("other"), ["test data"])

    def test_2_other_first_used(self):
        self.check_other_then_write()

    def test_3_other_again(self):
        self.check_other_then_write()


class FirstUseChecks:
    """Run ``first_use()`` as the first database statement of two tests of a class."""

    def test_1_first_use_in_the_class(self):
        self.first_use()

    def test_2_first_use_in_the_test(self):
        self.first_use()


class GetRollbackFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        self.assertIs(transaction.get_rollback(using="other"), False)
        Parent.objects.using("other").create(name="written")
        self.assertEqual(names("other"), ["written"])


class SetRollbackFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        transaction.set_rollback(True, using="legacy")
        self.assertIs(transaction.get_rollback(using="legacy"), True)
        transaction.set_rollback(False, using="legacy")
        Region.objects.create(code="RB")
        self.assertEqual(names("legacy", Region), ["RB"])


class OnCommitFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        called = []
        transaction.on_commit(lambda: called.append("queued"), using="other")
        self.assertEqual(called, [])
        with self.captureOnCommitCallbacks(using="legacy") as legacy_callbacks:
            transaction.on_commit(lambda: called.append("legacy"), using="legacy")
        self.assertEqual(len(legacy_callbacks), 1)
        with self.captureOnCommitCallbacks(using="other", execute=True) as other_callbacks:
            transaction.on_commit(lambda: called.append("captured"), using="other")
        self.assertEqual(len(other_callbacks), 1)
        self.assertEqual(called, ["captured"])
        Parent.objects.using("other").create(name="written")
        self.assertEqual(names("other"), ["written"])


class InAtomicBlockFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        self.assertIs(connections["other"].in_atomic_block, True)
        for alias in ALL_ALIASES:
            self.assertIs(connections[alias].in_atomic_block, True, alias)
        Parent.objects.using("other").create(name="written")
        self.assertEqual(names("other"), ["written"])


class GetAutocommitFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        self.assertIs(connections["other"].get_autocommit(), False)
        Parent.objects.using("other").create(name="written")
        self.assertEqual(names("other"), ["written"])


class AtomicFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        with transaction.atomic(using="other"):
            Parent.objects.using("other").create(name="committed block")
        with transaction.atomic(using="other"):
            Parent.objects.using("other").create(name="rolled back block")
            transaction.set_rollback(True, using="other")
        self.assertEqual(names("other"), ["committed block"])


class DurableAtomicFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        with transaction.atomic(using="other", durable=True):
            Parent.objects.using("other").create(name="durable")
        self.assertEqual(names("other"), ["durable"])
        message = "A durable atomic block cannot be nested within another atomic block."
        with transaction.atomic(using="other"), self.assertRaisesMessage(RuntimeError, message):
            with transaction.atomic(using="other", durable=True):
                pass


#: Django 6.1 renamed savepoint() to savepoint_create().
savepoint_create = getattr(transaction, "savepoint_create", None) or transaction.savepoint


class SavepointFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        savepoint = savepoint_create(using="other")
        self.assertIsNotNone(savepoint)
        Parent.objects.using("other").create(name="undone")
        transaction.savepoint_rollback(savepoint, using="other")
        Parent.objects.using("other").create(name="kept")
        self.assertEqual(names("other"), ["kept"])


class AssertNumQueriesFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        with self.assertNumQueries(1, using="other"):
            Parent.objects.using("other").create(name="counted")
        with self.assertNumQueries(1, using="default"):
            self.assertEqual(Parent.objects.count(), 0)
        with self.assertNumQueries(1, using="other"):
            self.assertEqual(Parent.objects.using("other").count(), 1)


class CapturedQueriesFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        with CaptureQueriesContext(connections["legacy"]) as captured:
            Region.objects.create(code="CQ")
        self.assertEqual(len(captured.captured_queries), 1, captured.captured_queries)
        self.assertIn("legacy_region", captured.captured_queries[0]["sql"])


class ExecuteWrapperFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        seen = []

        def record(execute, sql, params, many, context):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connections["other"].execute_wrapper(record):
            Parent.objects.using("other").create(name="wrapped")
        self.assertEqual(len(seen), 1, seen)
        self.assertIn("isolationapp_parent", seen[0])


class DebugQueriesFirstTests(FirstUseChecks, NothingSurvivesTheClassMixin, TestCase):
    def first_use(self):
        with override_settings(DEBUG=True):
            reset_queries()
            Parent.objects.using("other").create(name="logged")
            self.assertEqual(Parent.objects.using("other").count(), 1)
            logged = [query["sql"] for query in connections["other"].queries]
        transaction_statements = [
            sql for sql in logged if sql.upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN", "START TRANSACTION"))
        ]
        self.assertEqual(transaction_statements, [])
        # Opening the connection may log the backend's SET statements
        # (MariaDB's isolation level); the test's own queries are the rest.
        own = [sql for sql in logged if not sql.upper().startswith("SET ")]
        self.assertEqual(len(own), 2, logged)


class MirrorReadTests(NothingSurvivesTheClassMixin, TestCase):
    def test_replica_reads_what_default_wrote(self):
        Parent.objects.create(name="written through default")
        self.assertEqual(names("replica"), ["written through default"])

    def test_replica_used_before_default(self):
        self.assertEqual(names("replica"), [])
        Parent.objects.create(name="written after the read")
        self.assertEqual(names("replica"), ["written after the read"])

    def test_default_reads_what_a_writable_mirror_wrote(self):
        Parent.objects.using("replica2").create(name="written through replica2")
        self.assertEqual(names("default"), ["written through replica2"])


class UnusedAliasNotConnectedTests(NothingSurvivesTheClassMixin, TestCase):
    """A class that uses only ``default`` never connects ``other`` or ``legacy``."""

    @classmethod
    def setUpClass(cls):
        # As after any earlier TestCase class, whose tearDownClass closes them.
        close_connections()
        super().setUpClass()

    @classmethod
    def setUpTestData(cls):
        Parent.objects.create(name="class data")

    def setUp(self):
        super().setUp()
        if not runner_option("LAZY_TRANSACTIONS"):
            self.skipTest("MULTIDB_RUNNER['LAZY_TRANSACTIONS'] is False: every alias is connected, as in stock Django.")
        if is_in_memory("other") or is_in_memory("legacy"):
            self.skipTest("In-memory SQLite connections are never closed.")

    def check_only_default_connected(self):
        self.assertIsNone(connections["other"].connection)
        self.assertIsNone(connections["legacy"].connection)
        self.assertEqual(names("default"), ["class data"])
        Parent.objects.create(name="test data")
        self.assertIsNotNone(connections["default"].connection)
        self.assertIsNone(connections["other"].connection)
        self.assertIsNone(connections["legacy"].connection)

    def test_1(self):
        self.check_only_default_connected()

    def test_2(self):
        self.check_only_default_connected()


class FixturesOnEveryAliasTests(NothingSurvivesTheClassMixin, TestCase):
    fixtures = ["isolation_rows"]

    def check_fixture_then_write(self):
        for alias in ("default", "other"):
            self.assertEqual(names(alias), ["fixture parent"])
            Parent.objects.using(alias).create(name="test data")

    def test_1(self):
        self.check_fixture_then_write()

    def test_2(self):
        self.check_fixture_then_write()
