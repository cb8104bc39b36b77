"""
Test runners of the benchmark: the variants compared, each timed from inside.

The runner's own variant is in ``bench_multidb_runner.py``: the stock
variants do not import the runner, so a run pays only its own imports.

Timing inside the process leaves out what every variant pays alike (Python
and Django start-up, test discovery) and splits the rest into the two
phases the variants differ in: creating the test databases, and running
the tests.
"""

from __future__ import annotations

import json
import os
import time
import unittest
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.test import TestCase, TransactionTestCase
from django.test.runner import DiscoverRunner

if TYPE_CHECKING:
    TimedBase = DiscoverRunner
else:
    TimedBase = object

_MISSING = object()


class TimingMixin(TimedBase):
    """
    Time ``setup_databases`` and ``run_suite``; append them to ``$BENCH_TIMINGS``.

    One JSON line per run, ``{"setup": seconds, "tests": seconds}``, written
    once the tests have run (a run that fails before that writes nothing,
    which the benchmark reports).
    """

    setup_seconds: float | None = None

    def setup_databases(self, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return super().setup_databases(**kwargs)
        finally:
            self.setup_seconds = time.perf_counter() - start

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = super().run_suite(suite, **kwargs)
        self.record_timings(setup=self.setup_seconds, tests=time.perf_counter() - start)
        return result

    def record_timings(self, **timings: float | None) -> None:
        """Append ``timings`` as one JSON line to the file named by ``$BENCH_TIMINGS``, if set."""
        path = os.environ.get("BENCH_TIMINGS")
        if path:
            with open(path, "a", encoding="utf-8") as timings_file:
                timings_file.write(json.dumps(timings) + "\n")


class StockRunner(TimingMixin, DiscoverRunner):
    """Django's own runner: classes get only the aliases they declare."""


class NaiveRunner(TimingMixin, DiscoverRunner):
    """
    Django's runner with the common workaround: every test class may use every alias.

    ``TestCase.databases = TransactionTestCase.databases = set(DATABASES)``,
    applied before the suite is built (so that every alias is set up) and
    restored when the run ends. Parallel workers inherit it when they are
    forked, Linux's default before Python 3.14.
    """

    saved_databases: dict[type[TransactionTestCase], Any]

    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)
        self.saved_databases = {cls: vars(cls).get("databases", _MISSING) for cls in (TransactionTestCase, TestCase)}
        TestCase.databases = TransactionTestCase.databases = set(settings.DATABASES)

    def teardown_test_environment(self, **kwargs: Any) -> None:
        for cls, databases in self.saved_databases.items():
            if databases is _MISSING:
                delattr(cls, "databases")
            else:
                cls.databases = databases
        super().teardown_test_environment(**kwargs)
