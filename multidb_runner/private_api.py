"""
Every private name of Django (and of the standard library) the runner touches.

Public hooks come first (``setup_worker_connection()``,
``get_test_db_clone_settings()``, ``connection_created``, the ``flush``
command); where only a private name does the job, it is listed here with
the module that uses it and why no public hook does. ``PRIVATE_NAMES`` is
checked against the installed Django by ``tests/test_private_api.py`` (CI
runs it on every supported Django), which fails naming the attribute when a
release drops or renames one; the same test fails when the package uses a
private name this list does not have.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass

#: The Django releases the names below were checked on.
CHECKED_ON = ("5.2", "6.0", "6.1")


@dataclass(frozen=True)
class PrivateName:
    """One private name: where it lives, who uses it, and why."""

    #: Dotted path of the module or class that has the name.
    owner: str
    name: str
    used_by: str
    why: str
    #: For a name Django reads but never defines on a class (an attribute the
    #: runner sets on an instance): a dotted path whose source mentions it.
    read_by: str | None = None
    #: The first Django release without it, where the package no longer needs it.
    until: tuple[int, int] | None = None
    #: The module that must be importable for the name to be checked (an optional dependency).
    needs: str | None = None

    @property
    def path(self) -> str:
        return f"{self.owner}.{self.name}"


PRIVATE_NAMES: tuple[PrivateName, ...] = (
    # Test database creation and destruction.
    PrivateName(
        "django.db.backends.base.creation.BaseDatabaseCreation",
        "_get_test_db_name",
        "naming",
        "the test database's name exactly as Django computes it (TEST['NAME'] or a default, per backend)",
    ),
    PrivateName(
        "django.db.backends.base.creation.BaseDatabaseCreation",
        "_create_test_db",
        "copies",
        "create a test database copied from a template with Django's own handling of a leftover one "
        "(replaced under --noinput, asked about otherwise); create_test_db() would also migrate it",
    ),
    PrivateName(
        "django.db.backends.base.creation.BaseDatabaseCreation",
        "_destroy_test_db",
        "catalog",
        "destroy a database by its recorded name; destroy_test_db() derives the name from settings",
    ),
    PrivateName(
        "django.db.backends.base.base.BaseDatabaseWrapper",
        "_nodb_cursor",
        "catalog",
        "list a server's databases through Django's own connection to no database",
    ),
    PrivateName(
        "django.db.backends.base.base.BaseDatabaseWrapper",
        "_test_serialized_contents",
        "databases, runner, workers",
        "where Django keeps the contents serialized for serialized_rollback",
        read_by="django.test.testcases.TransactionTestCase._fixture_setup",
    ),
    # Test case steps replaced for the run (lazy transactions, selective flush, usage report).
    PrivateName(
        "django.test.testcases.TransactionTestCase",
        "_fixture_teardown",
        "flushing, transactions, used_aliases, session",
        "the end-of-test flush, wrapped to flush selectively and run on an interrupted --keepdb run",
    ),
    PrivateName(
        "django.test.testcases.TransactionTestCase",
        "_databases_names",
        "transactions",
        "the aliases a class may use, as Django itself lists them",
    ),
    PrivateName(
        "django.test.testcases.TestCase", "_enter_atomics", "transactions", "open class and test atomics lazily"
    ),
    PrivateName(
        "django.test.testcases.TestCase", "_rollback_atomics", "transactions", "roll back the lazily opened atomics"
    ),
    PrivateName(
        "django.test.testcases.TestCase",
        "_databases_support_transactions",
        "transactions, layer",
        "take TestCase's own path where databases lack transactions; answer without setting databases up",
    ),
    PrivateName(
        "django.apps.registry.Apps",
        "app_configs",
        "setup.lazy",
        "migrate a database set up mid-run with the run's app registry, not a test's available_apps "
        "(no public way to step out of set_available_apps() and back)",
        read_by="django.apps.registry.Apps.set_available_apps",
    ),
    PrivateName(
        "django.apps.registry.Apps",
        "stored_app_configs",
        "setup.lazy",
        "the app registries that available_apps and override_settings stacked, put back after the set-up",
        read_by="django.apps.registry.Apps.set_available_apps",
    ),
    PrivateName(
        "django.test.testcases.TestCase",
        "_should_check_constraints",
        "transactions",
        "check deferred constraints where TestCase does",
    ),
    PrivateName(
        "django.test.testcases.SimpleTestCase",
        "_add_databases_failures",
        "used_aliases",
        "the one step every test class runs in setUpClass: the start of a class, for the usage report",
    ),
    PrivateName(
        "django.test.testcases.TransactionTestCase",
        "_disallowed_database_msg",
        "injection, worker",
        "the failure of a query to an alias a --databases selection left out names the selection",
    ),
    PrivateName(
        "django.test.testcases",
        "_deferredSkip",
        "injection",
        "make skipUnlessDBFeature on a class accept databases = '__all__'",
    ),
    PrivateName(
        "django.db.transaction.Atomic",
        "_from_testcase",
        "transactions",
        "mark the lazily opened atomics as TestCase's, as _enter_atomics does; read by the write tracker "
        "(what runs inside a TestCase's transaction is rolled back)",
        read_by="django.db.transaction.Atomic.__enter__",
    ),
    PrivateName(
        "django.test.testcases.TransactionTestCase",
        "_post_teardown",
        "workers",
        "finish a test an exception interrupted in a worker, as its run() would",
    ),
    PrivateName(
        "django.test.testcases.SimpleTestCase",
        "_disallowed_connection_methods",
        "mirrors",
        "the connection methods a test class replaces to forbid queries (Django 6.1 asks the features)",
        until=(6, 1),
    ),
    # Parallel workers.
    PrivateName(
        "django.test.runner",
        "_worker_id",
        "workers",
        "projects read it in workers (cache prefixes, media folders); Django's _init_worker sets it",
    ),
    # The standard library.
    PrivateName(
        "unittest.suite.TestSuite",
        "_tearDownPreviousClass",
        "workers",
        "finish a class an exception interrupted in a worker",
    ),
    PrivateName(
        "unittest.suite.TestSuite",
        "_handleModuleTearDown",
        "workers",
        "finish a module an exception interrupted in a worker",
    ),
    PrivateName(
        "unittest.result.TestResult",
        "_exc_info_to_string",
        "reporting",
        "format a failure for the JUnit XML report as unittest prints it",
    ),
    PrivateName(
        "concurrent.futures.process.ProcessPoolExecutor",
        "_processes",
        "parallel",
        "the worker processes: their pids and exit codes when one dies",
        read_by="concurrent.futures.process.ProcessPoolExecutor.__init__",
    ),
    # pytest-django (the pytest plugin; pytest-django 4.11 to 4.14).
    PrivateName(
        "pytest_django.fixtures",
        "_get_databases_for_test",
        "pytest_plugin.session",
        "whether and how a collected test uses the database, as pytest-django's django_db_setup decides",
        needs="pytest_django",
    ),
    PrivateName(
        "pytest_django.fixtures",
        "_disable_migrations",
        "pytest_plugin.fixtures",
        "--no-migrations exactly as pytest-django's own django_db_setup does it",
        needs="pytest_django",
    ),
    PrivateName(
        "argparse.ArgumentParser",
        "_actions",
        "runner",
        "the options Django's test command already has",
        read_by="argparse._ActionsContainer.__init__",
    ),
)


def resolve(path: str) -> object:
    """Return the module, class or function at dotted ``path``."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(path)


def missing_names() -> list[str]:
    """Return the listed private names the installed Django (or Python) lacks."""
    import django

    missing = []
    for entry in PRIVATE_NAMES:
        if entry.until is not None and django.VERSION[:2] >= entry.until:
            continue
        if entry.needs is not None and importlib.util.find_spec(entry.needs) is None:
            continue  # an optional dependency, not installed here
        if entry.read_by is not None:
            source = inspect.getsource(resolve(entry.read_by))  # type: ignore[arg-type]
            present = entry.name in source
        else:
            present = hasattr(resolve(entry.owner), entry.name)
        if not present:
            missing.append(entry.path)
    return missing
