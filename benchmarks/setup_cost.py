#!/usr/bin/env python
"""
Benchmark what setting up the test databases costs: stock Django with exact declarations against multidb_runner.

Usage: ``python benchmarks/setup_cost.py --backends sqlite,postgresql,mariadb``
(see benchmarks/README.md). The project has long migration histories with
data migrations, a second primary and tenants sharing one schema
(setup_shape.py). Each case is a whole ``manage.py test`` process, timed
from outside: one class, the tenants' class, the whole suite serial and
with ``--parallel 2``, each fresh and then with ``--keepdb``; and, last, the
tenants' class with ``--keepdb`` after its last migration was edited, which
must either pass (the kept databases were brought up to date) or fail only
in the test that tells a stale database ("stale"); anything else stops the
benchmark with an error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from cli import REPO, add_common_arguments, choices, finish, progress, report_failure, start
from measure import BenchmarkRunFailed, Measurement, run_variant
from results import WALL_HEADER, WALL_PHASES, Block
from setup_shape import CASE_KINDS, STALE_TEST, SetupCase, SetupShape, setup_cases
from setup_writer import edit_tenant_migration, write_setup_project
from variants import CLEANUP, CLEANUP_SNAPSHOTS, Variant, stock_exact_and_multidb

#: The run that drops what a kept database holds before the edited-migration case: stock, fresh, destroyed at the end.
RESET = stock_exact_and_multidb(keepdb=False)[0]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_common_arguments(parser)
    parser.add_argument(
        "--cases",
        metavar="LIST",
        type=choices(CASE_KINDS),
        default=list(CASE_KINDS),
        help=f"Comma-separated: {', '.join(CASE_KINDS)} (default: all); each but the last runs fresh, then with "
        "--keepdb.",
    )
    parser.add_argument(
        "--migrations",
        metavar="N",
        type=int,
        default=60,
        help="Migrations of default's app; the second primary's app has half as many, the tenants' a third "
        "(default: 60).",
    )
    parser.add_argument("--tenants", metavar="N", type=int, default=8, help="Tenant aliases (default: 8).")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.migrations < 1 or args.tenants < 1:
        parser.error("--repeats, --migrations and --tenants must be at least 1.")
    return args


class CaseRunner:
    """Run the cases of one project on one backend, each variant ``--repeats`` times, taking turns."""

    def __init__(self, args: argparse.Namespace, shape: SetupShape, project: Path, backend: str) -> None:
        self.args = args
        self.shape = shape
        self.project = project
        self.backend = backend

    def run(self, variant: Variant, case: SetupCase, *, timed: bool = True) -> Measurement:
        measurement = run_variant(
            python=self.args.python,
            repo=REPO,
            project=self.project,
            backend=self.backend,
            variant=variant,
            parallel=case.parallel,
            expected_tests=case.test_count,
            labels=case.labels,
            tolerated_failures=(STALE_TEST,) if case.edit and timed else (),
        )
        step = "" if timed else " (untimed)"
        progress(f"  [{self.backend} {case.name}] {variant.name}{step}: wall {measurement.wall:.2f}s")
        return measurement

    def run_case(self, case: SetupCase) -> Block:
        """
        Run ``case`` under each variant, ``--repeats`` times, the variants taking turns in a rotating order.

        With ``--keepdb``, each variant first runs once untimed, so that the
        databases it keeps exist. The edited-migration case starts each of
        its runs from scratch: a fresh run that destroys what was kept, a
        ``--keepdb`` run that keeps the databases, the edit, then the timed
        run; the edit is undone after it.
        """
        variants = stock_exact_and_multidb(case.keepdb)
        mode = ("parallel" if case.parallel else "serial") + (" --keepdb" if case.keepdb else "")
        description = f"setup, whole process: {case.describe()} ({self.shape.describe()})"
        block = Block(self.backend, mode, case.name, description, [v.name for v in variants], phases=WALL_PHASES)
        if case.keepdb and not case.edit:
            for variant in variants:
                self.run(variant, case, timed=False)
        for repeat in range(self.args.repeats):
            shift = repeat % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                if case.edit:
                    self.run(RESET, case, timed=False)
                    self.run(variant, case, timed=False)
                    edit_tenant_migration(self.shape, self.project)
                try:
                    block.add(variant.name, self.run(variant, case))
                finally:
                    if case.edit:
                        edit_tenant_migration(self.shape, self.project, edited=False)
        return block

    def drop_kept_databases(self) -> None:
        """
        Drop what ``--keepdb`` kept: an untimed run without it that sets up every alias, and destroys them.

        The whole suite, with ``--parallel 2``, so that the workers' clones kept
        by a parallel run are destroyed too.
        """
        self.run(CLEANUP, SetupCase("cleanup", (), self.shape.test_count, parallel=True), timed=False)
        self.run(CLEANUP_SNAPSHOTS, SetupCase("cleanup", (), self.shape.test_count, parallel=True), timed=False)


def outcome(block: Block, variant: str) -> str:
    """Return "correct" if every run of ``variant`` passed, "stale" if each failed the stale test, or how many did."""
    stale = sum(STALE_TEST in run.failed for run in block.runs[variant])
    if stale == 0:
        return "correct"
    return "stale" if stale == len(block.runs[variant]) else f"stale {stale}/{len(block.runs[variant])}"


def summary(blocks: Sequence[Block]) -> str:
    """Return one line per backend and case: the median wall time of each variant, the ratio, and the result."""
    lines = [
        "Set-up cost, whole process: median wall time (s), and multidb / stock-exact",
        f"{'backend':<12}{'case':<26}{WALL_HEADER}  result",
    ]
    for block in blocks:
        result = ""
        if block.project == "edited-migration":
            result = f"  stock-exact {outcome(block, 'stock-exact')}, multidb {outcome(block, 'multidb')}"
        lines.append(f"{block.backend:<12}{block.project:<26}{block.wall_cells()}{result}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    run = start(args)
    shape = SetupShape(args.migrations, args.tenants)
    cases = setup_cases(shape, args.cases)
    blocks: list[Block] = []
    try:
        project = write_setup_project(shape, run.workdir / "setup")
        # Compile it now, so that no timed run pays for writing the bytecode.
        subprocess.run([args.python, "-m", "compileall", "-q", str(project)], check=True)
        progress(f"Django {run.django_version}, project in {project}")
        for backend in args.backends:
            runner = CaseRunner(args, shape, project, backend)
            for case in cases:
                block = runner.run_case(case)
                blocks.append(block)
                print(block.format() + "\n", flush=True)
            # SQLite's test databases are files in the project's folder, removed with it.
            if backend != "sqlite" and any(case.keepdb for case in cases):
                runner.drop_kept_databases()
    except BenchmarkRunFailed as error:
        return report_failure(error, run)
    print(summary(blocks) + "\n")
    return finish(args, run, blocks, {"migrations": args.migrations, "tenants": args.tenants})


if __name__ == "__main__":
    sys.exit(main())
