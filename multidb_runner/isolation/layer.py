"""
The isolation layer: write tracking, selective flush, lazy transactions, usage report.

One object, built from the run's plan (the resolved mirror map) and its
options, owns every change the runner makes to Django's test classes and
database wrappers while the tests run. ``install()`` composes each replaced
step once and sets it through one ``ClassPatches``; ``remove()`` puts
everything back, newest first. The main process installs a layer once its
databases are ready; each parallel worker builds its own from the worker
state (under fork, the inherited one is told to forget what the main process
recorded, since the clones start afresh).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import connections
from django.test import SimpleTestCase, TestCase, TransactionTestCase

from .first_use import FirstUseHooks, FirstUseListener
from .flushing import SelectiveFlush
from .mirrors import primary_of, set_mirror_statement_check, set_mirror_use_hook
from .patches import ClassPatches
from .read_only import MirrorGuard
from .server_verdict import database_verdict
from .tracking import WriteTracker
from .transactions import LazyTransactions
from .used_aliases import DatabaseUsage, quieted


@dataclass(frozen=True)
class IsolationOptions:
    """Which parts of the layer a run wants (picklable, for workers)."""

    selective_flush: bool = True
    lazy_transactions: bool = True
    report_usage: bool = False
    #: The mirrors whose writes are refused (as their production replicas would).
    read_only_mirrors: frozenset[str] = frozenset()
    #: Note which aliases a flush empties (``--keepdb``: a kept database whose rows changed is rebuilt).
    note_flushes: bool = False

    @property
    def anything(self) -> bool:
        return (
            self.selective_flush
            or self.lazy_transactions
            or self.report_usage
            or bool(self.read_only_mirrors)
            or self.note_flushes
        )


class DatabasesSetUpOnFirstUse(FirstUseListener, Protocol):
    """The test databases still to set up on first use (``setup/lazy.py``), as the layer sees them."""

    @property
    def pending(self) -> Mapping[str, str]:
        """Every alias whose database is still to set up -> that database's first alias."""

    #: Called when ``waiting`` may have changed.
    on_change: Callable[[], None]

    def supports_transactions(self, alias: str) -> bool:
        """Whether ``alias``'s database will support transactions (asked before it exists)."""


