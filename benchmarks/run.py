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
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from cli import REPO, add_common_arguments, choices, finish, progress, report_failure, start
from measure import BenchmarkRunFailed, Measurement, run_variant, subprocess_environment
from project_writer import write_project
from results import WALL_HEADER, WALL_PHASES, Block
from shapes import INNER_LOOP, PROJECT_KINDS, InnerLoopCase, ProjectShape, inner_loop_cases, project_shape
from variants import CLEANUP, CLEANUP_SNAPSHOTS, MULTIDB, Variant, stock_exact_and_multidb, supports_flags, variants_for

MODES = ("serial", "parallel")


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_common_arguments(parser)
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
    parser.add_argument(
        "--classes", metavar="N", type=int, default=120, help="Test classes in each suite (default: 120)."
    )
    parser.add_argument("--tables", metavar="N", type=int, default=40, help="Models in each app (default: 40).")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.classes < 1:
        parser.error("--repeats and --classes must be at least 1.")
    if args.tables < 2:
        parser.error("--tables must be at least 2: each test writes a parent and a child table.")
    return args


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
    variants = stock_exact_and_multidb(keepdb)
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
    for cleanup in (CLEANUP, CLEANUP_SNAPSHOTS):
        run_variant(
            python=args.python,
            repo=REPO,
            project=project,
            backend=backend,
            variant=cleanup,
            parallel=False,
            expected_tests=cases[0].test_count,
            labels=[cases[0].label],
        )
    return blocks


def inner_loop_summary(blocks: Sequence[Block]) -> str:
    """Return one line per inner-loop block: the median wall time of each variant, and the runner's ratio."""
    lines = [
        "Inner loop, whole process: median wall time (s), and multidb / stock-exact",
        f"{'backend':<12}{'class':<10}{'':<10}{WALL_HEADER}",
    ]
    for block in blocks:
        case = block.project.removeprefix(f"{INNER_LOOP}-")
        keepdb = "--keepdb" if block.mode.endswith("--keepdb") else ""
        lines.append(f"{block.backend:<12}{case:<10}{keepdb:<10}{block.wall_cells()}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    run = start(args)
    blocks: list[Block] = []
    inner_blocks: list[Block] = []
    try:
        projects = {}
        for kind in args.projects:
            shape = project_shape(kind, args.classes, args.tables)
            projects[kind] = (shape, write_project(shape, run.workdir / kind))
        inner_loop = projects.pop(INNER_LOOP, None)
        if inner_loop is not None:
            # Its runs are short: compile it now, so that no timed run pays for writing the bytecode.
            subprocess.run([args.python, "-m", "compileall", "-q", str(inner_loop[1])], check=True)
        with_full = bool(projects) and full_variant_available(args.python, next(iter(projects.values()))[1])
        progress(
            f"Django {run.django_version}, projects in {run.workdir}"
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
        return report_failure(error, run)
    if inner_blocks:
        print(inner_loop_summary(inner_blocks) + "\n")
    return finish(args, run, blocks, {"classes": args.classes, "tables": args.tables})


if __name__ == "__main__":
    sys.exit(main())
