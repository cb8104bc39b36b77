"""
The durations file: class durations that balance ``--shard``, kept consistent across shards.

The N jobs of a sharded run must split the classes the same way, or a class
runs twice and another never: every job must balance with the same
durations. When the jobs share one file (one machine, or a CI cache) and
each rewrote it when done, a job that started after another finished read
other durations and chose other classes. So the file keeps the durations
the shards balance with (``classes``) apart from what the jobs measure
(``measured``): a sharded job adds its measurements and notes its shard;
only the job that completes a round (every shard of its N has reported)
moves the measurements into ``classes``, for the next round. A run without
``--shard`` updates ``classes`` directly. Writers take a lock on the file's
folder and replace the file atomically, so jobs running at once on one
machine do not lose each other's updates.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError

try:
    import fcntl
except ImportError:  # Windows: writers are not serialized there.
    fcntl = None  # type: ignore[assignment]

DURATIONS_FORMAT = 2


@dataclass
class DurationsFile:
    """The contents of a durations file."""

    #: module.Class -> seconds: what shards balance with.
    classes: dict[str, float] = field(default_factory=dict)
    #: Measured by the shards of the current round, not used until it completes.
    measured: dict[str, float] = field(default_factory=dict)
    #: N -> the shards of the current round of N that have reported.
    shards: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": DURATIONS_FORMAT, "classes": dict(sorted(self.classes.items()))}
        if self.measured or self.shards:
            data["measured"] = dict(sorted(self.measured.items()))
            data["shards"] = {total: sorted(indexes) for total, indexes in sorted(self.shards.items())}
        return data


def parse(path: str, data: Any) -> DurationsFile:
    """Check and read the JSON of a durations file (format 1 files have ``classes`` only)."""

    def durations(value: Any) -> dict[str, float] | None:
        if not isinstance(value, dict) or not all(isinstance(v, int | float) for v in value.values()):
            return None
        return {str(name): float(seconds) for name, seconds in value.items()}

    classes = durations(data.get("classes")) if isinstance(data, dict) else None
    measured = durations(data.get("measured", {})) if isinstance(data, dict) else None
    shards = data.get("shards", {}) if isinstance(data, dict) else None
    if (
        classes is None
        or measured is None
        or not isinstance(shards, dict)
        or not all(isinstance(v, list) and all(isinstance(i, int) for i in v) for v in shards.values())
    ):
        raise ConfigurationError(
            f"--durations-file {path!r} is not a durations file written by multidb_runner "
            '(expected {"format": 2, "classes": {"app.tests.SomeTests": 1.5, ...}}).'
        )
    return DurationsFile(classes, measured, {str(total): list(indexes) for total, indexes in shards.items()})


def load(path: str) -> DurationsFile:
    """Read the durations file at ``path``; a missing file is an empty one."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return DurationsFile()
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"--durations-file {path!r} cannot be read ({exc}); give a file written by an "
            "earlier run, or a path that does not exist yet."
        ) from None
    return parse(path, data)


def read_durations(path: str) -> dict[str, float]:
    """Return the durations that shards balance with."""
    return load(path).classes


@contextlib.contextmanager
def folder_locked(path: str) -> Iterator[None]:
    """Hold an exclusive lock on the folder of ``path`` (one writer at a time)."""
    if fcntl is None:
        yield
        return
    folder = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)


def write_durations(path: str, measured: Mapping[str, float], shard: tuple[int, int] | None = None) -> None:
    """
    Record ``measured`` class durations in ``path``.

    Without ``shard``, they update the durations shards balance with. With
    ``shard`` = (K, N), they wait in ``measured`` until every shard of N has
    reported; the job that completes the round moves them in.
    """
    rounded = {name: round(seconds, 4) for name, seconds in measured.items()}
    with folder_locked(path):
        try:
            durations = load(path)
        except ConfigurationError:
            durations = DurationsFile()
        if shard is None:
            durations.classes.update(rounded)
        else:
            index, total = shard
            durations.measured.update(rounded)
            reported = set(durations.shards.get(str(total), [])) | {index}
            if reported >= set(range(1, total + 1)):
                durations.classes.update(durations.measured)
                durations.measured = {}
                durations.shards.pop(str(total), None)
            else:
                durations.shards[str(total)] = sorted(reported)
        partial = f"{path}.partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(durations.to_json(), handle, indent=1)
            handle.write("\n")
        os.replace(partial, path)
