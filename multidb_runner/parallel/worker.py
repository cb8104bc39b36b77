"""
What runs inside a parallel worker: replay the run's changes, switch to the clones.

Under spawn and forkserver a worker starts from a fresh interpreter and
re-imports everything, so whatever the runner changed in the main process
(``databases`` on test classes, ``managed`` on legacy models, the legacy
router, the skip decorator fix, the test databases' settings) is lost
unless it is made again here: the main process sends the list of its
run-wide changes as picklable descriptions (``changes.py``), and the worker
replays it. Under fork they are inherited; only the test classes' changes
are repeated (harmless), as each class arrives. Then every alias is pointed at this worker's
clone, mirrors included: a mirror reads its primary's clone, through the
primary's connection.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sqlite3
import sys
import threading
import time
import unittest
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.test.runner import ParallelTestSuite

from ..changes import Change, ChangeStack
from ..isolation.layer import IsolationLayer, IsolationOptions
from ..isolation.mirrors import CONNECTION_SETTINGS, MirrorSharing
from ..planning.plan import DatabasePlan
from ..setup.catalog import is_in_memory


@dataclass
class WorkerSlots:
    """
    What each worker is running, in memory shared with the main process.

    When a worker dies, its results never come back; these tell the main
    process which worker (by pid) was running which class and which test.
    Slot ``n - 1`` belongs to worker ``n``. -1 means none.
    """

    pids: Any
    classes: Any
    tests: Any

    @classmethod
    def create(cls, context: Any, workers: int) -> WorkerSlots:
        return cls(*(context.Array("i", [-1] * workers, lock=False) for _ in range(3)))

    def slot_of(self, pid: int) -> int | None:
        """Return the slot of the worker process ``pid``, if it ever started."""
        for slot, slot_pid in enumerate(self.pids):
            if slot_pid == pid:
                return slot
        return None


@dataclass(frozen=True)
class ConnectionSettings:
    """Every alias's settings after the set-up (test names, mirrors' primaries) and serialized contents."""

    #: alias -> settings_dict after setup.
    settings: dict[str, dict[str, Any]]
    #: alias -> serialized contents for serialized_rollback.
    serialized: dict[str, str]

    @classmethod
    def now(cls, plan: DatabasePlan) -> ConnectionSettings:
        """Read them in the main process, once the databases are set up."""
        return cls(
            settings={alias: dict(connections[alias].settings_dict) for alias in connections},
            serialized={
                alias: connections[alias]._test_serialized_contents  # type: ignore[attr-defined]
                for alias in plan.primaries
                if hasattr(connections[alias], "_test_serialized_contents")
            },
        )

    def apply(self, stack: ChangeStack) -> None:
        """Give this worker's connections the main process's settings (the worker ends with them)."""
        for alias, settings_dict in self.settings.items():
            connections[alias].settings_dict.update(settings_dict)
            if alias in self.serialized:
                connections[alias]._test_serialized_contents = self.serialized[alias]  # type: ignore[attr-defined]


@dataclass
class WorkerState:
    """Everything a worker needs to repeat the main process's setup (picklable)."""

    start_method: str
    workers: int
    debug_mode: bool
    #: Django's plan: (first alias, aliases sharing its test database).
    creations: list[tuple[str, list[str]]]
    #: mirror -> primary.
    mirrors: dict[str, str]
    #: alias -> snapshot file of an in-memory database (spawn/forkserver).
    snapshots: dict[str, str]
    #: The run-wide changes, in the order the main process made them (``changes.py``).
    changes: list[Change]
    process_setup: Callable[..., Any] | None = None
    process_setup_args: tuple[Any, ...] = field(default_factory=tuple)
    #: Measure coverage in the worker (--coverage).
    coverage: bool = False
    #: Write tracking, selective flush, lazy transactions, usage report.
    isolation: IsolationOptions = field(default_factory=IsolationOptions)

    @classmethod
    def collect(
        cls,
        suite: ParallelTestSuite,
        plan: DatabasePlan,
        *,
        debug_mode: bool,
        snapshots: dict[str, str],
        changes: list[Change],
        coverage: bool,
        isolation: IsolationOptions,
    ) -> WorkerState:
        """Collect, in the main process, what a worker needs to repeat its setup."""
        process_setup = getattr(suite, "process_setup", None)
        process_setup = getattr(process_setup, "__func__", process_setup)
        return cls(
            start_method=multiprocessing.get_start_method(),
            workers=suite.processes,
            debug_mode=debug_mode,
            creations=plan.creations,
            mirrors=plan.mirrors,
            snapshots=snapshots,
            changes=changes,
            process_setup=None if process_setup is ParallelTestSuite.process_setup else process_setup,
            process_setup_args=tuple(getattr(suite, "process_setup_args", ())),
            coverage=coverage,
            isolation=isolation,
        )

    def apply_to_suite(self, suite: unittest.TestSuite) -> None:
        """Repeat, on the classes of a suite just received, the changes made to test classes."""
        for change in self.changes:
            if getattr(change, "per_suite", False):
                change.apply_to_suite(suite)  # type: ignore[attr-defined]


