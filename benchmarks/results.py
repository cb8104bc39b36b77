"""
Summarize the runs: medians, ratios to the baseline variant, tables and JSON.

Medians rather than means: one run slowed down by the machine should not
move the result.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

from measure import Measurement

#: The phases of a table timed from outside: the whole process first, then the two phases timed inside it.
WALL_PHASES = ("wall", "setup", "tests")
#: The columns of Block.wall_cells() in a summary of stock-exact against multidb.
WALL_HEADER = f"{'stock-exact':>12}{'multidb':>10}{'ratio':>8}"


@dataclass
class Block:
    """The runs of every variant of one project, on one backend, in one mode."""

    backend: str
    mode: str
    project: str
    description: str
    variants: list[str]
    runs: dict[str, list[Measurement]] = field(default_factory=dict)
    #: The phases shown, with their ratios: the in-process phases, or the whole process ("wall") first.
    phases: tuple[str, ...] = ("tests", "setup", "total")

    def add(self, variant: str, measurement: Measurement) -> None:
        self.runs.setdefault(variant, []).append(measurement)

    def median(self, variant: str, phase: str) -> float:
        """Return the median seconds of ``phase`` ("setup", "tests", "total" or "wall") over the runs of ``variant``."""
        return statistics.median(getattr(run, phase) for run in self.runs[variant])

    def ratio(self, variant: str, phase: str) -> float:
        """Return the median of ``variant`` over the baseline's (the first variant)."""
        baseline = self.median(self.variants[0], phase)
        return self.median(variant, phase) / baseline if baseline else float("nan")

    def title(self) -> str:
        return f"{self.backend} · {self.mode} · {self.description}"

    def format(self) -> str:
        """Return the block as a plain-text table."""
        width = max(len("variant"), *(len(name) for name in self.variants)) + 2
        columns = [(phase, 10 if index == 0 else 11) for index, phase in enumerate(self.phases)]
        header = "".join(f"{phase + '(s)':>{column}}{'ratio':>7}" for phase, column in columns)
        lines = [self.title(), f"{'variant':<{width}}{header}"]
        for name in self.variants:
            cells = "".join(
                f"{self.median(name, phase):>{column}.2f}{self.ratio(name, phase):>7.2f}" for phase, column in columns
            )
            lines.append(f"{name:<{width}}{cells}")
        return "\n".join(lines)

    def wall_cells(self) -> str:
        """Return the median wall time of the baseline and of the second variant, and its ratio (see WALL_HEADER)."""
        baseline, variant = self.variants[:2]
        return (
            f"{self.median(baseline, 'wall'):>12.2f}{self.median(variant, 'wall'):>10.2f}"
            f"{self.ratio(variant, 'wall'):>7.2f}x"
        )

    def as_json(self) -> dict[str, object]:
        """Return the raw runs and the medians, for --json."""
        return {
            "backend": self.backend,
            "mode": self.mode,
            "project": self.project,
            "description": self.description,
            "baseline": self.variants[0],
            "variants": {
                name: {
                    "runs": [asdict(run) for run in self.runs[name]],
                    "median": {phase: self.median(name, phase) for phase in ("tests", "setup", "total", "wall")},
                    "ratio": {phase: self.ratio(name, phase) for phase in self.phases},
                }
                for name in self.variants
            },
        }
