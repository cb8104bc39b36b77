"""
multidb_runner for pytest: pytest-django with everything ``MultiDBRunner`` does.

Enable it with ``-p multidb_runner.pytest_plugin`` (on the command line or
in ``addopts``), on top of pytest-django 4.11 or later. pytest-django keeps
deciding which tests use the database and keeps its options and fixtures;
the databases are set up, isolated and destroyed by the runner's own steps
(see ``session``), so a test sees under pytest what it sees under
``manage.py test``.
"""

from __future__ import annotations

from collections.abc import Generator
from importlib import metadata
from typing import Any

import pytest

from .command_line import add_options

#: The first pytest-django whose ``django_db_setup`` sets up only the databases the tests use.
PYTEST_DJANGO_MINIMUM = (4, 11)
CONTROLLER_NAME = "multidb_runner.pytest_plugin.xdist"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def check_pytest_django(config: pytest.Config) -> None:
    """Refuse to run without pytest-django 4.11 or later, saying how to get it."""
    try:
        version = metadata.version("pytest-django")
    except metadata.PackageNotFoundError:
        version = None
    install = "Install it with: pip install 'multidb-runner[pytest]'."
    if version is None or not config.pluginmanager.has_plugin("django"):
        found = "is not installed" if version is None else "is disabled (-p no:django)"
        raise pytest.UsageError(f"multidb_runner.pytest_plugin runs on top of pytest-django, which {found}. {install}")
    parts = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if parts < PYTEST_DJANGO_MINIMUM:
        raise pytest.UsageError(
            f"multidb_runner.pytest_plugin needs pytest-django 4.11 or later; {version} is installed. {install}"
        )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Build the session's runner and check its configuration, before anything is collected or created."""
    check_pytest_django(config)
    if config.getoption("version", 0) > 0 or config.getoption("help", False):
        # As pytest-django: --help and --version never read the settings,
        # which may not even import.
        return
    from pytest_django.lazy_django import django_settings_is_configured

    if not django_settings_is_configured():
        return  # pytest-django has no Django project to run either
    from ..errors import ConfigurationError
    from .session import PytestRun
    from .state import RUN_KEY
    from .xdist import Controller, is_worker

    try:
        config.stash[RUN_KEY] = PytestRun(config)
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None
    from . import fixtures

    # After pytest-django: its django_db_setup is the one replaced.
    config.pluginmanager.register(fixtures, "multidb_runner.pytest_plugin.fixtures")
    if not is_worker(config) and config.pluginmanager.has_plugin("xdist"):
        config.pluginmanager.register(Controller(config), CONTROLLER_NAME)


def current_run(config: pytest.Config) -> Any:
    from .state import RUN_KEY

    return config.stash.get(RUN_KEY, None)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the collected Django test classes their aliases."""
    run = current_run(config)
    if run is not None:
        run.inject_collected(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    """Note the test whose fixtures are set up (the usage report names per-test classes after it)."""
    run = current_run(item.config)
    if run is not None:
        run.current_test = item.nodeid
    try:
        return (yield)
    finally:
        if run is not None:
            run.current_test = None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the xdist controller: destroy what a dead worker left behind."""
    controller = session.config.pluginmanager.get_plugin(CONTROLLER_NAME)
    if controller is not None:
        controller.finish()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Show the runner's messages, the usage report (``--report-db-usage``), and any cleanup after dead workers."""
    if current_run(config) is None:
        return  # no Django project: nothing ran through the runner
    from .report import summary_lines

    lines = summary_lines(config)
    if lines:
        terminalreporter.write_sep("-", "multidb_runner")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave Django's classes, models and settings as the session found them."""
    run = current_run(config)
    if run is not None:
        run.restore()
