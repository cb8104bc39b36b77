"""
The usage report: which aliases each test class was given, and which it used.

What each class used is recorded by the isolation layer
(``isolation/used_aliases.py``); this formats it, after the run, next to what each
class was given or declared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassDatabases:
    """What one test class was allowed: its own declaration (if any) and what it got."""

    #: The aliases the class declared itself; None if the runner chose them.
    declared: frozenset[str] | None
    #: The aliases it could use during the run.
    given: frozenset[str]


def format_usage_report(
    classes: Mapping[str, ClassDatabases], used: Mapping[str, set[str]], *, not_set_up: Iterable[str] = ()
) -> str:
    """
    Return the report: one line per class that ran, then the declared aliases never used.

    ``not_set_up`` are the aliases whose test databases were never created
    (nobody used them).
    """
    ran = sorted(key for key in classes if key in used)
    if not ran:
        return "Database usage: no test class that may use a database ran."
    width = max(len(key) for key in ran)
    lines = ["Database usage by test class (given: what the class could use; used: what it did use):"]
    unused_declared: list[str] = []
    for key in ran:
        databases = classes[key]
        aliases = sorted(used[key])
        kind = "declared" if databases.declared is not None else "given"
        lines.append(
            f"  {key:<{width}}  {kind}: {', '.join(sorted(databases.given)) or '-'}; used: {', '.join(aliases) or '-'}"
        )
        if databases.declared is not None:
            never = sorted(databases.declared - used[key])
            if never:
                unused_declared.append(f"  {key}: {', '.join(never)}")
    if unused_declared:
        lines.append(
            f"Declared but never used ({len(unused_declared)} test "
            f"{'class' if len(unused_declared) == 1 else 'classes'}; each costs setup and flushes):"
        )
        lines.extend(unused_declared)
    else:
        lines.append("Declared but never used: none.")
    given = set().union(*(classes[key].given for key in ran))
    touched = set().union(*(used[key] for key in ran))
    idle = sorted(given - touched)
    lines.append(f"Aliases no test class used: {', '.join(idle) if idle else 'none'}.")
    never_created = sorted(set(not_set_up))
    if never_created:
        lines.append(f"Test databases never created (nothing used them): {', '.join(never_created)}.")
    return "\n".join(lines)
