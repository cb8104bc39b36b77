"""Django test classes collected by pytest, keeping Django's default databases unless declared."""

from archive.models import Record
from books.models import Book, Review
from django.test import TestCase, TransactionTestCase


class LibraryTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        Book.objects.create(title="Middlemarch")
        Review.objects.create(book_title="Middlemarch", stars=4)

    def test_counts(self):
        self.assertEqual(Book.objects.count(), 1)
        self.assertEqual(Review.objects.count(), 1)

    def test_update_is_rolled_back(self):
        Review.objects.update(stars=1)
        self.assertEqual(Review.objects.get().stars, 1)


class ReplicaTests(TestCase):
    def test_replica_sees_the_write(self):
        Book.objects.using("default").create(title="Persuasion")
        self.assertEqual(Book.objects.using("replica").get().title, "Persuasion")


class DefaultOnlyTests(TestCase):
    def test_default(self):
        Book.objects.using("default").create(title="Default")
        self.assertEqual(Book.objects.using("default").count(), 1)


class ArchiveTransactionTests(TransactionTestCase):
    def test_archive(self):
        Record.objects.create(label="Flushed after the test")
        self.assertEqual(Record.objects.count(), 1)


class DeclaredTests(TestCase):
    databases = {"default", "other"}

    def test_declared(self):
        Book.objects.using("default").create(title="Declared")
        Review.objects.create(book_title="Declared")
        self.assertEqual(Review.objects.count(), 1)
