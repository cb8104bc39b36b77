"""
Test classes that test_lazy_setup.py runs in a subprocess (not discovered by the suite).

None declares ``databases``: every alias is injected, and each database is
set up when a test first uses it. Each class says, inside the run, which
test databases exist at that point, from the server's (or the folder's)
point of view.
"""

import os
import threading

from django.contrib.auth.models import Group
from django.db import connections, transaction
from django.db.models.signals import pre_migrate
from django.test import TestCase, TransactionTestCase, override_settings

from multidb_runner.setup.catalog import database_exists
from tests.legacyapp.models import Region
from tests.testapp.models import Author


def test_database_exists(alias):
    """Return whether ``alias``'s test database exists now (asked without touching it)."""
    name = connections[alias].creation._get_test_db_name()
    if connections[alias].vendor == "sqlite":
        if "mode=memory" in name or name == ":memory:":
            # It lives while a connection to it is open: one more sees its tables.
            import sqlite3

            raw = sqlite3.connect(name, uri=True)
            try:
                return raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
            finally:
                raw.close()
        return os.path.exists(name)
    # Ask the server through default's connection (set up by then).
    return database_exists(connections["default"], name)


def fail_to_migrate(sender, using, **kwargs):
    if using == os.environ.get("LAZY_FAIL_ALIAS") and sender.label == "testapp":
        raise RuntimeError(f"migrating {using} exploded on purpose")


pre_migrate.connect(fail_to_migrate)


class OnlyDefault(TransactionTestCase):
    """The inner loop: one class that only ever uses default."""

    def test_default_only(self):
        Author.objects.create(name="Ada")
        self.assertEqual(Author.objects.count(), 1)
        self.assertFalse(test_database_exists("other"))
        self.assertFalse(test_database_exists("legacy"))

    def test_flushed_and_still_alone(self):
        self.assertEqual(Author.objects.count(), 0)
        self.assertFalse(test_database_exists("other"))


class OnlyDefaultTestCase(TestCase):
    def test_default_only(self):
        Author.objects.create(name="Ada")
        self.assertFalse(test_database_exists("other"))


class ThroughTheMirrorFirst(TestCase):
    """A mirror's first use sets its primary up; the mirror then reads the primary's rows."""

    def test_mirror_first(self):
        self.assertEqual(Author.objects.using("replica").count(), 0)
        Author.objects.create(name="Ada")
        self.assertEqual(Author.objects.using("replica").count(), 1)
        self.assertEqual(Author.objects.using("replica2").get().name, "Ada")


class SetUpTestDataFirst(TestCase):
    """The first use of 'other' is in setUpTestData: its rows stay for the class, and go with it."""

    @classmethod
    def setUpTestData(cls):
        cls.author = Author.objects.using("other").create(name="Ada")

    def test_1_sees_the_class_data(self):
        self.assertEqual(Author.objects.using("other").get().name, "Ada")
        Author.objects.using("other").create(name="Grace")

    def test_2_the_test_write_was_rolled_back(self):
        self.assertEqual(Author.objects.using("other").count(), 1)


class AfterSetUpTestDataFirst(TransactionTestCase):
    """Runs after SetUpTestDataFirst: the class's rows were rolled back with it."""

    def test_nothing_left(self):
        self.assertEqual(Author.objects.using("other").count(), 0)


class NothingMigrates:
    def allow_migrate(self, db, app_label, **hints):
        return False


@override_settings(DATABASE_ROUTERS=["tests.lazy_scenarios.NothingMigrates"])
class FirstUseUnderATestsOverrides(TransactionTestCase):
    """The first use comes inside a test that changes routers and apps: the set-up does not see them."""

    available_apps = ["django.contrib.contenttypes", "django.contrib.auth", "tests.testapp"]

    def test_other_is_whole(self):
        self.assertFalse(test_database_exists("other"))
        with self.assertNumQueries(1, using="other"):
            self.assertEqual(Author.objects.using("other").count(), 0)
        # Every app was migrated there, not just the available ones.
        self.assertEqual(Group.objects.using("other").count(), 0)
        # And the legacy tables, which the router of the run puts on legacy.
        self.assertEqual(Region.objects.using("legacy").count(), 0)
        self.assertTrue(test_database_exists("other"))


