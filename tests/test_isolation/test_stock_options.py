"""
``reset_sequences``, ``serialized_rollback`` and ``available_apps`` keep their stock meaning.

The selective flush replaces ``TransactionTestCase._fixture_teardown``; these
options are read there (``available_apps``, ``serialized_rollback``) or next
to it (``reset_sequences``), so each gets a class of its own here. The
``fixtures`` option is checked in ``test_lazy_transactions``.
"""

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections
from django.test import TransactionTestCase

from tests.isolationapp.models import Child, Parent, Tag

from .support import NothingSurvivesMixin, check_aliases_are_clean, private_cursor

ALIASES = ("default", "other")


def has_content_types(alias):
    """Return True if the contenttypes tables exist on ``alias``'s test database."""
    connection = connections[alias]
    with private_cursor(alias) as cursor:
        return "django_content_type" in connection.introspection.table_names(cursor)


def row_count(alias, table):
    """Count the rows of ``table`` on a connection the runner does not track."""
    with private_cursor(alias) as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connections[alias].ops.quote_name(table)}")
        return cursor.fetchone()[0]


class ResetSequencesTests(NothingSurvivesMixin, TransactionTestCase):
    """Each test's first rows get the primary key 1, on every alias, whatever the tests before wrote."""

    reset_sequences = True

    def write_first_rows(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                parent = Parent.objects.using(alias).create(name="first")
                child = Child.objects.using(alias).create(parent=parent, name="first")
                Child.objects.using(alias).create(parent=parent, name="second")
                self.assertEqual((parent.pk, child.pk), (1, 1))

    def test_1(self):
        self.write_first_rows()

    def test_2(self):
        self.write_first_rows()

    def test_3(self):
        self.write_first_rows()


class AvailableAppsTests(NothingSurvivesMixin, TransactionTestCase):
    """
    The flush covers the available apps' tables, and post_migrate is not sent after it.

    The oracle then checks that every table is empty, and that the
    contenttypes and permissions tables, outside the available apps, still
    hold what post_migrate created.
    """

    available_apps = ["tests.isolationapp"]

    def write(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                parent = Parent.objects.using(alias).create(name="available")
                Child.objects.using(alias).create(parent=parent, name="available")
                parent.tags.add(Tag.objects.using(alias).create(name="available"))
                self.assertEqual(Parent.objects.using(alias).count(), 1)

    def test_1(self):
        self.write()

    def test_2(self):
        self.write()


class SerializedRollbackTests(TransactionTestCase):
    """
    Each test starts with the data serialized at setup; after it every table is empty.

    That is stock Django's meaning: the flush after a ``serialized_rollback``
    test does not send post_migrate (the next such test reloads the data),
    so even the content types and permissions are gone until then. The
    tests delete and write rows that the deserialization brought back, on
    every alias that has them; tearDownClass sends post_migrate again, so
    that the classes after this one find what they expect.
    """

    serialized_rollback = True

    @classmethod
    def setUpClass(cls):
        # Flushes before this class (any TransactionTestCase's, stock ones
        # too) had post_migrate create the content types again, with other
        # ids than those serialized at setup: loading them would then break
        # their unique constraint, with stock Django as well. Start from the
        # state of the setup.
        for alias in ALIASES:
            if has_content_types(alias):
                Permission.objects.using(alias).all().delete()
                ContentType.objects.using(alias).all().delete()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            for alias in ALIASES:
                emit_post_migrate_signal(verbosity=0, interactive=False, db=alias)
        finally:
            super().tearDownClass()

    def aliases_with_content_types(self):
        aliases = [alias for alias in ALIASES if has_content_types(alias)]
        self.assertIn("default", aliases)
        return aliases

    def change_the_serialized_data(self):
        for alias in self.aliases_with_content_types():
            with self.subTest(alias=alias):
                own = ContentType.objects.using(alias).filter(app_label="isolationapp")
                # Reloaded into this alias's database (stock Django writes what
                # was serialized from "other" to "default").
                self.assertTrue(own.exists(), "the serialized content types were not loaded")
                self.assertTrue(Permission.objects.using(alias).filter(content_type__in=own).exists())
                Permission.objects.using(alias).filter(content_type__in=own).update(name="changed")
                own.filter(model="tag").delete()
                Parent.objects.using(alias).create(name="serialized")

    def _post_teardown(self):
        super()._post_teardown()
        aliases = self.aliases_with_content_types()
        left = {
            (alias, table): row_count(alias, table)
            for alias in aliases
            for table in ("django_content_type", "auth_permission", Parent._meta.db_table)
        }
        self.assertEqual(left, dict.fromkeys(left, 0))
        check_aliases_are_clean(set(ALIASES) - set(aliases))

    def test_1(self):
        self.change_the_serialized_data()

    def test_2(self):
        self.change_the_serialized_data()
