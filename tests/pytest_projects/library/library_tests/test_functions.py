"""Tests written the pytest-django way: the mark and the fixtures, no databases= unless the test is about it."""

import pytest
from archive.models import Record
from books.models import Book, Review
from django.db import transaction


@pytest.mark.django_db
def test_book_saved_on_default():
    Book.objects.create(title="Dune")
    assert Book.objects.using("default").count() == 1


def test_book_read_through_replica(db):
    Book.objects.create(title="Emma")
    # The router reads books from the replica: it must see the test's own write.
    assert Book.objects.get().title == "Emma"


def test_review_on_second_primary(db):
    Review.objects.create(book_title="Emma", stars=5)
    assert Review.objects.count() == 1


@pytest.mark.django_db
def test_legacy_record():
    Record.objects.create(label="1999 ledger")
    assert list(Record.objects.values_list("label", flat=True)) == ["1999 ledger"]


def test_transactional_review(transactional_db):
    Review.objects.create(book_title="Ulysses")
    assert Review.objects.count() == 1


def test_transactional_book(transactional_db):
    Book.objects.create(title="Ulysses")
    assert Book.objects.using("default").count() == 1


def test_transactional_tests_left_nothing(transactional_db):
    assert Review.objects.count() == 0
    assert Book.objects.using("default").count() == 0
    assert Record.objects.count() == 0


@pytest.mark.django_db(databases=["default", "other"])
def test_explicit_databases():
    Book.objects.create(title="Declared")
    Review.objects.create(book_title="Declared")
    assert Review.objects.count() == 1


@pytest.mark.django_db(databases="__all__")
def test_all_databases():
    Record.objects.create(label="all")
    Review.objects.create(book_title="all")
    assert Record.objects.count() == 1
    assert Review.objects.count() == 1


@pytest.mark.django_db(databases=["replica"])
def test_only_the_mirror():
    # The replica reads default's test database, never the real one.
    assert Book.objects.using("replica").count() == 0


def test_reset_sequences(django_db_reset_sequences):
    assert Review.objects.create(book_title="first").pk == 1


def test_serialized_rollback(django_db_serialized_rollback):
    Book.objects.create(title="Serialized")
    assert Book.objects.using("default").count() == 1


def test_write_through_the_replica_is_refused(db):
    from multidb_runner import ReadOnlyMirrorError

    with pytest.raises(ReadOnlyMirrorError), transaction.atomic(using="replica"):
        Book.objects.using("replica").create(title="Nope")


@pytest.mark.django_db
def test_settings_name_test_databases_before_any_query():
    # Every alias the test may use names its test database from the start,
    # also one set up on first use and not created yet (issue 18, point 1).
    import os

    from django.conf import settings
    from django.db import connections

    for alias in ("default", "replica", "other", "legacy"):
        names = [str(connections[alias].settings_dict["NAME"])]
        if alias != "replica":
            names.append(str(settings.DATABASES[alias]["NAME"]))
        for name in names:
            assert "memorydb_" in name or os.path.basename(name).startswith("test_"), (alias, name)
