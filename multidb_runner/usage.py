"""
Report which aliases each test class was given and which it actually used.

A class "uses" an alias when a statement runs on it (or a cursor is taken
through a mirror) between the class's ``setUpClass`` and the next class's:
its tests, ``setUpTestData``, ``setUpClass`` and ``tearDownClass``. The
runner's own statements (flushes, savepoints) do not count. Users asked
for this to prune ``databases`` declarations that cost setup and flush
time for nothing (pytest-django issue #924).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from django.test import SimpleTestCase, TestCase, TransactionTestCase

from .injection import class_key


@dataclass(frozen=True)
class ClassDatabases:
    """What one test class was allowed: its own declaration (if any) and what it got."""

    #: The aliases the class declared itself; None if the runner chose them.
    declared: frozenset[str] | None
    #: The aliases it could use during the run.
    given: frozenset[str]


class DatabaseUsage:
    """Which aliases each test class used, in this process."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.used: dict[str, set[str]] = {}
        self.originals: dict[tuple[type, str], Any] = {}

    def note(self, alias: str) -> None:
        if self.current is not None:
            self.used[self.current].add(alias)

    def start_class(self, cls: type[SimpleTestCase]) -> None:
        """Attribute what runs from now on to ``cls``."""
        if issubclass(cls, TransactionTestCase):
            self.current = class_key(cls)
            self.used.setdefault(self.current, set())
        else:
            self.current = None

    def take(self) -> dict[str, set[str]]:
        """Return what was recorded so far and start afresh (a worker's share)."""
        used, self.used, self.current = self.used, {}, None
        return used

    def merge(self, used: Mapping[str, set[str]]) -> None:
        for key, aliases in used.items():
            self.used.setdefault(key, set()).update(aliases)

    def install(self, quiet: Callable[[], AbstractContextManager[None]]) -> None:
        """
        Hear of each test class as it is set up, and not of Django's own transactions and flushes.

        ``SimpleTestCase.setUpClass`` calls ``_add_databases_failures``;
        ``quiet`` is the tracker's pause, wrapped around the steps where
        Django opens, checks and rolls back transactions or flushes (with
        the stock behaviour, on every alias a class may use).
        """
        if self.originals:
            return
        usage = self
        add_databases_failures = SimpleTestCase.__dict__["_add_databases_failures"].__func__

        def _add_databases_failures(cls: Any) -> None:
            usage.start_class(cls)
            add_databases_failures(cls)

        patches: dict[tuple[type, str], Any] = {
            (SimpleTestCase, "_add_databases_failures"): classmethod(_add_databases_failures)
        }
        for owner, name in FRAMEWORK_STEPS:
            patches[(owner, name)] = quieted(owner.__dict__[name], quiet)
        for (owner, name), value in patches.items():
            self.originals[(owner, name)] = owner.__dict__[name]
            setattr(owner, name, value)

    def restore(self) -> None:
        for (owner, name), original in self.originals.items():
            setattr(owner, name, original)
        self.originals = {}


#: Django's steps whose statements are the test framework's, not the test's.
FRAMEWORK_STEPS: tuple[tuple[type, str], ...] = (
    (TestCase, "_enter_atomics"),
    (TestCase, "_rollback_atomics"),
    (TestCase, "_fixture_teardown"),
    (TransactionTestCase, "_fixture_teardown"),
)


def quieted(method: Any, quiet: Callable[[], AbstractContextManager[None]]) -> Any:
    """Return ``method`` (a function or a classmethod) running under ``quiet()``."""
    function = method.__func__ if isinstance(method, classmethod) else method

    @functools.wraps(function)
    def run_quietly(*args: Any, **kwargs: Any) -> Any:
        with quiet():
            return function(*args, **kwargs)

    return classmethod(run_quietly) if isinstance(method, classmethod) else run_quietly


def format_usage_report(classes: Mapping[str, ClassDatabases], used: Mapping[str, set[str]]) -> str:
    """Return the report: one line per class that ran, then the declared aliases never used."""
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
    return "\n".join(lines)
