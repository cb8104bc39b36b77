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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import TestCase

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
    """Replace ``TestCase``'s atomic blocks by lazy ones, for the run."""

    def __init__(self, tracker: WriteTracker) -> None:
        self.tracker = tracker
        #: Open scopes, outermost (the class) first.
        self.scopes: list[LazyAtomics] = []
        #: The aliases pending in any open scope (checked at every first-use point).
        self.pending: set[str] = set()
        self.activating = False
        self.originals: dict[str, Any] = {}
        #: The connections' first-use hooks, and whether they are in place.
        self.hooks: dict[str, Any] = {}
        self.hooked = False

    # Scopes ----------------------------------------------------------------------

    def open(self, aliases: Iterable[str]) -> LazyAtomics:
        """Open a scope over ``aliases``; nothing is entered yet."""
        scope = LazyAtomics(aliases)
        self.scopes.append(scope)
        self.pending.update(scope.pending)
        self.hook(bool(self.pending))
        return scope

    def update_pending(self) -> None:
        self.pending = {alias for scope in self.scopes for alias in scope.pending}
        self.hook(bool(self.pending))

    def activate(self, connection: BaseDatabaseWrapper) -> None:
        """Enter the pending blocks of ``connection``'s alias, outermost scope first."""
        alias = connection.alias
        if self.activating or alias not in self.pending:
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

    # Installing ------------------------------------------------------------------

    def install(self) -> None:
        """Patch ``TestCase`` and the connections' first-use points."""
        if self.originals:
            return
        lazy = self
        self.originals = {
            "_enter_atomics": TestCase.__dict__["_enter_atomics"],
            "_rollback_atomics": TestCase.__dict__["_rollback_atomics"],
            "_fixture_teardown": TestCase.__dict__["_fixture_teardown"],
            "ensure_connection": BaseDatabaseWrapper.__dict__["ensure_connection"],
            "in_atomic_block": BaseDatabaseWrapper.__dict__.get("in_atomic_block"),
        }
        enter_atomics = self.originals["_enter_atomics"].__func__
        rollback_atomics = self.originals["_rollback_atomics"].__func__
        fixture_teardown = self.originals["_fixture_teardown"]
        ensure_connection = self.originals["ensure_connection"]

        def _enter_atomics(cls: Any) -> Any:
            aliases = cls._databases_names()
            if len(aliases) < 2:
                # One database: it is used, or nothing is; stock Django's way is cheaper.
                return enter_atomics(cls)
            return lazy.open(aliases)

        def _rollback_atomics(cls: Any, atomics: Any) -> None:
            if isinstance(atomics, LazyAtomics):
                lazy.close(atomics)
            else:
                rollback_atomics(cls, atomics)

        def _fixture_teardown(test: Any) -> None:
            # Adapted from TestCase._fixture_teardown: constraints are checked
            # where a transaction is open, the only places with deferred ones.
            atomics = getattr(test, "atomics", None)
            if not isinstance(atomics, LazyAtomics) or not test._databases_support_transactions():
                return fixture_teardown(test)  # type: ignore[no-any-return]
            try:
                for alias in reversed(lazy.entered_aliases()):
                    connection = connections[alias]
                    if test._should_check_constraints(connection):
                        connection.check_constraints()
            finally:
                test._rollback_atomics(atomics)

        def ensure_connection_on_first_use(connection: BaseDatabaseWrapper) -> None:
            if lazy.pending:
                lazy.activate(connection)
            ensure_connection(connection)

        def in_atomic_block(connection: BaseDatabaseWrapper) -> bool:
            if lazy.pending:
                lazy.activate(connection)
            return connection.__dict__.get("in_atomic_block", False)  # type: ignore[no-any-return]

        def set_in_atomic_block(connection: BaseDatabaseWrapper, value: bool) -> None:
            connection.__dict__["in_atomic_block"] = value

        setattr(TestCase, "_enter_atomics", classmethod(_enter_atomics))  # noqa: B010
        setattr(TestCase, "_rollback_atomics", classmethod(_rollback_atomics))  # noqa: B010
        setattr(TestCase, "_fixture_teardown", _fixture_teardown)  # noqa: B010
        # Put on the connections only while some alias is pending.
        self.hooks = {
            "ensure_connection": ensure_connection_on_first_use,
            "in_atomic_block": property(in_atomic_block, set_in_atomic_block),
        }

    def hook(self, on: bool) -> None:
        """Watch (or stop watching) the connections' first-use points."""
        if on == self.hooked or not self.hooks:
            return
        for name, value in self.hooks.items():
            original = self.originals[name]
            if on:
                setattr(BaseDatabaseWrapper, name, value)
            elif original is None:
                delattr(BaseDatabaseWrapper, name)
            else:
                setattr(BaseDatabaseWrapper, name, original)
        self.hooked = on

    def restore(self) -> None:
        """Put ``TestCase`` and the connections back as they were."""
        if not self.originals:
            return
        self.hook(False)
        for name in ("_enter_atomics", "_rollback_atomics", "_fixture_teardown"):
            setattr(TestCase, name, self.originals[name])
        self.originals = {}
        self.hooks = {}
        self.scopes.clear()
        self.pending.clear()


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
