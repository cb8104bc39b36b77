"""A test that fails the run the hard way, when PYPLUG_FAULT asks (tests/test_pytest_plugin.py does)."""

import os
import time
from pathlib import Path

import pytest
from books.models import Book, Review

FAULT = os.environ.get("PYPLUG_FAULT", "")


@pytest.mark.skipif(not FAULT, reason="only when PYPLUG_FAULT asks for a fault")
def test_fault(transactional_db):
    Book.objects.create(title="Written before the fault")
    Review.objects.create(book_title="Written before the fault")
    if FAULT == "crash":
        os._exit(3)  # a worker that dies: no cleanup of its own
    if FAULT == "wait":
        # Tell the test it may press Ctrl-C now, and wait for it.
        Path(os.environ["PYPLUG_READY"]).with_suffix(f".{os.getpid()}").write_text("ready")
        time.sleep(120)
