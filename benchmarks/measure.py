"""
Run one variant of a generated project in a subprocess and read its timings.

A benchmark of a broken run is worse than none: every run must exit with
0, print "OK" and run exactly the expected number of tests, or the whole
benchmark stops with the command and the end of its output. The one
exception is a test named as tolerated, which may fail (or error) when it
checks what a run may legitimately get wrong, such as a stale database
kept by ``--keepdb``: the run is then measured, and says which failed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from variants import Variant

#: Workers of the parallel mode, as in ``manage.py test --parallel 2``.
PARALLEL_WORKERS = 2
#: Longest one run may take before the benchmark gives up, in seconds.
RUN_TIMEOUT = 1800
#: Lines of output shown when a run fails.
OUTPUT_TAIL = 40


class BenchmarkRunFailed(Exception):
    """A run of the suite failed, or did not run what it should have."""


@dataclass(frozen=True)
class Measurement:
    """The phases of one run, in seconds; ``wall`` is the whole subprocess, start-up included."""

    setup: float
    tests: float
    wall: float
    #: The tolerated tests that failed or raised an error in this run.
    failed: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        """Setup and tests together: a database set up on first use is timed in the tests."""
        return self.setup + self.tests


def subprocess_environment(repo: Path, backend: str, timings: Path, variant: Variant) -> dict[str, str]:
    """
    Return the environment of a run: the checkout importable, the backend and the variant's switches.

    The repository comes first on PYTHONPATH so that the checkout is what is
    measured, even where another version of multidb_runner is installed.
    Variables a caller may have set for another project are left out.
    """
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "BENCH_"))}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))
    environment["BENCH_BACKEND"] = backend
    environment["BENCH_TIMINGS"] = str(timings)
    if variant.declare_exact:
        environment["BENCH_DECLARE"] = "exact"
    return environment


def test_command(python: str, variant: Variant, parallel: bool, labels: Sequence[str] = ()) -> list[str]:
    """Return the ``manage.py test`` command of a run: the whole suite, or only ``labels``."""
    command = [python, "manage.py", "test", "--noinput", "--testrunner", variant.runner, *variant.extra_args]
    if parallel:
        command += ["--parallel", str(PARALLEL_WORKERS)]
    return command + list(labels)


def run_variant(
    *,
    python: str,
    repo: Path,
    project: Path,
    backend: str,
    variant: Variant,
    parallel: bool,
    expected_tests: int,
    labels: Sequence[str] = (),
    tolerated_failures: Collection[str] = (),
) -> Measurement:
    """
    Run ``variant`` once in ``project`` and return its timings; raise BenchmarkRunFailed if anything is off.

    Only the test methods named in ``tolerated_failures`` may fail; the
    measurement lists those that did.
    """
    timings = project / "timings.jsonl"
    timings.unlink(missing_ok=True)
    command = test_command(python, variant, parallel, labels)
    environment = subprocess_environment(repo, backend, timings, variant)
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command, cwd=project, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        problem = f"timed out after {RUN_TIMEOUT}s"
        raise BenchmarkRunFailed(describe_failure(problem, command, environment, project, "")) from error
    wall = time.perf_counter() - start
    output = completed.stdout + completed.stderr
    problem = check_output(completed.returncode, output, expected_tests, tolerated_failures)
    lines = timings.read_text().splitlines() if timings.exists() else []
    if problem is None and len(lines) != 1:
        problem = f"expected one line of timings in {timings}, found {len(lines)}"
    if problem is not None:
        raise BenchmarkRunFailed(describe_failure(problem, command, environment, project, output))
    recorded = json.loads(lines[0])
    return Measurement(
        setup=float(recorded["setup"]),
        tests=float(recorded["tests"]),
        wall=wall,
        failed=tuple(sorted(set(failed_tests(output)))),
    )


def failed_tests(output: str) -> list[str]:
    """Return the names in unittest's ``FAIL: name (...)`` and ``ERROR: name (...)`` lines: methods, or setUpClass."""
    return re.findall(r"^(?:FAIL|ERROR): (\S+) \(", output, re.MULTILINE)


def check_output(
    returncode: int, output: str, expected_tests: int, tolerated_failures: Collection[str] = ()
) -> str | None:
    """Return what is wrong with a run's exit code and output, or None if it passed but for tolerated failures."""
    failed = set(failed_tests(output))
    tolerated = bool(failed and failed <= set(tolerated_failures) and re.search(r"^FAILED \(", output, re.MULTILINE))
    if returncode != 0 and not (returncode == 1 and tolerated):
        return f"exit code {returncode}"
    if returncode == 0 and not re.search(r"^OK\b", output, re.MULTILINE):
        return 'no "OK" in the output'
    ran = re.search(r"^Ran (\d+) tests? in ", output, re.MULTILINE)
    if ran is None or int(ran.group(1)) != expected_tests:
        return f"expected {expected_tests} tests to run, got {ran.group(1) if ran else 'none'}"
    return None


def describe_failure(problem: str, command: list[str], environment: dict[str, str], project: Path, output: str) -> str:
    """Return a failure report: what went wrong, how to repeat it, and the end of the output."""
    variables = [
        f"{key}={environment[key]}" for key in ("PYTHONPATH", "BENCH_BACKEND", "BENCH_DECLARE") if key in environment
    ]
    tail = "\n".join(output.splitlines()[-OUTPUT_TAIL:])
    return f"Benchmark run failed ({problem}).\n  $ cd {project}\n  $ {' '.join([*variables, *command])}\n{tail}"
