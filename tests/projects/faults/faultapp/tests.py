"""
The faults project's tests: a few ordinary ones, and some that misbehave when asked.

Classes that use several databases declare them only with FAULTS_DECLARE=1
(for stock Django's runner); MultiDBRunner gives classes that keep Django's
default ``databases`` every alias.
"""

import json
import os
import signal
import unittest

from django.db import connections
from django.test import TestCase, TransactionTestCase
from faults import injection, markers
from legacyapp.models import Customer
from otherapp.models import LedgerEntry

from .models import Currency, Order

DECLARE = os.environ.get("FAULTS_DECLARE") == "1"
EXTRA_ALIASES = set(json.loads(os.environ.get("FAULTS_EXTRA_DATABASES", "{}")))


def enabled_by(variable, value="1"):
    return unittest.skipUnless(os.environ.get(variable) == value, f"runs only with {variable}={value}")


class Writes(TestCase):
    """Every database starts empty; writes reach the mirror and the legacy table."""

    if DECLARE:
        databases = {"default", "other", "replica", "legacy", *EXTRA_ALIASES}

    def test_write_everywhere(self):
        self.assertEqual(Order.objects.count(), 0)
        self.assertEqual(LedgerEntry.objects.count(), 0)
        self.assertEqual(Customer.objects.count(), 0)
        Order.objects.create(reference="written")
        LedgerEntry.objects.create(label="written")
        Customer.objects.create(name="written")
        self.assertTrue(Order.objects.using("replica").filter(reference="written").exists())
        markers.touch("wrote")


class SerializedRollback(TransactionTestCase):
    """Makes the run serialize its test databases (the ``serializing`` phase)."""

    serialized_rollback = True
    if DECLARE:
        databases = {"default", "other"}

    def test_reference_data_is_restored(self):
        self.assertEqual(sorted(Currency.objects.values_list("code", flat=True)), ["EUR", "USD"])
        LedgerEntry.objects.create(label="serialized")


@unittest.skipUnless(os.environ.get("FAULTS_AT", "").startswith("tests:"), "runs only with FAULTS_AT=tests:...")
class FaultInTest(TransactionTestCase):
    """Commits rows in two databases, then meets the ``tests`` phase of FAULTS_AT."""

    if DECLARE:
        databases = {"default", "other"}

    def test_fault(self):
        Order.objects.create(reference="interrupted")
        LedgerEntry.objects.create(label="interrupted")
        injection.in_test()


@enabled_by("FAULTS_WAIT")
class WaitsForRelease(TestCase):
    """Say it started (marker ``waiting``), wait for the marker ``release``, then check its rows."""

    if DECLARE:
        databases = {"default", "other"}

    def test_wait(self):
        Order.objects.create(reference="waiting")
        LedgerEntry.objects.create(label="waiting")
        markers.touch("waiting")
        markers.wait_for(lambda: markers.exists("release"), "the marker 'release'")
        self.assertEqual(list(Order.objects.values_list("reference", flat=True)), ["waiting"])
        self.assertEqual(list(LedgerEntry.objects.values_list("label", flat=True)), ["waiting"])


@enabled_by("FAULTS_HOLD")
class HoldsItsDatabases(TransactionTestCase):
    """
    Commit HELD_ROWS orders, let go of every connection, say so (marker ``holding``), wait for ``release``.

    Meanwhile the harness cuts the run's connections or restarts the server,
    and starts a second run. Then the orders must still be there (the test
    database was neither dropped nor replaced), and ``other``, set up on its
    first use after the cut, must work.
    """

    HELD_ROWS = 3
    if DECLARE:
        databases = {"default", "other"}

    def test_hold(self):
        Order.objects.bulk_create(Order(reference=f"held {number}") for number in range(self.HELD_ROWS))
        connections.close_all()
        markers.touch("holding")
        markers.wait_for(lambda: markers.exists("release"), "the marker 'release'")
        self.assertEqual(Order.objects.count(), self.HELD_ROWS)
        self.assertEqual(LedgerEntry.objects.count(), 0)


@enabled_by("FAULTS_KILL_WORKER")
class WorkerDies(TestCase):
    """With --parallel: once Partner runs in the other worker, kill this worker (kill -9)."""

    def test_dies(self):
        Order.objects.create(reference="doomed")
        markers.wait_for(lambda: markers.exists("partner"), "Partner to start in the other worker")
        markers.touch(f"dying-{os.getpid()}")
        os.kill(os.getpid(), signal.SIGKILL)


@enabled_by("FAULTS_KILL_WORKER")
class Partner(TestCase):
    """In flight in the other worker when WorkerDies dies; passes once it is dead, if let run."""

    def test_partner(self):
        Order.objects.create(reference="partner")
        markers.touch("partner")
        markers.wait_for(self.worker_died, "WorkerDies to kill its worker")

    @staticmethod
    def worker_died():
        dying = markers.marker_dir().glob("dying-*")
        return any(not markers.is_running(int(path.name.split("-", 1)[1])) for path in dying)
