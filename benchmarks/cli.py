"""
What the benchmark scripts share on the command line: common options, and the checks before anything runs.

``run.py`` (whole suites and the inner loop) and ``setup_cost.py`` (the
cost of setting up test databases) take the same backends, repeats,
interpreter and folders, and need the same servers and drivers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from measure import BenchmarkRunFailed, subprocess_environment
from results import Block
from variants import MULTIDB, Variant

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql", "mariadb")
#: The environment variables each server backend needs (written by .ci/servers.sh to DIR/env).
SERVER_VARIABLES = {"postgresql": ("PG_HOST", "PG_USER"), "mariadb": ("MYSQL_HOST", "MYSQL_USER")}
#: The driver each backend imports, checked before anything runs.
DRIVERS = {"sqlite": "sqlite3", "postgresql": "psycopg", "mariadb": "MySQLdb"}


def choices(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """Return an argparse type for a comma-separated list of values from ``allowed``."""

    def parse(value: str) -> list[str]:
        items = [item.strip() for item in value.split(",") if item.strip()]
        unknown = [item for item in items if item not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)} (got {value!r})")
        return list(dict.fromkeys(items))

    return parse


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every benchmark script takes: backends, repeats, interpreter, folder and JSON output."""
    parser.add_argument(
        "--backends",
        metavar="LIST",
        type=choices(BACKENDS),
        default=["sqlite"],
        help="Comma-separated: sqlite, postgresql, mariadb (default: sqlite).",
    )
    parser.add_argument("--repeats", metavar="N", type=int, default=3, help="Runs of each variant (default: 3).")
    parser.add_argument(
        "--python",
        metavar="PATH",
        default=sys.executable,
        help="Interpreter with Django and the backends' drivers (default: this one); the checkout is put first on "
        "its PYTHONPATH.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="Write the projects here and keep them (default: a temporary folder).",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="Also write the raw timings and medians to PATH.")


def preflight(python: str, backends: Sequence[str]) -> str:
    """Check the interpreter and the servers before anything runs; return the Django version."""
    for backend in backends:
        missing = [name for name in SERVER_VARIABLES.get(backend, ()) if not os.environ.get(name)]
        if missing:
            sys.exit(
                f"The {backend} backend needs {', '.join(missing)}: start the servers with "
                f"'bash .ci/servers.sh start DIR' and 'source DIR/env'."
            )
    imports = ", ".join(["django", "multidb_runner", *(DRIVERS[backend] for backend in backends)])
    environment = subprocess_environment(REPO, "sqlite", Path(os.devnull), Variant("check", MULTIDB))
    completed = subprocess.run(
        [python, "-c", f"import {imports}; print(django.get_version())"],
        env=environment,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.exit(f"{python} cannot import {imports}:\n{completed.stderr}")
    # The checkout's bytecode, as an installed package has it: with
    # PYTHONDONTWRITEBYTECODE set, every run would compile the runner again
    # (tens of milliseconds that stock Django, compiled when installed, never pays).
    subprocess.run([python, "-m", "compileall", "-q", str(REPO / "multidb_runner")], check=True)
    return completed.stdout.strip()


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BenchmarkRun:
    """One run of a benchmark script: when it started, the Django it measures, the folder of its projects."""

    started: float
    django_version: str
    workdir: Path


def start(args: argparse.Namespace) -> BenchmarkRun:
    """Check the interpreter and the servers, and make the folder of the projects (``--workdir`` or a temporary one)."""
    started = time.perf_counter()
    django_version = preflight(args.python, args.backends)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mdbbench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    return BenchmarkRun(started, django_version, workdir)


def report_failure(error: BenchmarkRunFailed, run: BenchmarkRun) -> int:
    """Print why a run failed, and where the projects are kept to repeat it; return the exit code."""
    print(error, file=sys.stderr)
    print(f"The projects are kept in {run.workdir}.", file=sys.stderr)
    return 1


def finish(args: argparse.Namespace, run: BenchmarkRun, blocks: Sequence[Block], shape: dict[str, int]) -> int:
    """Print the total time, write ``--json`` (with the options of the ``shape``), remove a temporary folder."""
    elapsed = time.perf_counter() - run.started
    print(f"Total time: {elapsed / 60:.1f} min ({elapsed:.0f}s), Django {run.django_version}.")
    if args.json:
        report = {
            "django": run.django_version,
            "python": args.python,
            "repeats": args.repeats,
            **shape,
            "seconds": elapsed,
            "blocks": [block.as_json() for block in blocks],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.workdir is None:
        shutil.rmtree(run.workdir, ignore_errors=True)
    return 0
