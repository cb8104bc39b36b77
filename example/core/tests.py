"""
Core models: written to ``default``, read by the router from ``default_RO``.

None of these classes declares ``databases``; MultiDBRunner lets them use
every alias. The comments say what Django's stock DiscoverRunner does.
"""

from datetime import date

from django.db import connections
from django.test import TestCase, TransactionTestCase, skipUnlessDBFeature

from legacy.models import Account, Conference, Topic
from tenants.context import tenant
from tenants.models import Attendee

from .models import Event, Organizer


class ReplicaReadsTests(TestCase):
    # Stock DiscoverRunner: TestCase.databases is {"default"}, so every read the
    # router sends to default_RO raises DatabaseOperationForbidden. Declaring
    # databases = {"default", "default_RO"} is not enough either: the mirror
    # gets its own connection, which cannot see this test's uncommitted writes
    # (Django ticket #23718), so the reads below find nothing.

    @classmethod
    def setUpTestData(cls):
        cls.organizer = Organizer.objects.create(name="Acme Events")

    def test_write_to_default_read_from_replica(self):
        created = Organizer.objects.create(name="Globex Live")
        self.assertEqual(created._state.db, "default")
        found = Organizer.objects.get(name="Globex Live")
        self.assertEqual(found._state.db, "default_RO")
        self.assertEqual(found.pk, created.pk)

    def test_replica_sees_set_up_test_data(self):
        self.assertQuerySetEqual(Organizer.objects.all(), [self.organizer])

    def test_relation_between_replica_and_primary_objects(self):
        organizer = Organizer.objects.get(pk=self.organizer.pk)  # read from default_RO
        # allow_relation counts default_RO as default, so this is allowed.
        event = Event.objects.create(organizer=organizer, title="Launch", starts_on=date(2025, 5, 1))
        self.assertEqual(event._state.db, "default")
        self.assertQuerySetEqual(organizer.events.all(), [event])


class EveryDatabaseCleanedTests(TransactionTestCase):
    # Stock DiscoverRunner: TransactionTestCase.databases is {"default"}: the
    # writes to legacy and the tenants raise DatabaseOperationForbidden. Even
    # when declared, the legacy tables do not exist in the test database, and
    # the flush after each test skips managed = False tables, so their rows
    # would leak into the next test. Both tests pass in any order
    # (--reverse, --shuffle).

    def test_1_write(self):
        Organizer.objects.create(name="Acme Events")
        sponsor = Account.objects.create(acronym="ACME", accountname="Acme Corp")
        conference = Conference.objects.create(code="ACME25", sponsor=sponsor)
        conference.topics.add(Topic.objects.create(label="Databases"))
        for name in ("acme", "globex"):
            with tenant(name):
                Attendee.objects.create(name="Ann", email="ann@example.com")
        self.assertEqual(Organizer.objects.count(), 1)
        self.assertEqual(Conference.topics.through.objects.count(), 1)

    def test_2_clean(self):
        self.assertFalse(Organizer.objects.exists())  # read through default_RO
        self.assertFalse(Organizer.objects.using("default").exists())
        for model in (Account, Conference, Topic, Conference.topics.through):
            with self.subTest(model=model.__name__):
                self.assertFalse(model.objects.exists())
        for name in ("acme", "globex"):
            with self.subTest(tenant=name), tenant(name):
                self.assertFalse(Attendee.objects.exists())


@skipUnlessDBFeature("supports_transactions")
class AllDatabasesTests(TestCase):
    # Stock DiscoverRunner: the class decorator checks "'default' in databases",
    # a substring test on the string "__all__", so every test errors with
    # "ValueError: skipUnlessDBFeature cannot be used on ... as it doesn't
    # allow queries against the 'default' database."
    databases = "__all__"

    def test_every_database_answers(self):
        for alias in connections:
            with self.subTest(alias=alias), connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                self.assertEqual(cursor.fetchone(), (1,))

    def test_rollback_on_every_database(self):
        # Nothing written by other tests is left behind, on any database.
        self.assertFalse(Organizer.objects.exists())
        self.assertFalse(Account.objects.exists())
        for name in ("acme", "globex"):
            with tenant(name):
                self.assertFalse(Attendee.objects.exists())