class LegacyInAThread(TransactionTestCase):
    """A first use in another thread sets the database up as well."""

    def test_thread(self):
        counts = []

        def count_regions():
            try:
                counts.append(Region.objects.count())
            finally:
                connections.close_all()

        thread = threading.Thread(target=count_regions)
        thread.start()
        thread.join()
        self.assertEqual(counts, [0])
        self.assertTrue(test_database_exists("legacy"))


class OtherFails(TestCase):
    """With LAZY_FAIL_ALIAS=other, setting up 'other' fails: its tests fail, the others pass."""

    def test_1_uses_other(self):
        Author.objects.using("other").count()

    def test_2_uses_other_again(self):
        Author.objects.using("other").count()

    def test_3_default_works(self):
        Author.objects.create(name="Ada")
        with transaction.atomic():
            self.assertEqual(Author.objects.count(), 1)


class SerializedOther(TransactionTestCase):
    """serialized_rollback on a database set up on first use: its rows come back after each test."""

    serialized_rollback = True

    def test_1_rows_from_setup_are_there(self):
        # post_migrate made the content types at creation: serialized then.
        from django.contrib.contenttypes.models import ContentType

        self.assertTrue(ContentType.objects.using("other").exists())

    def test_2_and_again(self):
        from django.contrib.contenttypes.models import ContentType

        self.assertTrue(ContentType.objects.using("other").exists())


def raw_connection_outcome(alias):
    """
    Connect to ``alias``'s database with the driver alone, from its settings, as a subprocess or engine would.

    Return the database it reached and the rows of ``precious`` there, or
    the error it got.
    """
    settings_dict = connections[alias].settings_dict
    vendor = connections[alias].vendor
    try:
        if vendor == "sqlite":
            import sqlite3

            name = str(settings_dict["NAME"])
            if "mode=memory" in name:
                return {"reached": name}
            raw = sqlite3.connect(f"file:{name}?mode=rw", uri=True)
        elif vendor == "postgresql":
            import psycopg

            raw = psycopg.connect(
                dbname=settings_dict["NAME"],
                host=settings_dict["HOST"],
                port=settings_dict["PORT"] or None,
                user=settings_dict["USER"],
                password=settings_dict["PASSWORD"],
            )
        else:
            import MySQLdb

            raw = MySQLdb.connect(
                database=settings_dict["NAME"],
                host=settings_dict["HOST"],
                port=int(settings_dict["PORT"] or 3306),
                user=settings_dict["USER"],
                password=settings_dict["PASSWORD"],
            )
    except Exception as exc:
        return {"error": type(exc).__name__}
    try:
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT count(*) FROM precious")
            rows = cursor.fetchone()[0]
        except Exception:
            rows = None
        return {"reached": str(settings_dict["NAME"]), "precious": rows}
    finally:
        raw.close()


class SettingsNameTestDatabases(TestCase):
    """
    Before any query, every alias's settings name its test database (issue 18, point 1).

    Writes what it saw to LAZY_NAMES_FILE: the names in each alias's
    settings and in settings.DATABASES, and what a driver-only connection
    to 'other' (set up on first use, not yet) reached.
    """

    def test_names_before_the_first_query(self):
        import json

        from django.conf import settings

        seen = {
            alias: {
                "connection": str(connections[alias].settings_dict["NAME"]),
                "settings": str(settings.DATABASES[alias]["NAME"]),
            }
            for alias in ("default", "replica", "replica2", "other", "legacy")
        }
        seen["raw_other"] = raw_connection_outcome("other")
        # Through Django's connections, the first use sets 'other' up.
        Author.objects.using("other").create(name="Ada")
        seen["other_after_use"] = str(connections["other"].settings_dict["NAME"])
        with open(os.environ["LAZY_NAMES_FILE"], "w") as file:
            json.dump(seen, file)
