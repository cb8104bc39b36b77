"""
Say which test a worker process that died was running, as pure logic.

When a worker dies, its results never come back and the pool breaks. What
is left to go on is plain data: which classes were never reported, how
each worker process ended, and what each worker's slot said it was
running. ``blame_dead_workers`` turns that into the errors to report and
the line to print; the suite (``suite.py``) gathers the data and applies
the verdict, so this part is testable without processes.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import sentence


class ClassTests(NamedTuple):
    """What the verdict needs of one subsuite: its class's name and its tests' ids, in order."""

    name: str
    test_ids: tuple[str, ...]


@dataclass(frozen=True)
class Blame:
    """
    One error to report for a dead worker.

    ``test`` is the index of the test blamed within subsuite ``index``; it is
    reported as started, failed with ``message`` and stopped. ``None``
    means every test of the subsuite gets ``message`` as its error.
    """

    index: int
    test: int | None
    message: str


@dataclass(frozen=True)
class DeadWorkerVerdict:
    """The errors to report, in order, and the line to print before the run stops."""

    blames: list[Blame]
    summary: str


def class_not_reported(name: str, why: str) -> str:
    """Return the error of the tests of class ``name`` that their worker could not report."""
    return f"Tests of {name} were not reported by their worker: {sentence(why)}"


def describe_exit_code(code: int) -> str:
    """Return a worker's exit code as people read it: ``-9 (killed by SIGKILL)``."""
    if code < 0:
        try:
            return f"{code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)


def dead_worker_pids(exit_codes: Mapping[int, int]) -> list[int]:
    """
    Return the pids of the workers that died, among those that ended.

    The pool terminates its other workers (SIGTERM) as soon as one dies;
    the dead one is the worker whose end was not that. If every worker
    ended so, the dead one was terminated by someone else: any worker that
    did not exit cleanly counts.
    """
    dead = [pid for pid, code in exit_codes.items() if code not in (0, -signal.SIGTERM)]
    return dead or [pid for pid, code in exit_codes.items() if code != 0]


def blame_dead_workers(
    unreported: Sequence[int],
    classes: Mapping[int, ClassTests],
    exit_codes: Mapping[int, int],
    running: Mapping[int, tuple[int, int]],
    workers_started: int,
) -> DeadWorkerVerdict:
    """
    Decide which class and test a worker that died is blamed for.

    ``unreported`` lists the subsuites in flight or waiting when the pool
    broke, ``classes`` describes each of them, ``exit_codes`` maps the pid
    of each worker that ended to its exit code, ``running`` maps each
    worker's pid to the (subsuite, test) its slot showed last (-1 for
    none), and ``workers_started`` counts the workers that got past their
    initializer. A dead worker whose slot shows an unreported class is
    blamed for the test it was running; the tests before it in that class
    ran, but their outcomes died with it. Without such a worker, nothing
    says which class it was running: every unreported class gets the error.
    """
    dead = dead_worker_pids(exit_codes)
    blamed: dict[int, tuple[int, int]] = {}
    for pid in dead:
        index, test = running.get(pid, (-1, -1))
        if index in unreported:
            blamed[index] = (test, exit_codes[pid])
    if not blamed:
        return blame_every_class(unreported, classes, exit_codes, dead, workers_started)
    blames: list[Blame] = []
    lines: list[str] = []
    not_run = lost = 0
    for index in unreported:
        test_ids = classes[index].test_ids
        if index not in blamed:
            not_run += len(test_ids)
            continue
        test, exit_code = blamed[index]
        code = describe_exit_code(exit_code)
        if not 0 <= test < len(test_ids):
            why = f"its worker died before its first test (exit code {code})"
            blames.append(Blame(index, None, class_not_reported(classes[index].name, why)))
            lines.append(f"A parallel test worker died while running {classes[index].name}, exit code {code}")
            continue
        lines.append(f"A parallel test worker died while running {test_ids[test]}, exit code {code}")
        blames.append(Blame(index, test, f"{lines[-1]}."))
        lost += test
        not_run += len(test_ids) - 1 - test
    total = not_run + lost
    counted = f"{total} {'test' if total == 1 else 'tests'} did not run"
    if lost:
        counted += f" ({lost} of them ran before it in that worker; their outcomes were lost)"
    return DeadWorkerVerdict(blames, ";\n".join(lines) + f"; {counted}. Stopping the run.")


def blame_every_class(
    unreported: Sequence[int],
    classes: Mapping[int, ClassTests],
    exit_codes: Mapping[int, int],
    dead: Sequence[int],
    workers_started: int,
) -> DeadWorkerVerdict:
    """Give every unreported class the error of a worker whose class is unknown."""
    # Only the dead worker's own end tells anything; the others were ended by the pool.
    codes = sorted({exit_codes[pid] for pid in dead if exit_codes[pid] != -signal.SIGTERM})
    how = f" (exit code {', '.join(map(describe_exit_code, codes))})" if codes else ""
    if workers_started <= 0 or any(code == 0 for code in exit_codes.values()):
        # A worker whose initializer fails ends with status 0 after logging its traceback.
        why = "a worker process failed to start; see its traceback above"
    else:
        why = "a worker process died between test classes"
    blames = [Blame(index, None, class_not_reported(classes[index].name, f"{why}{how}")) for index in unreported]
    return DeadWorkerVerdict(blames, f"A parallel test worker died{how}: {sentence(why)} Stopping the run.")