@dataclass
class WorkerProcess:
    """This worker process: its number, what the main process sent, what it changed for its life."""

    #: From 1 to the number of workers: the number of its clones.
    number: int
    state: WorkerState
    #: Where it says what it is running (shared with the main process).
    slots: WorkerSlots | None = None
    isolation: IsolationLayer | None = None
    #: What the worker changes for its whole life (it ends with the process).
    changes: ChangeStack = field(default_factory=ChangeStack)

    def note_progress(self, subsuite_index: int, test_index: int) -> None:
        """Say in this worker's slot which class and test it is running."""
        if self.slots is not None:
            self.slots.classes[self.number - 1] = subsuite_index
            self.slots.tests[self.number - 1] = test_index


class ThisProcess:
    """
    This process's worker, set once by ``init_worker()``.

    The pool's task function can find per-process state only through its
    module (Django's own workers keep ``_worker_id`` the same way); this is
    the only such object.
    """

    worker: WorkerProcess | None = None


this_process = ThisProcess()


def worker_id() -> int:
    """Return this worker's number (0 outside a parallel worker)."""
    worker = this_process.worker
    return worker.number if worker is not None else 0


def worker_number(started: int, workers: int) -> int:
    """
    Return the clone number (1..workers) of the ``started``-th worker process.

    A replacement worker wraps around to an existing clone instead of asking
    for clone ``workers + 1``, which was never made (Django ticket #27734).
    """
    return (started - 1) % workers + 1


def init_worker(
    counter: Any, state: WorkerState, slots: WorkerSlots | None = None, inherited: IsolationLayer | None = None
) -> None:
    """
    Prepare a new worker process (the pool's initializer).

    Adapted from ``django.test.runner._init_worker``; forkserver is treated
    like spawn on every Django version, and the worker number wraps so that a
    replacement worker still gets an existing clone (Django ticket #27734).
    ``inherited`` is the main process's isolation layer, under fork.
    """
    if state.coverage:
        # First, so that a spawned worker's imports are measured too.
        from ..reports.coverage_support import start_in_worker

        start_in_worker()
    with counter.get_lock():
        counter.value += 1
        number = worker_number(counter.value, state.workers)
    worker = this_process.worker = WorkerProcess(number, state, slots)
    if slots is not None:
        slots.pids[number - 1] = os.getpid()
    # Ctrl-C is the main process's to handle: it stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the main process's handlers, which turn these
    # into an interrupted run; here they must end the worker, as they do
    # when the pool terminates its workers.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    exit_with_parent()
    if state.start_method != "fork":
        reapply_run(state, worker.changes)
    switch_to_worker_databases(state, number)
    if inherited is not None:
        inherited.restart_in_worker()
        worker.isolation = inherited
    else:
        worker.isolation = IsolationLayer(state.isolation, state.mirrors)
        worker.isolation.install()


