"""
Run test classes in worker processes, and always come back with an answer.

Django's ParallelTestSuite hands classes to a ``multiprocessing.Pool``: a
worker that dies is silently replaced and its class is never reported (the
run hangs), a worker that hangs hangs the run, and Ctrl-C ends with "OK".
Here a ``ProcessPoolExecutor`` runs at most one class per worker at a time,
so the main process knows what each worker is doing: a dead worker, a class
that outlives the timeout, or a result that cannot be sent back is reported
as an error of those tests, and the run fails.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from django.test.runner import ParallelTestSuite

# Defined with the other errors users see; importable from here as before.
from ..errors import WorkerProblem as WorkerProblem
from ..isolation.layer import IsolationLayer
from . import worker as workers
from .dead_workers import ClassTests, blame_dead_workers, class_not_reported
from .worker import WorkerSlots, WorkerState

#: What a worker sends back for a class: its index, the events of its
#: tests, why some could not be sent (or None), the aliases it used, and
#: its clone number with the aliases whose clone it wrote to so far (None: unknown).
SubsuiteOutcome = tuple[int, list[Any], str | None, dict[str, set[str]], tuple[int, set[str] | None]]


@dataclass
class WorkerPool:
    """What the main process knows of its pool of workers during one run of the suite."""

    executor: ProcessPoolExecutor
    #: How many workers have begun their initializer (shared with them).
    workers_started: Any
    #: What each worker is running (shared with them).
    slots: WorkerSlots
    #: The subsuites not sent yet: (index, subsuite), in order.
    pending: list[tuple[int, Any]]
    #: In flight, in the order sent: (subsuite index, when it started, or
    #: None while it waits behind another class for a worker).
    running: dict[Future[SubsuiteOutcome], tuple[int, float | None]] = field(default_factory=dict)
    #: pid -> worker process, kept here: the pool forgets its dead workers.
    processes: dict[int, Any] = field(default_factory=dict)

    def remember_processes(self) -> None:
        """Note the pool's workers, so that one that dies can still be asked how it ended."""
        self.processes.update(getattr(self.executor, "_processes", None) or {})

    def running_in_slots(self) -> dict[int, tuple[int, int]]:
        """Return what each worker's slot shows it running: pid -> (subsuite index, test index)."""
        running: dict[int, tuple[int, int]] = {}
        for pid, index, test in zip(self.slots.pids, self.slots.classes, self.slots.tests, strict=True):
            running.setdefault(pid, (index, test))
        return running


