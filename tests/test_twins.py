"""
Tables of unmanaged models are created only where nothing else creates them.

Run inside the runner: ``tests.twinapp`` (no migrations) has unmanaged twins
of a managed model's table and an unmanaged model over a view that
``tests.testapp``'s migration creates. Treating them as managed during
``migrate`` made syncdb create the same table twice, or a table where the
view was to be created; the setup then failed before any test ran.
"""

from django.db import connections
from django.test import TestCase

from tests.testapp.models import Author, Book
from tests.twinapp.models import AuthorStatsTwin, Original, OriginalReadOnly, OriginalShouting


def folds_names(alias):
    connection = connections[alias]
    if connection.vendor == "sqlite":
        return True
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@lower_case_table_names")
            return bool(int(cursor.fetchone()[0]))
    return False


class TwinTests(TestCase):
    def test_twin_reads_the_managed_table(self):
        for alias in ("default", "other"):
            with self.subTest(alias=alias):
                Original.objects.using(alias).create(name=f"written on {alias}")
                self.assertEqual(OriginalReadOnly.objects.using(alias).get().name, f"written on {alias}")

    def test_twin_in_another_letter_case(self):
        Original.objects.create(name="one")
        if folds_names("default"):
            # The same table: nothing was created beside it.
            self.assertEqual(OriginalShouting.objects.get().name, "one")
        else:
            # A table of its own, created for the run like any legacy table.
            self.assertEqual(OriginalShouting.objects.count(), 0)

    def test_unmanaged_model_over_a_view_a_migration_creates(self):
        author = Author.objects.create(name="Ada")
        Book.objects.create(title="Notes", author=author)
        self.assertEqual(list(AuthorStatsTwin.objects.values_list("name", "books")), [("Ada", 1)])
        with connections["default"].cursor() as cursor:
            views = [
                info.name for info in connections["default"].introspection.get_table_list(cursor) if info.type == "v"
            ]
        self.assertIn("testapp_author_stats", views)
