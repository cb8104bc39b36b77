"""
The variants a benchmark compares, and which of them this checkout can run.

Every variant runs the same generated suite; they differ in the runner and
in whether the test classes declare the alias they use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shapes import ProjectShape

STOCK = "bench_runners.StockRunner"
NAIVE = "bench_runners.NaiveRunner"
MULTIDB = "bench_multidb_runner.MultiDBTimedRunner"
#: What multidb-full turns off: MultiDBRunner doing exactly the work of the naive workaround.
FULL_WORK_FLAGS = ("--no-selective-flush", "--no-lazy-transactions")


@dataclass(frozen=True)
class Variant:
    """One way of running the suite: a runner, its extra flags, and whether classes declare their alias."""

    name: str
    runner: str
    extra_args: tuple[str, ...] = ()
    declare_exact: bool = False


def variants_for(shape: ProjectShape, with_full: bool) -> list[Variant]:
    """
    Return the variants to run on ``shape``; the first is the baseline of the ratios.

    With a single database, declaring ``{"default"}`` is what stock Django
    assumes anyway, so stock-exact and stock-naive are one variant, "stock".
    """
    if shape.multi_database:
        variants = [
            Variant("stock-exact", STOCK, declare_exact=True),
            Variant("stock-naive", NAIVE),
            Variant("multidb", MULTIDB),
        ]
    else:
        variants = [Variant("stock", STOCK), Variant("multidb", MULTIDB)]
    if with_full:
        variants.append(Variant("multidb-full", MULTIDB, FULL_WORK_FLAGS))
    return variants


def stock_exact_and_multidb(keepdb: bool) -> list[Variant]:
    """
    Return the variants of the runs timed as whole processes (the inner loop, the set-up cost); stock first.

    Under stock Django each class declares exactly the aliases it uses;
    under the runner, nothing.
    """
    extra_args = ("--keepdb",) if keepdb else ()
    return [Variant("stock-exact", STOCK, extra_args, declare_exact=True), Variant("multidb", MULTIDB, extra_args)]


#: An untimed run without --keepdb that sets up every alias and destroys it: it drops what the inner loop kept.
CLEANUP = Variant("cleanup", NAIVE)
#: Then the runner's snapshots of the kept databases (``<test name>_mdbsnap`` on a server): an untimed
#: run of the runner that sets up every alias with --no-snapshots, which removes them.
CLEANUP_SNAPSHOTS = Variant("cleanup-snapshots", MULTIDB, ("--no-snapshots", "--no-lazy-setup"))


def supports_flags(help_text: str, flags: tuple[str, ...] = FULL_WORK_FLAGS) -> bool:
    """Return True if every flag in ``flags`` appears as a whole option in ``manage.py test --help`` output."""
    return all(re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) for flag in flags)
