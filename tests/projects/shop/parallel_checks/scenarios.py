"""
Test classes that report, or misbehave, inside parallel workers.

``WorkerNamesA`` and ``WorkerNamesB`` write what their process sees (the
database NAME of each alias, whether the mirror reads the primary's writes,
whether the legacy tables exist, the tables of ``default``) to
``SHOP_DB_DIR/worker-<pid>-<class>.json``; in a worker, each then waits for
the other's report from another process, so both workers are known to have
run one. The other classes stand in for a worker that dies, hangs, fails
with an error that cannot be pickled, or waits while the run gets Ctrl-C;
each does so only when its environment variable is set.
"""

import json
import os
import threading
import time
import unittest
from pathlib import Path

from crm.models import Account, Contact
from django.conf import settings
from django.db import connections
from django.test import TestCase
from orders.models import Order

from multidb_runner.parallel import worker as workers

REPORT_DIR = Path(settings.DB_DIR)
REPORTED_ALIASES = ("default", "default_RO", "crm", "tenant_a")
#: Upper bound of every wait for the other side (the harness or another worker).
WAIT_SECONDS = 60
POLL_SECONDS = 0.05


def wait_for(condition, what):
    """Poll ``condition`` until it is true; fail after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {WAIT_SECONDS} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def outcome(check):
    """Return what ``check()`` returns, or the error it raised as text."""
    try:
        return check()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def write_json(path, data):
    """Write ``data`` to ``path`` so that a reader never sees half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


class WorkerNamesMixin:
    def test_report_what_the_worker_sees(self):
        reference = f"{type(self).__name__}-{os.getpid()}"

        def mirror_sees_write():
            Order.objects.using("default").create(reference=reference)
            return Order.objects.using("default_RO").filter(reference=reference).exists()

        def legacy_tables_work():
            account = Account.objects.create(acronym=f"W{os.getpid() % 100000}")
            contact = Contact.objects.create(account=account, email=f"{reference}@example.com")
            contact.accounts_followed.add(account)
            return Account.objects.using("crm").get(pk=account.pk).followers.get() == contact

        report = {
            "pid": os.getpid(),
            "worker_id": workers.worker_id(),
            "class": type(self).__name__,
            "names": {alias: str(connections[alias].settings_dict["NAME"]) for alias in REPORTED_ALIASES},
            "mirror_sees_write": outcome(mirror_sees_write),
            "legacy_tables_work": outcome(legacy_tables_work),
            "default_tables": outcome(lambda: sorted(connections["default"].introspection.table_names())),
        }
        write_json(REPORT_DIR / f"worker-{os.getpid()}-{type(self).__name__}.json", report)
        if workers.worker_id():
            # Hold this worker until another one has reported: both workers then ran a class.
            wait_for(self.other_worker_reported, "a report from the other worker")
        self.assertIs(report["mirror_sees_write"], True)
        self.assertIs(report["legacy_tables_work"], True)

    @staticmethod
    def other_worker_reported():
        return any(not path.name.startswith(f"worker-{os.getpid()}-") for path in REPORT_DIR.glob("worker-*.json"))


class WorkerNamesA(WorkerNamesMixin, TestCase):
    """Keeps Django's default ``databases``: the runner gives it every alias."""


class WorkerNamesB(WorkerNamesMixin, TestCase):
    databases = {"default", "default_RO", "crm", "tenant_a"}


class Harmless(TestCase):
    """A class to keep the other worker busy for a moment."""

    databases = {"default"}

    def test_write(self):
        Order.objects.create(reference="harmless")
        self.assertEqual(Order.objects.using("default").count(), 1)


class AlsoHarmless(Harmless):
    pass


def enabled_by(variable):
    return unittest.skipUnless(os.environ.get(variable) == "1", f"runs only with {variable}=1")


@enabled_by("SHOP_KILL_WORKER")
class KillsItsWorker(TestCase):
    databases = {"default"}

    def test_exit_the_worker(self):
        Order.objects.create(reference="doomed")
        os._exit(3)


@enabled_by("SHOP_HANG_WORKER")
class HangsItsWorker(TestCase):
    databases = {"default"}

    def test_block(self):
        Order.objects.create(reference="stuck")
        (REPORT_DIR / f"started-{os.getpid()}").touch()
        # Nothing ever sets it; bounded all the same, so that a runner which
        # never stops the worker cannot leave a process behind for long.
        threading.Event().wait(90)


@enabled_by("SHOP_UNPICKLABLE_FAILURE")
class UnpicklableFailure(TestCase):
    databases = {"default"}

    def test_fail_with_a_lambda_attached(self):
        class LocalError(Exception):
            pass

        error = LocalError("failed with something that cannot be pickled")
        error.callback = lambda: None
        raise error


@enabled_by("SHOP_WAIT_FOR_RELEASE")
class WaitsForRelease(TestCase):
    """Say it started (``started-<pid>``), then wait for the file ``release``."""

    databases = {"default"}

    def test_wait(self):
        Order.objects.create(reference="waiting")
        (REPORT_DIR / f"started-{os.getpid()}").touch()
        wait_for((REPORT_DIR / "release").exists, "the release file")


@enabled_by("SHOP_FAILING_TEST")
class FailsWithTraceback(TestCase):
    """Fails two calls deep, so the whole traceback must come back from the worker."""

    def test_fails_deep(self):
        self.check_the_orders()

    def check_the_orders(self):
        self.assertEqual(Order.objects.count(), 42, "deliberate failure")


class Timed(TestCase):
    """One test that works for a while, one that does not: their times must differ in reports."""

    def test_quick(self):
        self.assertTrue(True)

    def test_slow(self):
        time.sleep(0.3)  # the work being timed, not a wait for anything
