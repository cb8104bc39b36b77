"""
One pytest session's run: the pytest adapter of ``MultiDBSession``.

pytest-django decides which tests use the database and how (its mark and
fixtures), names xdist workers' databases and handles ``--reuse-db``,
``--create-db`` and ``--no-migrations``; everything the run changes is
done by the session core (``multidb_runner.session``), driven here in the
order ``manage.py test`` drives it: ``configure()`` when pytest starts,
the injection once the tests are collected, ``set_up()`` and
``teardown()`` from the ``django_db_setup`` fixture, and ``close()`` when
pytest ends.
"""

from __future__ import annotations

import logging
import unittest
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from django.test import SimpleTestCase

from ..planning.aliases import with_primaries
from ..session import MultiDBSession, RunParameters, SetUp
from .command_line import runner_options
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
    """The run of one pytest process (the xdist controller, a worker, or a serial run)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.log = CollectedLog()
        self.verbosity = max(int(config.option.verbose), 0)
        self.session = MultiDBSession(runner_options(config), log=self.log_message)
        self.session.configure()
        self.per_test: PerTestInjection | None = None
        self.setup: SetUp | None = None
        #: The node id of the test whose fixtures are being set up.
        self.current_test: str | None = None
        #: The aliases pytest-django would set up for the collected tests that are not Django test classes.
        self.stock_by_marks: set[str] = set()

    def log_message(self, msg: str, level: int | None = None) -> None:
        """Keep what the session says, for the terminal summary (``DiscoverRunner.log()``'s signature)."""
        self.log.log(logging.INFO if level is None else level, msg)

    # Injection -------------------------------------------------------------------

    def inject_collected(self, items: Sequence[pytest.Item]) -> None:
        """Give the collected Django test classes their aliases, as the runner does to its suite."""
        from ..injection import test_classes

        injection = self.session.inject(test_classes(test_instances(items)))
        self.per_test = PerTestInjection(PerTestInjector.like(injection.injector), injection.class_databases)
        if self.session.config.report_db_usage:
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
            used = with_primaries(used, self.session.mirrors)
            aliases |= used
            if serialized_rollback:
                serialized |= used
        return aliases, serialized

    # Databases -------------------------------------------------------------------

    def setup_databases(
        self, aliases: set[str], serialized_aliases: set[str], *, keepdb: bool, recreate: bool = False
    ) -> None:
        """Set up the test databases through the session, and start injecting per-test classes."""
        session = self.session
        # The session sets up on first use only what stock would not set up
        # at all: what the marks ask pytest-django for counts as the
        # collected classes' databases do (set up first).
        session.add_stock_aliases(self.stock_by_marks)
        session.install_signal_handlers()
        self.setup = session.set_up(
            aliases,
            serialized_aliases,
            RunParameters(verbosity=self.verbosity, interactive=False, keepdb=keepdb, recreate=recreate),
        )
        assert self.per_test is not None
        self.per_test.install()
        # Undone first when the set-up is torn down.
        session.changes.callback(self.per_test.remove)

    def teardown_databases(self, *, keepdb: bool) -> None:
        """Destroy the test databases (or keep them, with ``--reuse-db``) through the session."""
        if self.setup is None:
            return
        setup, self.setup = self.setup, None
        setup.parameters.keepdb = keepdb
        self.session.teardown(setup)

    def restore(self) -> None:
        """Undo everything the run changed, as the runner does at the end of ``manage.py test``."""
        # The per-test injection is on the session's stack since the set-up.
        self.session.close()

    # Reports ---------------------------------------------------------------------

    def report_data(self) -> dict[str, Any]:
        """Return this process's database usage and messages, as plain data (sent by xdist workers)."""
        session = self.session
        class_databases = session.injection.class_databases if session.injection is not None else {}
        return {
            "classes": {
                key: {
                    "declared": None if value.declared is None else sorted(value.declared),
                    "given": sorted(value.given),
                }
                for key, value in class_databases.items()
            },
            "used": {key: sorted(aliases) for key, aliases in session.used_aliases().items()},
            "not_set_up": sorted(session.not_set_up()),
            "messages": self.messages(),
        }

    def messages(self) -> list[str]:
        """Return what the run said worth showing: the plan with ``-v``, warnings always."""
        return self.log.messages(logging.INFO if self.verbosity >= 1 else logging.WARNING)
