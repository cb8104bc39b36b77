"""
Open a ``TestCase``'s transactions on an alias only when the alias is first used.

Stock Django enters an atomic block on every alias a ``TestCase`` may use,
for the class (``setUpClass``) and again for each test, then checks
constraints and rolls back on each of them: with every alias injected,
that is a connection, a transaction, a savepoint and a constraint check
per alias and test, mostly for aliases the test never touches.

Here ``_enter_atomics`` returns a ``LazyAtomics`` scope instead: the atomic
blocks it stands for are entered on an alias at its first use, class
scope first, then test scope, so the alias ends up exactly as stock Django
would have left it. First use is any of: getting a cursor or connecting
(``ensure_connection``), reading ``in_atomic_block`` (which every
transaction API does first: ``atomic``, ``get_rollback``/``set_rollback``,
``on_commit``) in the thread that runs the test. Data from
``setUpTestData`` stays in the class scope, on the aliases it used, and
is rolled back with the class; a test's writes are rolled back with the
test. Statements sent through the driver's own connection object
(``connection.connection``) without asking Django first are not seen, as
Django's documentation requires ``ensure_connection()`` before using it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from .tracking import WriteTracker


class LazyAtomics(dict[str, Any]):
    """
    The atomic blocks of one ``TestCase`` scope (its class, or one test).

    As a dict it holds the blocks entered so far, alias -> ``Atomic``, in the
    order they were entered.
    """

    def __init__(self, aliases: Iterable[str]) -> None:
        super().__init__()
        #: Aliases whose block is still to be entered, on first use.
        self.pending = list(aliases)
        self.thread = threading.get_ident()


class LazyTransactions:
    """``TestCase``'s atomic blocks made lazy: the replacements, and the scopes they open."""

    def __init__(self, tracker: WriteTracker) -> None:
        self.tracker = tracker
        #: Open scopes, outermost (the class) first.
        self.scopes: list[LazyAtomics] = []
        #: The aliases pending in any open scope (checked at every first-use point).
        self.pending: set[str] = set()
        self.activating = False
        self.local = threading.local()
        #: Called when ``waiting`` may have changed (the layer's first-use hooks refresh).
        self.on_change: Callable[[], None] = lambda: None

    # Scopes ----------------------------------------------------------------------

    def open(self, aliases: Iterable[str]) -> LazyAtomics:
        """Open a scope over ``aliases``; nothing is entered yet."""
        scope = LazyAtomics(aliases)
        self.scopes.append(scope)
        self.pending.update(scope.pending)
        self.on_change()
        return scope

    def update_pending(self) -> None:
        self.pending = {alias for scope in self.scopes for alias in scope.pending}
        self.on_change()

    def activate(self, connection: BaseDatabaseWrapper) -> None:
        """Enter the pending blocks of ``connection``'s alias, outermost scope first."""
        alias = connection.alias
        deferred: int = getattr(self.local, "deferred", 0)
        if self.activating or alias not in self.pending or deferred:
            return
        scopes = [scope for scope in self.scopes if alias in scope.pending]
        if not scopes or scopes[0].thread != threading.get_ident():
            return
        self.activating = True
        try:
            with self.tracker.pause(), unobserved(connections[alias]):
                for scope in scopes:
                    scope.pending.remove(alias)
                    atomic = transaction.atomic(using=alias)
                    atomic._from_testcase = True  # type: ignore[attr-defined]
                    atomic.__enter__()
                    scope[alias] = atomic
        finally:
            self.activating = False
            self.update_pending()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """
        Open no block on this thread's connections meanwhile: the runner's own use of them.

        A database set up mid-run is migrated through the connection a
        scope waits to open its block on: the block waits for the database.
        """
        self.local.deferred = getattr(self.local, "deferred", 0) + 1
        try:
            yield
        finally:
            self.local.deferred -= 1

    def close(self, scope: LazyAtomics) -> None:
        """Roll back the blocks ``scope`` entered, last first, and forget it."""
        # By identity: two scopes holding the same blocks (none) are equal dicts.
        self.scopes = [open_scope for open_scope in self.scopes if open_scope is not scope]
        self.update_pending()
        self.activating = True
        try:
            with self.tracker.pause():
                for alias in reversed(list(scope)):
                    transaction.set_rollback(True, using=alias)
                    scope[alias].__exit__(None, None, None)
        finally:
            self.activating = False

    def entered_aliases(self) -> list[str]:
        """Return the aliases with a block entered in any open scope."""
        return list(dict.fromkeys(alias for scope in self.scopes for alias in scope))

    # Replacements (installed by the isolation layer) ---------------------------

    def enter_atomics(self, original: Any) -> Any:
        """Return ``TestCase._enter_atomics`` opening a lazy scope where several aliases may be used."""
        enter_atomics = original.__func__
        lazy = self

        def _enter_atomics(cls: Any) -> Any:
            aliases = cls._databases_names()
            if len(aliases) < 2:
                # One database: it is used, or nothing is; stock Django's way is cheaper.
                return enter_atomics(cls)
            return lazy.open(aliases)

        return classmethod(_enter_atomics)

    def rollback_atomics(self, original: Any) -> Any:
        """Return ``TestCase._rollback_atomics`` closing lazy scopes."""
        rollback_atomics = original.__func__
        lazy = self

        def _rollback_atomics(cls: Any, atomics: Any) -> None:
            if isinstance(atomics, LazyAtomics):
                lazy.close(atomics)
            else:
                rollback_atomics(cls, atomics)

        return classmethod(_rollback_atomics)

    def fixture_teardown(self, original: Any) -> Any:
        """Return ``TestCase._fixture_teardown`` checking constraints where a lazy scope entered a block."""
        lazy = self

        def _fixture_teardown(test: Any) -> None:
            # Adapted from TestCase._fixture_teardown: constraints are checked
            # where a transaction is open, the only places with deferred ones.
            atomics = getattr(test, "atomics", None)
            if not isinstance(atomics, LazyAtomics) or not test._databases_support_transactions():
                return original(test)  # type: ignore[no-any-return]
            try:
                for alias in reversed(lazy.entered_aliases()):
                    connection = connections[alias]
                    if test._should_check_constraints(connection):
                        connection.check_constraints()
            finally:
                test._rollback_atomics(atomics)
            return None

        return _fixture_teardown

    @property
    def waiting(self) -> bool:
        return bool(self.pending)

    def before_use(self, connection: BaseDatabaseWrapper) -> None:
        """Enter the pending blocks of ``connection``'s alias, if any (a first-use listener)."""
        self.activate(connection)

    def forget(self) -> None:
        """Forget every open scope (the layer is being removed)."""
        self.scopes.clear()
        self.pending.clear()
        self.on_change()


@contextmanager
def unobserved(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """
    Hide the runner's own statements from the test's observers.

    Stock Django opens its blocks before a test starts; here they may be
    opened inside ``assertNumQueries`` or a test's execute wrapper, which
    must not see them.
    """
    wrappers = connection.execute_wrappers
    logged = len(connection.queries_log)
    connection.execute_wrappers = []
    try:
        yield
    finally:
        connection.execute_wrappers = wrappers
        while len(connection.queries_log) > logged:
            connection.queries_log.pop()
