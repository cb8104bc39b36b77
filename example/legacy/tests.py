"""
Legacy models (``managed = False``) on the ``legacy`` database.

The router never lets anything migrate there; MultiDBRunner creates the
tables in the test database anyway, and flushes them like any other.
"""

from django.db import connections
from django.test import TestCase

from .models import Account, Conference, Topic

LEGACY_TABLES = {"accounts", "topics", "confrnce", "confrnce_topics"}


class LegacyTablesTests(TestCase):
    # Stock DiscoverRunner: 'legacy' is not in TestCase.databases, so every
    # query raises DatabaseOperationForbidden. With databases declared, the
    # queries fail with "no such table: accounts": migrations record
    # managed = False and the router refuses allow_migrate, so no table is made.

    @classmethod
    def setUpTestData(cls):
        cls.acme = Account.objects.create(acronym="ACME", accountname="Acme Corp", active=True)
        cls.python = Topic.objects.create(label="Python")
        cls.databases_topic = Topic.objects.create(label="Databases")

    def test_tables_exist_only_in_the_legacy_database(self):
        legacy_tables = set(connections["legacy"].introspection.table_names())
        self.assertLessEqual(LEGACY_TABLES, legacy_tables)
        default_tables = set(connections["default"].introspection.table_names())
        self.assertFalse(LEGACY_TABLES & default_tables)

    def test_foreign_key(self):
        conference = Conference.objects.create(code="ACME25", name="Acme Summit", sponsor=self.acme)
        self.assertEqual(conference._state.db, "legacy")
        fetched = Conference.objects.select_related("sponsor").get(code="ACME25")
        self.assertEqual(fetched.sponsor.accountname, "Acme Corp")
        self.assertQuerySetEqual(self.acme.conferences.all(), [conference])

    def test_many_to_many(self):
        conference = Conference.objects.create(code="ACME26", sponsor=self.acme)
        conference.topics.add(self.python, self.databases_topic)
        self.assertQuerySetEqual(conference.topics.order_by("label"), [self.databases_topic, self.python])
        self.assertQuerySetEqual(Conference.objects.filter(topics__label="Python"), [conference])
