"""
Split a suite across CI machines: shard K of N runs a deterministic share.

Pure logic over class names and durations. Test classes are the unit (a class
shares its databases and ``setUpTestData``); every class lands in exactly one
shard, whatever the order in which the tests were discovered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import ConfigurationError

SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(value: str, source: str) -> Shard:
    """Parse ``K/N`` (1 <= K <= N); explain what is valid otherwise."""
    match = SHARD_PATTERN.match(value)
    if match:
        shard = Shard(int(match.group(1)), int(match.group(2)))
        if 1 <= shard.index <= shard.total:
            return shard
    raise ConfigurationError(
        f"{source} = {value!r} is not valid: use K/N with 1 <= K <= N (for example 2/4, "
        "the second of four shards), or 'auto' to read the CI environment."
    )


def auto_shard(environ: Mapping[str, str]) -> Shard | None:
    """
    Read the shard from the CI environment, or None outside a sharded CI job.

    GitLab's ``CI_NODE_INDEX`` is 1-based, CircleCI's ``CIRCLE_NODE_INDEX``
    is 0-based; both come with the total (``CI_NODE_TOTAL``,
    ``CIRCLE_NODE_TOTAL``). GitHub Actions has none: pass ``--shard`` from
    the matrix.
    """
    if environ.get("CI_NODE_INDEX") and environ.get("CI_NODE_TOTAL"):
        return parse_shard(f"{environ['CI_NODE_INDEX']}/{environ['CI_NODE_TOTAL']}", "CI_NODE_INDEX/CI_NODE_TOTAL")
    if environ.get("CIRCLE_NODE_INDEX") and environ.get("CIRCLE_NODE_TOTAL"):
        index = environ["CIRCLE_NODE_INDEX"]
        if not index.strip().isdigit():
            raise ConfigurationError(f"CIRCLE_NODE_INDEX = {index!r} is not valid: CircleCI gives 0, 1, ...")
        return parse_shard(
            f"{int(index) + 1}/{environ['CIRCLE_NODE_TOTAL']}", "CIRCLE_NODE_INDEX (+1)/CIRCLE_NODE_TOTAL"
        )
    return None


def assign_shards(classes: Iterable[str], total: int, durations: Mapping[str, float] | None = None) -> dict[str, int]:
    """
    Map each class name to its shard (1..total), balancing the expected time.

    Longest first, each class goes to the shard with the least time so far
    (ties: the lowest shard). A class without a recorded duration counts as
    the average of the recorded ones; without any, every class counts the
    same, which balances by class count. Classes are taken in sorted order,
    so the outcome never depends on discovery order.
    """
    names = sorted(set(classes))
    durations = durations or {}
    known = [durations[name] for name in names if name in durations]
    default = sum(known) / len(known) if known else 1.0
    weights = {name: max(float(durations.get(name, default)), 0.0) for name in names}
    loads = [0.0] * total
    counts = [0] * total
    assignment: dict[str, int] = {}
    for name in sorted(names, key=lambda item: (-weights[item], item)):
        shard = min(range(total), key=lambda i: (loads[i], counts[i], i))
        loads[shard] += weights[name]
        counts[shard] += 1
        assignment[name] = shard + 1
    return assignment


def shard_key(test: object) -> str:
    """Name the unit a test is sharded by: its class, or itself if it has none."""
    if type(test).__module__ == "unittest.loader" or not hasattr(test, "id"):
        # Modules that failed to load each stand alone.
        return str(getattr(test, "id", lambda: repr(test))())
    cls = type(test)
    return f"{cls.__module__}.{cls.__qualname__}"