def reapply_run(state: WorkerState, changes: ChangeStack) -> None:
    """Repeat, in a fresh interpreter, what the runner did in the main process: replay its changes."""
    import django
    from django.test.utils import setup_test_environment

    if state.process_setup is not None:
        state.process_setup(*state.process_setup_args)
    django.setup()
    setup_test_environment(debug=state.debug_mode)
    # Before any test module is imported (when the tests are unpickled).
    changes.replay(state.changes)


def worker_settings(alias: str, worker: int, state: WorkerState) -> dict[str, Any]:
    """
    Return the settings that point SQLite ``alias`` at worker ``worker``'s clone.

    In-memory SQLite under fork keeps the inherited copy (nothing changes);
    under spawn and forkserver it is loaded from the main process's snapshot
    into a shared-cache in-memory database of this worker.
    """
    connection = connections[alias]
    if is_in_memory(connection):
        if alias not in state.snapshots:
            return {}
        name = f"file:memorydb_{alias}_{worker}?mode=memory&cache=shared"
        load_snapshot(state.snapshots[alias], name)
        return {"NAME": name}
    clone: dict[str, Any] = connection.creation.get_test_db_clone_settings(str(worker))
    return {key: clone[key] for key in CONNECTION_SETTINGS if key in clone}


def load_snapshot(path: str, name: str) -> None:
    """Copy the snapshot at ``path`` into the in-memory database ``name``."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(name, uri=True)
    try:
        source.backup(target)
    finally:
        source.close()
    # Keep one connection open for the life of the worker: a shared-cache
    # in-memory database lives only while some connection holds it.
    _keep_alive.append(target)


_keep_alive: list[sqlite3.Connection] = []


def switch_to_worker_databases(state: WorkerState, worker: int) -> None:
    """
    Point every alias at this worker's clone; mirrors at their primary's clone.

    As in ``django.test.runner._init_worker``: ``django.test.runner._worker_id``
    is this worker's number (projects read it to give each worker its own
    cache prefix or media folder), and each backend's
    ``creation.setup_worker_connection()`` points its connection at the
    clone (third-party backends override it). SQLite is the exception: the
    runner makes its clones and snapshots itself (see below).
    """
    import django.test.runner

    django.test.runner._worker_id = worker  # type: ignore[attr-defined]
    for first, aliases in state.creations:
        connection = connections[first]
        if connection.vendor == "sqlite":
            # Django's SQLite backend loads <alias>_<n>.sqlite3 from the
            # current folder into memory under spawn (whether the test
            # database is in memory or not), and does nothing under forkserver.
            updates = worker_settings(first, worker, state)
            if state.start_method != "fork" and os.environ.get("RUNNING_DJANGOS_TEST_SUITE") == "true":
                # What that method does there for Django's own test suite.
                connection.creation.mark_expected_failures_and_skips()
            if not updates:
                continue
            connection.close()
            connection.settings_dict.update(updates)
        else:
            connection.creation.setup_worker_connection(worker)
            updates = {
                key: connection.settings_dict[key] for key in CONNECTION_SETTINGS if key in connection.settings_dict
            }
        for alias in aliases[1:]:
            connections[alias].close()
            connections[alias].settings_dict.update(updates)
    sharing = MirrorSharing()
    sharing.install(state.mirrors)


def run_subsuite(
    args: tuple[Any, ...],
) -> tuple[int, list[Any], str | None, dict[str, set[str]], tuple[int, set[str] | None]]:
    """
    Run one test class in this worker; return its events, any problem, the aliases it used, and its clones' writes.

    Adapted from ``django.test.runner._run_subsuite`` and
    ``RemoteTestRunner.run``. When a test's outcome cannot be pickled,
    Django raises; sending that exception back (with its unpicklable context)
    would kill the worker, so only its description is returned, with the
    events recorded so far.
    """
    runner_class, subsuite_index, subsuite, failfast, buffer = args
    worker = this_process.worker
    if worker is not None:
        worker.state.apply_to_suite(subsuite)
    runner = runner_class(failfast=failfast, buffer=buffer)
    result = reporting_progress(timed(runner.resultclass), worker)()
    unittest.registerResult(result)
    result.failfast = failfast
    result.buffer = buffer
    if worker is not None:
        worker.note_progress(subsuite_index, -1)
    try:
        subsuite(result)
    except Exception as exc:
        finish_interrupted_class(subsuite, result)
        problem = f"{type(exc).__name__}: {exc}"
        return subsuite_index, result.events, problem, used_aliases(worker), clone_writes(worker)
    finally:
        if worker is not None:
            worker.note_progress(-1, -1)
    return subsuite_index, result.events, None, used_aliases(worker), clone_writes(worker)


def reporting_progress(result_class: type[Any], worker: WorkerProcess | None) -> type[Any]:
    """Make a worker's result say in the worker's slot which test it starts."""
    if worker is None or worker.slots is None:
        return result_class
    tests = worker.slots.tests
    slot = worker.number - 1

    class ProgressResult(result_class):  # type: ignore[misc]
        def startTest(self, test: Any) -> None:
            super().startTest(test)
            tests[slot] = self.test_index

    return ProgressResult


def used_aliases(worker: WorkerProcess | None) -> dict[str, set[str]]:
    """Return (and forget) the aliases each class used in this worker, for the usage report."""
    if worker is None or worker.isolation is None:
        return {}
    return worker.isolation.usage.take()


def clone_writes(worker: WorkerProcess | None) -> tuple[int, set[str] | None]:
    """
    Return this worker's clone number, and the aliases whose clone it wrote to so far (None: unknown).

    Written: flushed, or sent a statement that may write outside a
    ``TestCase``'s transactions. A clone nothing wrote to still holds what
    it was cloned from: a ``--keepdb`` run may reuse it.
    """
    if worker is None or worker.isolation is None:
        return (worker.number if worker is not None else 0), None
    isolation = worker.isolation
    return worker.number, set(isolation.flush.flushed) | isolation.tracker.lasting_writes


def finish_interrupted_class(suite: unittest.TestSuite, result: Any) -> None:
    """
    Run the test and class teardown that an exception skipped.

    Otherwise the interrupted test's transaction and its class's
    transaction would stay open on this worker's connections, under every
    class the worker runs next. Uses unittest.TestSuite's end-of-suite steps
    (private, but long stable); if they fail, the connections are reset.
    """
    started = [event[1] for event in result.events if event[0] == "startTest"]
    tests = list(suite)
    try:
        if started and started[-1] < len(tests):
            interrupted = tests[started[-1]]
            post_teardown = getattr(interrupted, "_post_teardown", None)
            if post_teardown is not None:
                post_teardown()
        suite._tearDownPreviousClass(None, result)  # type: ignore[attr-defined]
        suite._handleModuleTearDown(result)  # type: ignore[attr-defined]
    except Exception:
        reset_connections()


def reset_connections() -> None:
    """Close every connection and forget any transaction it was in."""
    for connection in connections.all():
        try:
            connection.close()
        except Exception:
            pass
        connection.connection = None
        connection.in_atomic_block = False
        connection.savepoint_ids = []
        connection.atomic_blocks = []
        connection.needs_rollback = False
        connection.closed_in_transaction = False


def timed(result_class: type[Any]) -> type[Any]:
    """
    Make a worker's result send each test's duration, on Pythons before 3.12.

    From 3.12 unittest calls ``addDuration`` itself; the main process needs
    the durations measured here, not when the events are replayed there.
    """
    if sys.version_info >= (3, 12):
        return result_class

    class TimedResult(result_class):  # type: ignore[misc]
        def startTest(self, test: Any) -> None:
            self.started_at = time.perf_counter()
            super().startTest(test)

        def stopTest(self, test: Any) -> None:
            # RemoteTestResult.addDuration needs 3.12's TestResult: send the event directly.
            self.events.append(("addDuration", self.test_index, time.perf_counter() - self.started_at))
            super().stopTest(test)

    return TimedResult


def exit_with_parent() -> None:
    """
    End this worker when the main process dies, even by SIGKILL.

    An idle worker waits for work forever; without this it would outlive a
    killed run and keep its database connections open.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="multidb-runner-parent-watch", daemon=True).start()