class MultiDBParallelTestSuite(ParallelTestSuite):
    """Django's ParallelTestSuite, run by a pool that notices dead and hung workers."""

    #: Set by the runner once the databases are set up.
    worker_state: WorkerState | None = None
    #: Seconds one test class may run in a worker before the run is stopped.
    timeout: float | None = None
    #: The main process's isolation layer, which forked workers inherit.
    isolation: IsolationLayer | None = None
    #: Receives the aliases each class used in a worker (the usage report).
    usage_sink: Callable[[dict[str, set[str]]], None] | None = None
    #: How often the main process looks at its workers, in seconds.
    poll_interval = 0.2
    #: After a run every class of which was reported: clone number -> the aliases whose clone
    #: was written to (flushed, or written outside a TestCase's transactions). None otherwise.
    clone_writes: dict[int, set[str]] | None = None
    #: During a run: what the classes reported so far (None: one could not tell).
    reported_writes: dict[int, set[str]] | None = None

    def run(self, result: Any, debug: bool = False) -> Any:
        """
        Run the subsuites in the pool until all are reported or the run must stop.

        Each turn sends classes to keep one ready per worker, waits a little
        for results, collects those that came back, then looks for a class
        that outlived the timeout. A dead worker or a hung class ends the run
        at once, with every worker killed.
        """
        state = self.worker_state
        if state is None:
            raise RuntimeError("MultiDBParallelTestSuite.worker_state was not set by the runner.")
        pool = self.start_pool(state)
        # Don't buffer in the main process to avoid error propagation issues.
        result.buffer = False
        clean_exit = False
        self.clone_writes = None
        self.reported_writes = {}
        try:
            while (pool.pending or pool.running) and not result.shouldStop:
                self.submit(pool)
                for future in self.wait_for_results(pool):
                    if self.collect(pool, result, future):
                        return result
                if self.time_out(pool, result):
                    return result
            clean_exit = True
        finally:
            if clean_exit and not result.shouldStop:
                pool.executor.shutdown(wait=True)
                self.clone_writes = self.reported_writes
            else:
                self.kill_workers(pool.executor)
        return result

    def start_pool(self, state: WorkerState) -> WorkerPool:
        """Create the pool of workers (they start with the first class sent) and what tracks them."""
        context = multiprocessing.get_context(state.start_method)
        counter = context.Value(ctypes.c_int, 0)
        slots = WorkerSlots.create(context, self.processes)
        executor = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=context,
            initializer=workers.init_worker,
            initargs=(counter, state, slots, self.isolation if state.start_method == "fork" else None),
        )
        return WorkerPool(executor, counter, slots, pending=list(enumerate(self.subsuites)))

    def submit(self, pool: WorkerPool) -> None:
        """
        Send classes to the pool until one waits ready for each worker.

        A worker that finishes then starts the next class without a round
        trip to the main process.
        """
        while pool.pending and len(pool.running) < 2 * self.processes:
            index, subsuite = pool.pending.pop(0)
            args = (self.runner_class, index, subsuite, self.failfast, self.buffer)
            pool.running[pool.executor.submit(workers.run_subsuite, args)] = (index, None)
        self.mark_started(pool.running)

    def wait_for_results(self, pool: WorkerPool) -> set[Future[SubsuiteOutcome]]:
        """Wait up to ``poll_interval`` seconds for classes to finish; return those that did."""
        pool.remember_processes()
        done, _ = wait(pool.running, timeout=self.poll_interval, return_when=FIRST_COMPLETED)
        return done

    def collect(self, pool: WorkerPool, result: Any, future: Future[SubsuiteOutcome]) -> bool:
        """
        Report the outcome of a finished class; return True if the run must end now.

        It must when the pool broke: a worker died.
        """
        index, _ = pool.running.pop(future)
        try:
            _, events, problem, used, (clone, written) = future.result()
        except BrokenProcessPool:
            # Unreported like those still in flight, and last of them, as it was sent.
            pool.running[future] = (index, 0.0)
            self.attribute_dead_worker(pool, result)
            return True
        except Exception as exc:
            self.reported_writes = None  # what that class wrote is unknown
            self.report_problem(result, index, f"its results could not be sent back: {exc!r}")
        else:
            self.note_clone_writes(clone, written)
            if self.usage_sink is not None:
                self.usage_sink(used)
            tests = list(self.subsuites[index])
            for event in events:
                self.handle_event(result, tests, event)  # type: ignore[arg-type]
            if problem is not None:
                self.report_unsent(result, index, events, problem)
        return False

    def note_clone_writes(self, clone: int, written: set[str] | None) -> None:
        """Add what a class's worker wrote to its clones (``written`` None: unknown, so is every clone's)."""
        if self.reported_writes is None:
            return
        if written is None:
            self.reported_writes = None
        else:
            self.reported_writes.setdefault(clone, set()).update(written)

    def time_out(self, pool: WorkerPool, result: Any) -> bool:
        """
        Stop the run if a class has outlived the timeout; return True if it did.

        The late classes get the error; the others in flight were not run
        to the end.
        """
        if self.timeout is None:
            return False
        self.mark_started(pool.running)
        now = time.monotonic()
        late = [
            index for index, started in pool.running.values() if started is not None and now - started > self.timeout
        ]
        if not late:
            return False
        for index in late:
            self.report_problem(result, index, f"it did not finish within {self.timeout:g} seconds (hung worker)")
        self.report_not_run(result, [i for i, _ in pool.running.values() if i not in late])
        result.stop()
        return True

    def mark_started(self, running: dict[Any, tuple[int, float | None]]) -> None:
        """
        Note when the classes in flight started: the first ``processes`` sent are running.

        Workers take classes in the order they were sent, one at a time.
        """
        now = time.monotonic()
        for future in list(running)[: self.processes]:
            index, started = running[future]
            if started is None:
                running[future] = (index, now)

    def describe(self, index: int) -> str:
        """Name the test class of subsuite ``index``."""
        tests = list(self.subsuites[index])
        return type(tests[0]).__qualname__ if tests else f"subsuite {index}"

    def report_problem(self, result: Any, index: int, why: str) -> None:
        """Report every test of subsuite ``index`` as an error, saying why."""
        error = WorkerProblem(class_not_reported(self.describe(index), why))
        for test in self.subsuites[index]:
            result.addError(test, (WorkerProblem, error, None))

    def report_unsent(self, result: Any, index: int, events: list[Any], problem: str) -> None:
        """
        Report the tests of subsuite ``index`` whose outcome never came back.

        The test being run when the problem arose (the last one started)
        gets the error; the tests after it never ran.
        """
        tests = list(self.subsuites[index])
        started = [event[1] for event in events if event[0] == "startTest"]
        stopped = {event[1] for event in events if event[0] == "stopTest"}
        culprit = started[-1] if started else 0
        if culprit < len(tests):
            error = WorkerProblem(
                f"The outcome of this test could not be sent back from its worker ({problem}); "
                "run it with --parallel 1 to see it."
            )
            if not started:
                result.startTest(tests[culprit])
            result.addError(tests[culprit], (WorkerProblem, error, None))
            if culprit not in stopped:
                result.stopTest(tests[culprit])
        for test in tests[culprit + 1 :]:
            not_run = WorkerProblem(f"Not run: an earlier test of {self.describe(index)} could not report its outcome.")
            result.addError(test, (WorkerProblem, not_run, None))

    def report_not_run(self, result: Any, indexes: list[int]) -> None:
        """Report the classes that were running when the run had to stop."""
        for index in indexes:
            self.report_problem(result, index, "the run was stopped because another worker failed")

    def attribute_dead_worker(self, pool: WorkerPool, result: Any) -> None:
        """
        A worker process died: blame the test it was running, count the tests that never ran, stop.

        Which test that was is decided by ``blame_dead_workers`` from the
        workers' exit codes and slots; this reports its verdict.
        """
        pool.remember_processes()
        unreported = [index for index, _ in pool.running.values()] + [index for index, _ in pool.pending]
        verdict = blame_dead_workers(
            unreported,
            {index: self.class_tests(index) for index in unreported},
            self.exit_codes(pool.processes),
            pool.running_in_slots(),
            pool.workers_started.value,
        )
        for blame in verdict.blames:
            tests = list(self.subsuites[blame.index])
            error = WorkerProblem(blame.message)
            if blame.test is None:
                for test in tests:
                    result.addError(test, (WorkerProblem, error, None))
            else:
                result.startTest(tests[blame.test])
                result.addError(tests[blame.test], (WorkerProblem, error, None))
                result.stopTest(tests[blame.test])
        sys.stderr.write(f"\n{verdict.summary}\n")
        result.stop()

    def class_tests(self, index: int) -> ClassTests:
        """Describe subsuite ``index`` for ``blame_dead_workers``."""
        tests: list[Any] = list(self.subsuites[index])
        return ClassTests(self.describe(index), tuple(test.id() for test in tests))

    @staticmethod
    def exit_codes(processes: dict[int, Any]) -> dict[int, int]:
        """Wait up to 10 seconds for the workers to end; return the exit code of each that did, by pid."""
        deadline = time.monotonic() + 10
        for process in processes.values():
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        # The pool's own thread reaps the same processes: an exit code it has
        # just collected may not be recorded yet when join() returns.
        while any(process.exitcode is None for process in processes.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        return {pid: process.exitcode for pid, process in processes.items() if process.exitcode is not None}

    @staticmethod
    def kill_workers(executor: ProcessPoolExecutor) -> None:
        """Stop every worker now, whatever it is doing."""
        for process in list(getattr(executor, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=True, cancel_futures=True)
