"""
Set up a test database when a test first uses it.

With every alias injected, any test class may use any database, so stock
Django's way (create every database the suite may use, before the first
test) makes a run of one class pay for all of them. In a serial run, the
runner creates up front only the databases some class declared itself, and
the others on first use: when a connection of one of their aliases (or of
a mirror or a sharing alias) first connects, in whatever thread.

A database set up in the middle of the run is set up as it would have been
before the first test: with the app registry and routers the run started
with (not a test's ``available_apps`` or ``override_settings``), none of
its statements seen by the test's query counting or execute wrappers, and
nothing written counted as the test's. A failure fails the test that
asked, names the alias, and is given again to every later test asking for
it; whatever the attempt created is destroyed at the end of the run, like
everything else. A database whose server could not be reached before the
tests (``reachability.py``) is never tried: each use fails at once.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from django.apps import apps
from django.core import checks
from django.core.management.base import SystemCheckError
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper

# Defined with the other errors users see; importable from here as before.
from ..errors import TestDatabaseSetupError as TestDatabaseSetupError
from ..errors import sentence
from ..isolation.transactions import unobserved
from .catalog import is_in_memory_name
from .servers import own_connection


class LazyTestDatabases:
    """
    The test databases still to set up, and the step that sets one up on first use.

    ``pending`` maps every alias that reads a database still to set up (the
    database's first alias, the aliases sharing it, their mirrors) to that
    first alias. ``set_up(first)`` is the runner's: it creates, migrates and
    prepares the database and points the other aliases at it.
    """

    def __init__(self, pending: Mapping[str, str], set_up: Callable[[str], None]) -> None:
        self.pending: dict[str, str] = dict(pending)
        self.set_up = set_up
        #: First alias -> the error its set-up failed with.
        self.failed: dict[str, BaseException] = {}
        #: First alias -> why its set-up is not even tried (see ``refuse``).
        self.refused: dict[str, str] = {}
        self.lock = threading.RLock()
        self.in_progress: set[str] = set()
        #: Called when ``waiting`` may have changed (the isolation layer's first-use hooks).
        self.on_change: Callable[[], None] = lambda: None
        self.transactions_supported: dict[str, bool] = {}

    @property
    def waiting(self) -> bool:
        """Return whether some database is still to set up (the first-use hooks must stay on)."""
        return bool(self.pending)

    def not_set_up(self) -> set[str]:
        """Return the first aliases of the databases never set up."""
        return set(self.pending.values())

    def before_use(self, connection: BaseDatabaseWrapper) -> None:
        """Set up ``connection``'s database first, if it is still to be set up."""
        first = self.pending.get(connection.alias)
        if first is None:
            return
        if first in self.refused:
            raise TestDatabaseSetupError(
                f"The test database of {self.describe(first)} is not set up: {self.refused[first]} "
                "Every test that uses it fails the same way."
            )
        if first in self.failed:
            raise self.error(first, self.failed[first], again=True)
        if connection.connection is not None:
            return
        with self.lock:
            if first in self.in_progress or connection.alias not in self.pending:
                # This set-up's own connections, or another thread did it meanwhile.
                return
            self.in_progress.add(first)
            try:
                self.set_up(first)
            except Exception as exc:
                self.failed[first] = exc
                raise self.error(first, exc) from exc
            finally:
                self.in_progress.discard(first)
            for alias in [alias for alias, of in self.pending.items() if of == first]:
                del self.pending[alias]
        self.on_change()

    def supports_transactions(self, alias: str) -> bool:
        """
        Return whether ``alias``'s database will support transactions, without setting it up.

        Most backends know without asking. MySQL asks the server for its
        default storage engine: here through a connection to no database
        (as Django's own ``_nodb_cursor``), which reads nothing of any.
        """
        first = self.pending.get(alias, alias)
        if first in self.refused:
            # Its server cannot be reached: a test that uses it fails then, not every TestCase now.
            return True
        if first not in self.transactions_supported:
            connection = connections[first]
            known = inspect.getattr_static(type(connection.features), "supports_transactions", None)
            if isinstance(known, bool):
                self.transactions_supported[first] = known
            else:
                no_database = own_connection(connection)
                try:
                    self.transactions_supported[first] = bool(no_database.features.supports_transactions)
                finally:
                    no_database.close()
        return self.transactions_supported[first]

    def refuse(self, first: str, why: str) -> None:
        """
        Never set up ``first``'s database: each use raises a short TestDatabaseSetupError saying ``why``.

        For a database whose server could not be reached before the tests:
        trying in every test would only repeat the driver's long traceback.
        """
        self.refused[first] = why

    def describe(self, first: str) -> str:
        """Return ``alias 'first'``, with the other aliases that read its database."""
        aliases = sorted(alias for alias, of in self.pending.items() if of == first)
        others = f" (used through {', '.join(repr(a) for a in aliases if a != first)})" if len(aliases) > 1 else ""
        return f"alias {first!r}{others}"

    def error(self, first: str, exc: BaseException, *, again: bool = False) -> TestDatabaseSetupError:
        when = "failed earlier in this run" if again else "failed"
        return TestDatabaseSetupError(
            f"Setting up the test database of {self.describe(first)} on its first use {when}: "
            f"{type(exc).__name__}: {sentence(exc)} Every test that uses it fails the same way; the "
            "databases already created are destroyed at the end of the run as usual."
        )


class RunStartState:
    """What a database set up mid-run must see as it was when the run started: apps, routers, connections."""

    def __init__(self) -> None:
        self.app_configs = apps.app_configs
        self.routers = list(router.routers)
        #: The thread that runs the tests, and its connections (which teardown uses).
        self.thread = threading.get_ident()
        self.connections = {alias: connections[alias] for alias in connections}

    def adopt(self, entries: Iterable[Any]) -> None:
        """
        Hand test databases a test's thread set up over to the run's own connections, for teardown.

        ``entries`` are the run's ``TestDatabase`` records of them. An
        in-memory SQLite database lives while a connection to it is open:
        the run's connection opens one before the thread's may close.
        """
        for entry in entries:
            connection = self.connections[entry.alias]
            entry.connection = connection
            if connection.vendor == "sqlite" and is_in_memory_name(str(entry.test_name)):
                connection.inc_thread_sharing()
                try:
                    connection.ensure_connection()
                finally:
                    connection.dec_thread_sharing()

    @contextmanager
    def restored(self) -> Iterator[None]:
        """
        Let the body see the run's starting app registry and routers, whatever a test changed.

        A test's ``available_apps`` or ``override_settings(INSTALLED_APPS=...)``
        would migrate a part of the schema; its ``DATABASE_ROUTERS`` would
        route the migrations elsewhere.
        """
        saved_configs, saved_stack = apps.app_configs, apps.stored_app_configs
        saved_routers = router.__dict__.get("routers")
        changed_apps = saved_configs is not self.app_configs
        if changed_apps:
            apps.app_configs, apps.stored_app_configs = self.app_configs, []
            apps.clear_cache()
        router.__dict__["routers"] = self.routers
        try:
            yield
        finally:
            if saved_routers is None:
                router.__dict__.pop("routers", None)
            else:
                router.__dict__["routers"] = saved_routers
            if changed_apps:
                apps.app_configs, apps.stored_app_configs = saved_configs, saved_stack
                apps.clear_cache()


@contextmanager
def unobserved_by_test(aliases: Iterable[str]) -> Iterator[None]:
    """
    Hide a mid-run set-up's statements from what the test watches on ``aliases``.

    What hides the runner's own transactions (no execute wrapper of the
    test's, nothing added to the query log), and no debug cursor either
    (``assertNumQueries``, ``--debug-sql``): a set-up runs hundreds.
    """
    with ExitStack() as stack:
        for alias in aliases:
            connection = connections[alias]
            stack.enter_context(unobserved(connection))
            stack.callback(setattr, connection, "force_debug_cursor", connection.force_debug_cursor)
            connection.force_debug_cursor = False
        yield


def run_database_checks(aliases: Iterable[str]) -> None:
    """
    Run Django's database checks on ``aliases``, set up after the run's checks.

    The run's system checks (before the first test) covered the databases
    set up then; these are the checks that need a connection.
    """
    messages = checks.run_checks(tags=[checks.Tags.database], databases=list(aliases))
    serious = [message for message in messages if message.is_serious() and not message.is_silenced()]
    if serious:
        raise SystemCheckError("\n".join(str(message) for message in serious))
