"""A fixture that unblocks the database itself (a common pytest-django pattern) inside a test that uses it."""

import pytest
from books.models import Review


@pytest.fixture
def review_written_unblocked(db, django_db_blocker):
    with django_db_blocker.unblock():
        Review.objects.create(book_title="Written by a fixture")


def test_fixture_that_unblocks(review_written_unblocked):
    assert Review.objects.count() == 1


def test_fixture_write_was_rolled_back(db):
    assert Review.objects.count() == 0
