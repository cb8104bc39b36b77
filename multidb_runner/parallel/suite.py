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
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from django.test.runner import ParallelTestSuite

from ..errors import sentence
from ..isolation.layer import IsolationLayer
from . import worker as workers
from .worker import WorkerSlots, WorkerState


class WorkerProblem(Exception):
    """A worker could not report the result of some tests."""


# As test output shows it: multidb_runner.parallel.WorkerProblem.
WorkerProblem.__module__ = "multidb_runner.parallel"


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

    def run(self, result: Any, debug: bool = False) -> Any:  # noqa: C901 - one loop, several outcomes
        state = self.worker_state
        if state is None:
            raise RuntimeError("MultiDBParallelTestSuite.worker_state was not set by the runner.")
        context = multiprocessing.get_context(state.start_method)
        counter = context.Value(ctypes.c_int, 0)
        slots = WorkerSlots.create(context, self.processes)
        #: pid -> worker process, kept here: the pool forgets its dead workers.
        processes: dict[int, Any] = {}
        # Don't buffer in the main process to avoid error propagation issues.
        result.buffer = False
        pending = list(enumerate(self.subsuites))
        # In flight, in the order sent: (subsuite index, when it started, or
        # None while it waits behind another class for a worker).
        running: dict[Future[tuple[int, list[Any], str | None, dict[str, set[str]]]], tuple[int, float | None]] = {}
        executor = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=context,
            initializer=workers.init_worker,
            initargs=(counter, state, slots, self.isolation if state.start_method == "fork" else None),
        )
        clean_exit = False
        try:
            while (pending or running) and not result.shouldStop:
                # One class waits ready for each worker, so that a worker that
                # finishes starts the next class without a round trip.
                while pending and len(running) < 2 * self.processes:
                    index, subsuite = pending.pop(0)
                    args = (self.runner_class, index, subsuite, self.failfast, self.buffer)
                    running[executor.submit(workers.run_subsuite, args)] = (index, None)
                self.mark_started(running)
                processes.update(getattr(executor, "_processes", None) or {})
                done, _ = wait(running, timeout=self.poll_interval, return_when=FIRST_COMPLETED)
                for future in done:
                    index, _ = running.pop(future)
                    try:
                        _, events, problem, used = future.result()
                    except BrokenProcessPool:
                        running[future] = (index, 0.0)
                        processes.update(getattr(executor, "_processes", None) or {})
                        unreported = [i for i, _ in running.values()] + [i for i, _ in pending]
                        self.report_broken_pool(result, unreported, processes, slots, counter.value)
                        return result
                    except Exception as exc:
                        self.report_problem(result, index, f"its results could not be sent back: {exc!r}")
                    else:
                        if self.usage_sink is not None:
                            self.usage_sink(used)
                        tests = list(self.subsuites[index])
                        for event in events:
                            self.handle_event(result, tests, event)  # type: ignore[arg-type]
                        if problem is not None:
                            self.report_unsent(result, index, events, problem)
                if self.timeout is not None:
                    self.mark_started(running)
                    now = time.monotonic()
                    late = [
                        index
                        for index, started in running.values()
                        if started is not None and now - started > self.timeout
                    ]
                    if late:
                        for index in late:
                            self.report_problem(
                                result, index, f"it did not finish within {self.timeout:g} seconds (hung worker)"
                            )
                        self.report_not_run(result, [i for i, _ in running.values() if i not in late])
                        result.stop()
                        return result
            clean_exit = True
        finally:
            if clean_exit and not result.shouldStop:
                executor.shutdown(wait=True)
            else:
                self.kill_workers(executor)
        return result

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
        error = WorkerProblem(f"Tests of {self.describe(index)} were not reported by their worker: {sentence(why)}")
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

    def report_broken_pool(
        self, result: Any, unreported: list[int], processes: dict[int, Any], slots: WorkerSlots, started: int
    ) -> None:
        """
        A worker process died: blame the test it was running, count the tests that never ran, stop.

        The pool terminates its other workers (SIGTERM) as soon as one dies;
        the dead one is the worker whose end was not that. Its slot says
        which class and test it was running.
        """
        deadline = time.monotonic() + 10
        for process in processes.values():
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        # The pool's own thread reaps the same processes: an exit code it has
        # just collected may not be recorded yet when join() returns.
        while any(process.exitcode is None for process in processes.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        ends = {pid: process.exitcode for pid, process in processes.items() if process.exitcode is not None}
        dead = [pid for pid, code in ends.items() if code not in (0, -signal.SIGTERM)]
        if not dead:
            dead = [pid for pid, code in ends.items() if code != 0]
        blamed: dict[int, tuple[int, int]] = {}
        for pid in dead:
            slot = slots.slot_of(pid)
            if slot is not None and slots.classes[slot] in unreported:
                blamed[slots.classes[slot]] = (slots.tests[slot], ends[pid])
        if not blamed:
            # Only the dead worker's own end tells anything; the others were ended by the pool.
            codes = sorted({ends[pid] for pid in dead if ends[pid] != -signal.SIGTERM})
            how = f" (exit code {', '.join(map(describe_exit_code, codes))})" if codes else ""
            if started <= 0 or any(code == 0 for code in ends.values()):
                # A worker whose initializer fails ends with status 0 after logging its traceback.
                why = "a worker process failed to start; see its traceback above"
            else:
                why = "a worker process died between test classes"
            for index in unreported:
                self.report_problem(result, index, f"{why}{how}")
            sys.stderr.write(f"\nA parallel test worker died{how}: {sentence(why)} Stopping the run.\n")
            result.stop()
            return
        not_run = lost = 0
        lines = []
        for index in unreported:
            tests: list[Any] = list(self.subsuites[index])
            if index not in blamed:
                not_run += len(tests)
                continue
            test_index, exit_code = blamed[index]
            code = describe_exit_code(exit_code)
            if not 0 <= test_index < len(tests):
                self.report_problem(result, index, f"its worker died before its first test (exit code {code})")
                lines.append(f"A parallel test worker died while running {self.describe(index)}, exit code {code}")
                continue
            culprit = tests[test_index]
            lines.append(f"A parallel test worker died while running {culprit.id()}, exit code {code}")
            result.startTest(culprit)
            result.addError(culprit, (WorkerProblem, WorkerProblem(f"{lines[-1]}."), None))
            result.stopTest(culprit)
            # The tests of that class before it ran, but their outcomes died with the worker.
            lost += test_index
            not_run += len(tests) - 1 - test_index
        total = not_run + lost
        counted = f"{total} {'test' if total == 1 else 'tests'} did not run"
        if lost:
            counted += f" ({lost} of them ran before it in that worker; their outcomes were lost)"
        sys.stderr.write("\n" + ";\n".join(lines) + f"; {counted}. Stopping the run.\n")
        result.stop()

    @staticmethod
    def kill_workers(executor: ProcessPoolExecutor) -> None:
        """Stop every worker now, whatever it is doing."""
        for process in list(getattr(executor, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=True, cancel_futures=True)


def describe_exit_code(code: int) -> str:
    """Return a worker's exit code as people read it: ``-9 (killed by SIGKILL)``."""
    if code < 0:
        try:
            return f"{code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)
