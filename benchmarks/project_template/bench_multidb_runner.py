"""The benchmark's multidb_runner variant, timed as the stock ones (``bench_runners.py``)."""

from __future__ import annotations

from multidb_runner import MultiDBRunner

from bench_runners import TimingMixin


class MultiDBTimedRunner(TimingMixin, MultiDBRunner):
    """multidb_runner's runner: classes that declare nothing may use every alias."""
