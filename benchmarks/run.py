#!/usr/bin/env python
"""
Benchmark multidb_runner against stock Django on generated multi-database projects.

Usage: ``python benchmarks/run.py --backends sqlite,postgresql,mariadb --modes serial,parallel``
(see benchmarks/README.md). Each variant runs ``manage.py test`` in a
subprocess, ``--repeats`` times, the variants taking turns so that a noisy
moment of the machine is spread over all of them; the tables show the
median of each phase and its ratio to the baseline variant. The inner loop
(``--projects inner-loop``) runs one class of the multi-database project and
times the whole process, with and without ``--keepdb``.
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
from pathlib import Path

from measure import BenchmarkRunFailed, Measurement, run_variant, subprocess_environment
from project_writer import write_project
from results import Block
from shapes import INNER_LOOP, PROJECT_KINDS, InnerLoopCase, ProjectShape, inner_loop_cases, project_shape
from variants import CLEANUP, MULTIDB, Variant, inner_loop_variants, supports_flags, variants_for

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql", "mariadb")
MODES = ("serial", "parallel")
#: The environment variables each server backend needs (written by .ci/servers.sh to DIR/env).
SERVER_VARIABLES = {"postgresql": ("PG_HOST", "PG_USER"), "mariadb": ("MYSQL_HOST", "MYSQL_USER")}
#: The phases of the inner loop's tables: the whole process first, then the two phases timed inside it.
WALL_PHASES = ("wall", "setup", "tests")
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


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--backends",
        metavar="LIST",
        type=choices(BACKENDS),
        default=["sqlite"],
        help="Comma-separated: sqlite, postgresql, mariadb (default: sqlite).",
    )
    parser.add_argument(
        "--modes",
        metavar="LIST",
        type=choices(MODES),
        default=["serial"],
        help="Comma-separated: serial, parallel (--parallel 2) (default: serial).",
    )
    parser.add_argument(
        "--projects",
        metavar="LIST",
        type=choices(PROJECT_KINDS),
        default=list(PROJECT_KINDS),
        help="Comma-separated: multi, single-ttc, single-testcase, inner-loop (default: all).",
    )
    parser.add_argument("--repeats", metavar="N", type=int, default=3, help="Runs of each variant (default: 3).")
    parser.add_argument(
        "--classes", metavar="N", type=int, default=120, help="Test classes in each suite (default: 120)."
    )
    parser.add_argument("--tables", metavar="N", type=int, default=40, help="Models in each app (default: 40).")
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
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.classes < 1:
        parser.error("--repeats and --classes must be at least 1.")
    if args.tables < 2:
        parser.error("--tables must be at least 2: each test writes a parent and a child table.")
    return args


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
    return completed.stdout.strip()


def full_variant_available(python: str, project: Path) -> bool:
    """Return True if MultiDBRunner has the flags of the multidb-full variant (they are recent)."""
    environment = subprocess_environment(REPO, "sqlite", Path(os.devnull), Variant("check", MULTIDB))
    completed = subprocess.run(
        [python, "manage.py", "test", "--help", "--testrunner", MULTIDB],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.exit(f"'manage.py test --help' failed in {project}:\n{completed.stdout}{completed.stderr}")
    return supports_flags(completed.stdout)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_block(
    args: argparse.Namespace, shape: ProjectShape, project: Path, backend: str, mode: str, with_full: bool
) -> Block:
    """Run every variant of one project ``--repeats`` times, taking turns, and return the runs."""
    variants = variants_for(shape, with_full)
    block = Block(backend, mode, shape.kind, shape.describe(), [variant.name for variant in variants])
    for repeat in range(args.repeats):
        # Rotate the order too, so that no variant always runs first (or
        # right after the slowest one).
        shift = repeat % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            measurement = run_variant(
                python=args.python,
                repo=REPO,
                project=project,
                backend=backend,
                variant=variant,
                parallel=mode == "parallel",
                expected_tests=shape.test_count,
            )
            block.add(variant.name, measurement)
            progress(
                f"  [{backend} {mode} {shape.kind}] {repeat + 1}/{args.repeats} {variant.name}: "
                f"tests {measurement.tests:.2f}s, setup {measurement.setup:.2f}s"
            )
    return block


def run_inner_loop_block(
    args: argparse.Namespace, shape: ProjectShape, project: Path, backend: str, case: InnerLoopCase, keepdb: bool
) -> Block:
    """
    Run one class of the project, whole process, under each inner-loop variant ``--repeats`` times, taking turns.

    With ``--keepdb``, each variant first runs once untimed, so that the
    test databases it keeps exist before the timed runs.
    """
    variants = inner_loop_variants(keepdb)
    mode = "serial --keepdb" if keepdb else "serial"
    mirrors = len(shape.mirrors)
    description = (
        f"inner loop, whole process: {case.describe()} of {INNER_LOOP} "
        f"({len(shape.aliases)} aliases + {mirrors} mirror{'s' if mirrors != 1 else ''} x {shape.tables} tables)"
    )
    block = Block(
        backend, mode, f"{INNER_LOOP}-{case.name}", description, [v.name for v in variants], phases=WALL_PHASES
    )

    def run(variant: Variant) -> Measurement:
        return run_variant(
            python=args.python,
            repo=REPO,
            project=project,
            backend=backend,
            variant=variant,
            parallel=False,
            expected_tests=case.test_count,
            labels=[case.label],
        )

    if keepdb:
        for variant in variants:
            measurement = run(variant)
            progress(f"  [{backend} {mode} {block.project}] warm-up {variant.name}: wall {measurement.wall:.2f}s")
    for repeat in range(args.repeats):
        shift = repeat % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            measurement = run(variant)
            block.add(variant.name, measurement)
            progress(
                f"  [{backend} {mode} {block.project}] {repeat + 1}/{args.repeats} {variant.name}: "
                f"wall {measurement.wall:.2f}s (setup {measurement.setup:.2f}s, tests {measurement.tests:.2f}s)"
            )
    return block


def run_inner_loop(args: argparse.Namespace, shape: ProjectShape, project: Path, backend: str) -> list[Block]:
    """
    Run the inner loop on one backend: every class, without then with ``--keepdb``; print and return the blocks.

    The runs without ``--keepdb`` come first, since each of them destroys
    its test databases at the end; the kept databases are dropped at the
    end by an untimed run that sets up every alias without ``--keepdb``.
    """
    blocks = []
    cases = inner_loop_cases(shape)
    for keepdb in (False, True):
        for case in cases:
            block = run_inner_loop_block(args, shape, project, backend, case, keepdb)
            blocks.append(block)
            print(block.format() + "\n", flush=True)
    run_variant(
        python=args.python,
        repo=REPO,
        project=project,
        backend=backend,
        variant=CLEANUP,
        parallel=False,
        expected_tests=cases[0].test_count,
        labels=[cases[0].label],
    )
    return blocks


def inner_loop_summary(blocks: Sequence[Block]) -> str:
    """Return one line per inner-loop block: the median wall time of each variant, and the runner's ratio."""
    lines = [
        "Inner loop, whole process: median wall time (s), and multidb / stock-exact",
        f"{'backend':<12}{'class':<10}{'':<10}{'stock-exact':>12}{'multidb':>10}{'ratio':>8}",
    ]
    for block in blocks:
        case = block.project.removeprefix(f"{INNER_LOOP}-")
        keepdb = "--keepdb" if block.mode.endswith("--keepdb") else ""
        lines.append(
            f"{block.backend:<12}{case:<10}{keepdb:<10}{block.median('stock-exact', 'wall'):>12.2f}"
            f"{block.median('multidb', 'wall'):>10.2f}{block.ratio('multidb', 'wall'):>7.2f}x"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    started = time.perf_counter()
    django_version = preflight(args.python, args.backends)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mdbbench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = []
    inner_blocks: list[Block] = []
    try:
        projects = {}
        for kind in args.projects:
            shape = project_shape(kind, args.classes, args.tables)
            projects[kind] = (shape, write_project(shape, workdir / kind))
        inner_loop = projects.pop(INNER_LOOP, None)
        if inner_loop is not None:
            # Its runs are short: compile it now, so that no timed run pays for writing the bytecode.
            subprocess.run([args.python, "-m", "compileall", "-q", str(inner_loop[1])], check=True)
        with_full = bool(projects) and full_variant_available(args.python, next(iter(projects.values()))[1])
        progress(
            f"Django {django_version}, projects in {workdir}"
            + (
                ""
                if with_full or not projects
                else "; multidb-full skipped (no --no-selective-flush/--no-lazy-transactions)"
            )
        )
        for backend in args.backends:
            for mode in args.modes:
                for shape, project in projects.values():
                    block = run_block(args, shape, project, backend, mode, with_full)
                    blocks.append(block)
                    print(block.format() + "\n", flush=True)
            if inner_loop is not None:
                # One class runs in one process even with --parallel: the inner loop runs once per backend.
                inner_blocks += run_inner_loop(args, *inner_loop, backend)
        blocks += inner_blocks
    except BenchmarkRunFailed as error:
        print(error, file=sys.stderr)
        print(f"The projects are kept in {workdir}.", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    if inner_blocks:
        print(inner_loop_summary(inner_blocks) + "\n")
    print(f"Total time: {elapsed / 60:.1f} min ({elapsed:.0f}s), Django {django_version}.")
    if args.json:
        report = {
            "django": django_version,
            "python": args.python,
            "repeats": args.repeats,
            "classes": args.classes,
            "tables": args.tables,
            "seconds": elapsed,
            "blocks": [block.as_json() for block in blocks],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