class IsolationLayer:
    """The run's write tracker and every change to Django's classes that uses it."""

    def __init__(
        self,
        options: IsolationOptions,
        mirrors: Mapping[str, str] | None = None,
        lazy_setup: DatabasesSetUpOnFirstUse | None = None,
    ) -> None:
        self.options = options
        #: The databases set up on first use, in the main process of a serial run.
        self.lazy_setup = lazy_setup
        #: mirror -> the primary it finally reads from (chains resolved).
        self.mirrors = dict(mirrors or {})
        self.tracker = WriteTracker(self.mirrors)
        self.flush = SelectiveFlush(self.tracker)
        self.transactions = LazyTransactions(self.tracker)
        self.usage = DatabaseUsage()
        self.patches = ClassPatches()
        listeners: list[FirstUseListener] = [lazy_setup] if lazy_setup is not None else []
        if options.lazy_transactions:
            listeners.append(self.transactions)
        self.first_use = FirstUseHooks(listeners)
        self.installed = False

    def install(self) -> None:
        """Switch on what the options ask for, in this process."""
        if not (self.options.anything or self.lazy_setup is not None) or self.installed:
            return
        self.installed = True
        self.tracker.install()
        from django.core.management.commands import flush

        patches = self.patches
        # Each step Django runs around a test, composed once from the parts that change it.
        steps: dict[tuple[Any, str], Any] = {
            (TestCase, "_enter_atomics"): patches.original(TestCase, "_enter_atomics"),
            (TestCase, "_rollback_atomics"): patches.original(TestCase, "_rollback_atomics"),
            (TestCase, "_fixture_teardown"): patches.original(TestCase, "_fixture_teardown"),
            (TransactionTestCase, "_fixture_teardown"): patches.original(TransactionTestCase, "_fixture_teardown"),
            (flush.Command, "handle"): patches.original(flush.Command, "handle"),
            (TestCase, "_databases_support_transactions"): patches.original(
                TestCase, "_databases_support_transactions"
            ),
        }
        originals = dict(steps)
        if self.options.selective_flush:
            key = (TransactionTestCase, "_fixture_teardown")
            steps[key] = self.flush.fixture_teardown(steps[key])
            steps[(flush.Command, "handle")] = self.flush.flush_handle(steps[(flush.Command, "handle")])
        elif self.options.note_flushes:
            steps[(flush.Command, "handle")] = self.flush.noting_flushes(steps[(flush.Command, "handle")])
        if self.options.lazy_transactions:
            lazy = self.transactions
            steps[(TestCase, "_enter_atomics")] = lazy.enter_atomics(steps[(TestCase, "_enter_atomics")])
            steps[(TestCase, "_rollback_atomics")] = lazy.rollback_atomics(steps[(TestCase, "_rollback_atomics")])
            steps[(TestCase, "_fixture_teardown")] = lazy.fixture_teardown(steps[(TestCase, "_fixture_teardown")])
            lazy.on_change = self.first_use.refresh
        if self.lazy_setup is not None:
            steps[(flush.Command, "handle")] = nothing_to_flush_before_setup(
                steps[(flush.Command, "handle")], self.lazy_setup
            )
            key = (TestCase, "_databases_support_transactions")
            steps[key] = transactions_supported_before_setup(self.lazy_setup)
            self.lazy_setup.on_change = self.first_use.refresh
        self.first_use.install(patches, [type(primary_of(connections[alias])) for alias in connections])
        if self.options.report_usage:
            # Django's own transactions and flushes are not a class's use of a database.
            steps = {key: quieted(step, self.tracker.pause) for key, step in steps.items()}
            original = patches.original(SimpleTestCase, "_add_databases_failures")
            patches.replace(SimpleTestCase, "_add_databases_failures", self.usage.add_databases_failures(original))
            self.tracker.on_use = self.usage.note
            self.set_mirror_hooks(self.usage.note)
        for (owner, name), step in steps.items():
            if step is not originals[(owner, name)]:
                patches.replace(owner, name, step)
        if self.options.read_only_mirrors:
            self.tracker.mirror_guard = self.mirror_guard()
            self.set_statement_checks()

    def mirror_guard(self) -> MirrorGuard:
        """Return the check of writes through the read-only mirrors."""
        tracker = self.tracker

        def writing_functions(primary: str) -> frozenset[str]:
            facts = tracker.facts.get(primary)
            return frozenset(facts.writing_functions) if facts is not None else frozenset()

        return MirrorGuard(self.mirrors, self.options.read_only_mirrors, writing_functions, database_verdict)

    def set_statement_checks(self) -> None:
        """Have this thread's read-only mirror connections refuse writes."""
        guard = self.tracker.mirror_guard
        for mirror in self.mirrors:
            check = verdict = None
            if guard is not None and mirror in guard.read_only:
                vendor = connections[mirror].vendor
                check = functools.partial(guard.check, mirror, vendor)
                verdict = guard.verdict(mirror, vendor)
            set_mirror_statement_check(connections[mirror], check, verdict)

    def set_mirror_hooks(self, on_use: Any) -> None:
        """Tell this thread's mirror connections whom to tell when a cursor is taken through them."""
        for mirror in self.mirrors:
            set_mirror_use_hook(connections[mirror], on_use)

    def restart_in_worker(self) -> None:
        """Forget what the main process recorded (a forked worker's clones start afresh)."""
        self.tracker.forget()
        self.usage.take()
        self.tracker.install()
        # The worker's own mirror connections, made when it switched to its clones.
        if self.options.report_usage:
            self.set_mirror_hooks(self.usage.note)
        if self.options.read_only_mirrors:
            self.set_statement_checks()

    def remove(self) -> None:
        """Switch everything off; Django's classes are as they were before ``install()``."""
        if not self.installed:
            return
        self.installed = False
        self.tracker.on_use = None
        self.tracker.mirror_guard = None
        self.set_mirror_hooks(None)
        self.set_statement_checks()
        self.transactions.forget()
        self.first_use.remove()
        self.patches.restore()
        self.tracker.uninstall()


def nothing_to_flush_before_setup(handle: Any, lazy_setup: DatabasesSetUpOnFirstUse) -> Any:
    """Return the ``flush`` command's ``handle`` doing nothing on a database not set up yet."""

    def flush_handle(command: Any, **options: Any) -> None:
        if options.get("database") in lazy_setup.pending:
            # Nothing was ever written there: it does not exist yet.
            return None
        return handle(command, **options)  # type: ignore[no-any-return]

    return flush_handle


def transactions_supported_before_setup(lazy_setup: DatabasesSetUpOnFirstUse) -> Any:
    """
    Return ``TestCase._databases_support_transactions`` that does not set up databases to answer.

    Adapted from ``connections_support_transactions``: MySQL's answer takes
    a query, which would set up every database a class may use.
    """

    def _databases_support_transactions(cls: Any) -> bool:
        return all(
            lazy_setup.supports_transactions(alias)
            if alias in lazy_setup.pending
            else connections[alias].features.supports_transactions
            for alias in (connections if isinstance(cls.databases, str) else cls.databases)
        )

    return classmethod(_databases_support_transactions)
