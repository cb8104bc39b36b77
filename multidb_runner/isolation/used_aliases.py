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
from typing import Any

from django.test import SimpleTestCase, TransactionTestCase

from ..injection import class_key


class DatabaseUsage:
    """Which aliases each test class used, in this process."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.used: dict[str, set[str]] = {}

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

    def add_databases_failures(self, original: Any) -> Any:
        """
        Return ``SimpleTestCase._add_databases_failures`` noting the start of each class.

        Every test class calls it from ``setUpClass``: what runs from then
        on is attributed to that class.
        """
        add_databases_failures = original.__func__
        usage = self

        def _add_databases_failures(cls: Any) -> None:
            usage.start_class(cls)
            add_databases_failures(cls)

        return classmethod(_add_databases_failures)


def quieted(method: Any, quiet: Callable[[], AbstractContextManager[None]]) -> Any:
    """Return ``method`` (a function or a classmethod) running under ``quiet()``."""
    function = method.__func__ if isinstance(method, classmethod) else method

    @functools.wraps(function)
    def run_quietly(*args: Any, **kwargs: Any) -> Any:
        with quiet():
            return function(*args, **kwargs)

    return classmethod(run_quietly) if isinstance(method, classmethod) else run_quietly
