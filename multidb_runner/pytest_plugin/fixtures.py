"""
pytest-django's ``django_db_setup`` fixture, setting up the databases through the runner.

Registered after pytest-django, so that this definition is the one tests
get. It asks pytest-django's own fixtures what to do (``--reuse-db``,
``--create-db``, ``--no-migrations``, the xdist suffix of database names)
and hands the creation and the destruction to the run's session.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from pytest_django import DjangoDbBlocker

from .session import PytestRun
from .state import RUN_KEY
from .xdist import WorkerManifest, send_to_controller


@pytest.fixture(scope="session")
def django_db_setup(  # noqa: PLR0913 - pytest-django's own fixture signature
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: DjangoDbBlocker,
    django_db_use_migrations: bool,
    django_db_keepdb: bool,
    django_db_createdb: bool,
    django_db_modify_db_settings: None,
) -> Generator[None]:
    """Create the test databases of the session's tests through the run's session, and destroy them after."""
    run: PytestRun = request.config.stash[RUN_KEY]
    if not django_db_use_migrations:
        from pytest_django.fixtures import _disable_migrations

        _disable_migrations()
    aliases, serialized_aliases = run.databases_for_setup(request.session.items)
    manifest = WorkerManifest.for_worker(request.config)
    # As pytest-django: --create-db recreates the databases even with --reuse-db;
    # kept, they are rebuilt (and snapshotted) whatever their state.
    keepdb = django_db_keepdb
    recreate = django_db_keepdb and django_db_createdb
    try:
        with django_db_blocker.unblock():
            if manifest is not None:
                manifest.write(run.session, aliases, keepdb=keepdb)
            run.setup_databases(aliases, serialized_aliases, keepdb=keepdb, recreate=recreate)
        yield
    finally:
        with django_db_blocker.unblock():
            # --reuse-db keeps what --create-db made, as pytest-django does.
            run.teardown_databases(keepdb=django_db_keepdb)
        if manifest is not None:
            manifest.remove()
        send_to_controller(request.config, run.report_data())
