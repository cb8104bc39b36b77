"""
One pytest session's ``MultiDBRunner``, driven step by step from pytest's hooks and fixtures.

pytest-django decides which tests use the database and how (its mark and
fixtures), names xdist workers' databases and handles ``--reuse-db``,
``--create-db`` and ``--no-migrations``; everything the runner changes is
done by the runner's own steps, called here in the order ``manage.py test``
calls them: ``load_configuration()`` when pytest starts, the injection once
the tests are collected, ``setup_databases()`` and
``teardown_databases()`` from the ``django_db_setup`` fixture, and
``restore_run_state()`` when pytest ends.
"""

from __future__ import annotations

import logging
import unittest
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from django.test import SimpleTestCase

from ..planning.aliases import with_primaries
from ..runner import MultiDBRunner
from ..setup.databases import OldConfig
from .options import runner_options
from .per_test import PerTestInjection, PerTestInjector


class CollectedLog:
    """A logger for the runner that keeps its messages for pytest's terminal summary."""

    def __init__(self) -> None:
        self.records: list[tuple[int, str]] = []

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        self.records.append((level, msg % args if args else msg))

    def messages(self, min_level: int) -> list[str]:
        return [msg for level, msg in self.records if level >= min_level]


def django_test_class(item: pytest.Item) -> type[SimpleTestCase] | None:
    """Return the Django test class ``item`` is a test of, if it is one."""
    cls = getattr(item, "cls", None)
    return cls if isinstance(cls, type) and issubclass(cls, SimpleTestCase) else None


def test_instances(items: Iterable[pytest.Item]) -> unittest.TestSuite:
    """Return a suite of the collected Django test classes' tests, as the runner's injection reads suites."""
    suite = unittest.TestSuite()
    seen: set[type] = set()
    for item in items:
        cls = django_test_class(item)
        if cls is None or cls in seen:
            continue
        seen.add(cls)
        suite.addTest(cls(methodName=item.name if hasattr(cls, item.name) else "__init__"))
    return suite


class PytestRun:
    """The runner of one pytest process (the xdist controller, a worker, or a serial run)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.log = CollectedLog()
        self.runner = MultiDBRunner(
            verbosity=max(int(config.option.verbose), 0),
            interactive=False,
            logger=self.log,
            enable_faulthandler=False,
            **runner_options(config),
        )
        self.runner.load_configuration()
        self.per_test: PerTestInjection | None = None
        self.old_config: OldConfig | None = None
        #: The node id of the test whose fixtures are being set up.
        self.current_test: str | None = None
        #: The aliases pytest-django would set up for the collected tests that are not Django test classes.
        self.stock_by_marks: set[str] = set()

    # Injection -------------------------------------------------------------------

    def inject_collected(self, items: Sequence[pytest.Item]) -> None:
        """Give the collected Django test classes their aliases, as the runner does to its suite."""
        self.runner.inject_databases(test_instances(items))
        assert self.runner.injector is not None
        self.per_test = PerTestInjection(PerTestInjector.like(self.runner.injector), self.runner.class_databases)
        assert self.runner.config is not None
        if self.runner.config.report_db_usage:
            self.per_test.name_for = lambda: self.current_test

    def databases_for_setup(self, items: Sequence[pytest.Item]) -> tuple[set[str], set[str]]:
        """
        Return the aliases to set up for ``items``, and those to serialize.

        pytest-django tells whether and how each test uses the database;
        a test that names no ``databases`` gets what the runner injects, and
        a used mirror makes its primary used.
        """
        from pytest_django.fixtures import _get_databases_for_test, validate_django_db

        if self.per_test is None:
            self.inject_collected(items)
        assert self.per_test is not None
        injector = self.per_test.injector
        aliases: set[str] = set()
        serialized: set[str] = set()
        for item in items:
            databases, serialized_rollback = _get_databases_for_test(item)
            used = set(databases)
            if used and django_test_class(item) is None:
                # What pytest-django sets up for it (a mark without
                # ``databases``: default) is set up before the tests.
                self.stock_by_marks |= used
                marker = item.get_closest_marker("django_db")
                requested = validate_django_db(marker)[2] if marker else None
                given = injector.injected_aliases if requested is None else injector.databases_declared(requested)
                used = set(given) if given is not None else used
            used = with_primaries(used, self.runner.mirrors)
            aliases |= used
            if serialized_rollback:
                serialized |= used
        return aliases, serialized

    # Databases -------------------------------------------------------------------

    def setup_databases(self, aliases: set[str], serialized_aliases: set[str], *, keepdb: bool) -> None:
        """Set up the test databases through the runner, and start injecting per-test classes."""
        runner = self.runner
        runner.keepdb = keepdb
        # The runner sets up on first use only what stock would not set up
        # at all: what the marks ask pytest-django for counts as the
        # collected classes' databases do (set up first).
        runner.stock_aliases |= with_primaries(self.stock_by_marks, runner.mirrors)
        runner.signals.install()
        self.old_config = runner.setup_databases(aliases=aliases, serialized_aliases=serialized_aliases)
        assert self.per_test is not None
        self.per_test.install()

    def teardown_databases(self, *, keepdb: bool) -> None:
        """Destroy the test databases (or keep them, with ``--reuse-db``) through the runner."""
        if self.per_test is not None:
            self.per_test.remove()
        if self.old_config is None:
            return
        old_config, self.old_config = self.old_config, None
        self.runner.keepdb = keepdb
        self.runner.teardown_databases(old_config)

    def restore(self) -> None:
        """Undo everything the run changed, as the runner does at the end of ``manage.py test``."""
        try:
            if self.per_test is not None:
                self.per_test.remove()
        finally:
            self.runner.restore_run_state()

    # Reports ---------------------------------------------------------------------

    def report_data(self) -> dict[str, Any]:
        """Return this process's database usage and messages, as plain data (sent by xdist workers)."""
        isolation = self.runner.isolation
        used = isolation.usage.used if isolation is not None else {}
        return {
            "classes": {
                key: {
                    "declared": None if value.declared is None else sorted(value.declared),
                    "given": sorted(value.given),
                }
                for key, value in self.runner.class_databases.items()
            },
            "used": {key: sorted(aliases) for key, aliases in used.items()},
            "not_set_up": sorted(self.runner.lazy_setup.not_set_up()) if self.runner.lazy_setup is not None else [],
            "messages": self.messages(),
        }

    def messages(self) -> list[str]:
        """Return what the runner said worth showing: the plan with ``-v``, warnings always."""
        return self.log.messages(logging.INFO if self.runner.verbosity >= 1 else logging.WARNING)
