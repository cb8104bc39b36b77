"""
A test that waits for another run of the suite (not discovered: run by label).

Two runs sharing one database server each write a marker naming their test
database, then wait for the other's marker, so both are provably running at
the same time. MULTIDB_BARRIER_DIR and MULTIDB_BARRIER_NAME set the folder
and this run's name; MULTIDB_BARRIER_PEER names the other run.
"""

import os
import time
from pathlib import Path

from django.db import connections
from django.test import TestCase

from tests.testapp.models import Author


class MeetTheOtherRun(TestCase):
    def test_both_runs_are_up_at_once(self):
        folder = Path(os.environ["MULTIDB_BARRIER_DIR"])
        Author.objects.create(name=os.environ["MULTIDB_BARRIER_NAME"])
        names = ",".join(connections[alias].settings_dict["NAME"] for alias in ("default", "other", "legacy"))
        (folder / os.environ["MULTIDB_BARRIER_NAME"]).write_text(names)
        peer = folder / os.environ["MULTIDB_BARRIER_PEER"]
        deadline = time.monotonic() + 120
        while not peer.exists():
            self.assertLess(time.monotonic(), deadline, "the other run never came")
            time.sleep(0.05)
        # The other run's rows are in its own databases, not here.
        self.assertEqual(list(Author.objects.values_list("name", flat=True)), [os.environ["MULTIDB_BARRIER_NAME"]])
