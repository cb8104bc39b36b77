from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class Book(models.Model):
    title = models.CharField(max_length=100)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)


class AuthorStats(models.Model):
    """A view made by a RunSQL migration: the runner must leave it alone."""

    name = models.CharField(max_length=100)
    books = models.IntegerField()

    class Meta:
        managed = False
        db_table = "testapp_author_stats"
