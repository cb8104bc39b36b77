"""
What the scripts that run another project's test suite both ways share.

``django_suite.py`` (Django's suite, under ``DiscoverRunner`` and under
``MultiDBRunner``) and ``pytest_django_suite.py`` (pytest-django's suite,
without and with the pytest plugin) download a suite from its sdist, run it
twice with its output in log files, and list the tests whose outcome
differs; a difference is either allowed, with its reason, or makes the
script fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass
class Problem:
    """A test that failed or errored in one run."""

    kind: str
    test_id: str
    message: str


def download_sdist(distribution: str, version: str, work_dir: Path, download_dir: Path) -> Path:
    """
    Download and unpack the sdist of ``distribution`` ``version`` (exact) unless done before; return its folder.

    The archive is found whatever the case of its name (Django's were named
    Django-X.Y.tar.gz before PEP 625) and whether its name has dashes or
    underscores.
    """
    download_dir.mkdir(parents=True, exist_ok=True)
    archive_name = f"{distribution}-{version}.tar.gz".lower().replace("_", "-")

    def downloaded() -> Path | None:
        return next(
            (path for path in download_dir.glob("*.tar.gz") if path.name.lower().replace("_", "-") == archive_name),
            None,
        )

    if downloaded() is None:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--no-binary", ":all:", "--dest", str(download_dir), f"{distribution}=={version}"),
            ],
            check=True,
        )
    archive = downloaded()
    if archive is None:
        raise SystemExit(f"pip did not download {distribution} {version}'s sdist into {download_dir}.")
    source_dir = work_dir / archive.name[: -len(".tar.gz")]
    if not (source_dir / "PKG-INFO").exists():
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(work_dir, filter="data")
            else:  # A Python without the extraction filters (before 3.11.4).
                tar.extractall(work_dir)
    return source_dir


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """End ``process`` and the processes it started: SIGTERM (the runner's clean stop), then SIGKILL."""
    for stop_signal in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)


def run_logged(  # noqa: PLR0913 - where a run goes and how long it may take
    command: list[str],
    cwd: Path,
    out: IO[str],
    err: IO[str] | int,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
) -> tuple[int | None, float]:
    """Run ``command`` into the given files; return its exit status (None if it timed out) and its seconds."""
    start = time.monotonic()
    # A session of its own, so that a run that times out is ended with every process it started.
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        exit_code: int | None = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        exit_code = None
        stop_process_group(process)
    except KeyboardInterrupt:
        stop_process_group(process)
        raise
    return exit_code, time.monotonic() - start


@dataclass(frozen=True)
class Sides:
    """How the output names the two runs: ``under stock`` and ``under the runner``, say."""

    stock: str
    other: str
    both: str

    def verdicts(self) -> dict[tuple[bool, bool], str]:
        """Return the verdict of a recheck by (fails on the stock side, fails on the other side)."""
        return {
            (False, True): f"fails again {self.other} only",
            (True, False): f"fails {self.stock} only",
            (True, True): f"fails {self.both}",
            (False, False): f"passes {self.both} (flaky, or depends on the tests run before it)",
        }


def print_side_by_side(
    rows: list[tuple[str, object, object]],
    stock: Any,
    other: Any,
    other_label: str,
    *,
    indent: str = "",
    widths: tuple[int, int, int] = (24, 12, 16),
) -> None:
    """Print ``rows`` of both runs side by side, then their wall times and exit codes (``seconds``, ``exit_code``)."""
    rows = [
        *rows,
        ("wall time (s)", round(stock.seconds), round(other.seconds)),
        ("exit code", stock.exit_code, other.exit_code),
    ]
    label_width, stock_width, other_width = widths
    print(f"\n{indent}{'':{label_width}}{'stock':>{stock_width}}{other_label:>{other_width}}")
    for label, stock_value, other_value in rows:
        print(f"{indent}{label:{label_width}}{str(stock_value):>{stock_width}}{str(other_value):>{other_width}}")


def format_problem(problem: Problem, *notes: str) -> str:
    """Return the lines naming a failing test, its message, and any notes."""
    return "\n".join(
        [f"  {problem.test_id}", f"      {problem.kind}: {problem.message}"] + [f"      {note}" for note in notes]
    )


def print_differences(
    stock: Mapping[str, Problem],
    other: Mapping[str, Problem],
    allowed_reason: Callable[[Problem], str | None],
    sides: Sides,
    recheck: Callable[[list[Problem]], dict[str, str]] | None = None,
) -> int:
    """
    Print the tests that fail on one side only and how many fail on both; return the exit status.

    The status is 1 when a test fails on the other side only without being
    an allowed difference, else 0. With ``recheck``, the tests that fail on
    one side only (allowed differences aside) are run again and each gets
    the verdict ``recheck`` returns.
    """
    other_only = [other[key] for key in sorted(other.keys() - stock.keys())]
    stock_only = [stock[key] for key in sorted(stock.keys() - other.keys())]
    unexpected = [problem for problem in other_only if allowed_reason(problem) is None]
    allowed = [problem for problem in other_only if allowed_reason(problem) is not None]
    verdicts = recheck(unexpected + stock_only) if recheck is not None else {}

    def isolation(problem: Problem) -> list[str]:
        return [f"alone: {verdicts[problem.test_id]}"] if problem.test_id in verdicts else []

    print(f"\nFail {sides.other} only, not allowed ({len(unexpected)}):")
    for problem in unexpected:
        print(format_problem(problem, *isolation(problem)))
    print(f"\nFail {sides.other} only, allowed by design ({len(allowed)}):")
    for problem in allowed:
        print(format_problem(problem, f"allowed: {allowed_reason(problem)}"))
    print(f"\nFail {sides.stock} only ({len(stock_only)}):")
    for problem in stock_only:
        print(format_problem(problem, *isolation(problem)))
    print(f"\nFail {sides.both}: {len(stock.keys() & other.keys())}")
    return 1 if unexpected else 0
