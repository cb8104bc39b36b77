"""
Watch the run's databases: write tracking, selective flush, lazy transactions, usage.

One object switches these on together for a process, and off again: the
main process when its databases are ready, and each parallel worker once
it points at its clones (under fork the main process's watch is inherited
and told to forget what it recorded, since the clones start afresh).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass

from .flushing import SelectiveFlush
from .mirrors import MirrorConnection
from .tracking import WriteTracker
from .transactions import LazyTransactions
from .usage import DatabaseUsage


@dataclass(frozen=True)
class WatchOptions:
    """Which parts of the watch a run wants (picklable, for workers)."""

    selective_flush: bool = True
    lazy_transactions: bool = True
    report_usage: bool = False

    @property
    def anything(self) -> bool:
        return self.selective_flush or self.lazy_transactions or self.report_usage


class DatabaseWatch:
    """The run's write tracker and the test class patches that use it."""

    def __init__(self, options: WatchOptions, mirrors: Mapping[str, str] | None = None) -> None:
        self.options = options
        self.tracker = WriteTracker(mirrors)
        self.flush = SelectiveFlush(self.tracker)
        self.transactions = LazyTransactions(self.tracker)
        self.usage = DatabaseUsage()
        self.started = False

    def start(self) -> None:
        """Switch on what the options ask for, in this process."""
        global current_watch
        if not self.options.anything or self.started:
            return
        self.started = True
        current_watch = self
        self.tracker.install()
        if self.options.selective_flush:
            self.flush.install()
        if self.options.lazy_transactions:
            self.transactions.install()
        if self.options.report_usage:
            # Last: it wraps the steps the two above replaced.
            self.tracker.on_use = self.usage.note
            MirrorConnection.on_use = self.usage.note
            self.usage.install(self.tracker.pause)

    def restart_in_worker(self) -> None:
        """Forget what the main process recorded (a forked worker's clones start afresh)."""
        self.tracker.forget()
        self.usage.take()
        self.tracker.install()

    def stop(self) -> None:
        """Switch everything off; every step runs even if one fails."""
        global current_watch
        if not self.started:
            return
        self.started = False
        current_watch = None
        MirrorConnection.on_use = None
        self.tracker.on_use = None
        with ExitStack() as steps:
            # Run last-in first-out: the reverse of start().
            steps.callback(self.tracker.uninstall)
            steps.callback(self.flush.restore)
            steps.callback(self.transactions.restore)
            steps.callback(self.usage.restore)


#: The watch running in this process, if any.
current_watch: DatabaseWatch | None = None


def start_in_worker(options: WatchOptions, mirrors: Mapping[str, str]) -> None:
    """Start (spawn, forkserver) or restart (fork) the watch in a parallel worker."""
    if current_watch is not None:
        current_watch.restart_in_worker()
    else:
        DatabaseWatch(options, mirrors).start()
