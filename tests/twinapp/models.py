"""
Unmanaged models over tables something else creates, in an app without migrations.

Read-only twins of a managed model's table (also under another letter case,
the same table where the database folds names), and an unmanaged model over
a view that a migration of another app creates. The runner must create none
of these tables: ``migrate``'s syncdb makes the managed table, the
migration the view.
"""

from django.db import models


class Original(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        db_table = "twin_original"


class OriginalReadOnly(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        managed = False
        db_table = "twin_original"


class OriginalShouting(models.Model):
    """The same table where names are case-insensitive (SQLite; MySQL with lower_case_table_names)."""

    name = models.CharField(max_length=50)

    class Meta:
        managed = False
        db_table = "TWIN_ORIGINAL"


class AuthorStatsTwin(models.Model):
    """The view testapp's migration creates after this app's tables are synced."""

    name = models.CharField(max_length=100)
    books = models.IntegerField()

    class Meta:
        managed = False
        db_table = "testapp_author_stats"
