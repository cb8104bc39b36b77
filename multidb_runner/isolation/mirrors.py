"""
Make every mirror alias read its primary's test data, inside every test.

Stock Django only copies the primary's ``NAME`` into a mirror
(``set_as_test_mirror``) and keeps a separate connection for it, so inside a
``TestCase`` transaction the mirror cannot see what the test wrote through
the primary (ticket #23718), the replica's read-only credentials are used,
and in-memory SQLite mirrors fail with "database table is locked".

Here a mirror's settings take the primary's full connection settings (for
connections opened in other threads, such as the live server's), and in the
test thread the mirror alias is served by a ``MirrorConnection``: the
primary's own connection under the mirror's alias.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any, cast

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.transaction import TransactionManagementError
from django.test import SimpleTestCase

from ..errors import ReadOnlyMirrorError
from .read_only import DatabaseVerdict, ReadOnlyCursor

#: The settings that say where and as whom to connect.
CONNECTION_SETTINGS = ("NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")

#: Attributes a MirrorConnection always keeps for itself.
OWN_ATTRIBUTES = frozenset({"alias", "settings_dict"})


def guarded_method_names(connection: BaseDatabaseWrapper) -> frozenset[str]:
    """
    Return the connection methods Django's test classes replace to forbid queries.

    Django 6.1 asks the backend's features; 5.2 and 6.0 keep one list on
    SimpleTestCase.
    """
    methods: Any = getattr(connection.features, "disallowed_simple_test_case_connection_methods", None)
    if methods is None:
        methods = getattr(SimpleTestCase, "_disallowed_connection_methods", ())
    return frozenset(name for name, _ in methods)


def primary_of(connection: BaseDatabaseWrapper) -> BaseDatabaseWrapper:
    """Return the connection behind ``connection``: the primary's, for a MirrorConnection."""
    if type(cast(object, connection)) is MirrorConnection:
        return cast(BaseDatabaseWrapper, object.__getattribute__(connection, "_primary"))
    return connection


#: Cursor methods: using one means using the mirror.
CURSOR_METHODS = frozenset({"cursor", "chunked_cursor"})
#: What Django sets on a connection whose atomic block an error broke.
ROLLBACK_MARKS = frozenset({"needs_rollback", "rollback_exc"})


def refusal_in_flight() -> bool:
    """Return True while a ReadOnlyMirrorError is being raised or handled."""
    return isinstance(sys.exc_info()[1], ReadOnlyMirrorError)


class MirrorConnection:
    """
    The primary's connection, seen under a mirror's alias.

    Queries, transactions and savepoints all go to the primary's connection,
    so a read through the mirror sees the test's uncommitted writes. The
    mirror keeps its own ``alias`` and ``settings_dict`` (so Django still
    knows it is a mirror and does not flush it twice) and its own guarded
    methods (so a test that may not use the mirror is still stopped).
    """

    def __init__(self, primary: BaseDatabaseWrapper, alias: str, settings_dict: dict[str, Any]) -> None:
        object.__setattr__(self, "_primary", primary)
        object.__setattr__(self, "_guarded", guarded_method_names(primary))
        object.__setattr__(self, "alias", alias)
        object.__setattr__(self, "settings_dict", settings_dict)
        #: Called with the mirror's alias when a cursor is taken through it (the usage report).
        object.__setattr__(self, "_on_use", None)
        #: Called with each statement sent through a cursor taken through it (read-only mirrors).
        object.__setattr__(self, "_check_statement", None)
        #: Runs each such statement so that the database judges it (read-only mirrors), or None.
        object.__setattr__(self, "_verdict", None)
        #: The rollback marks a refused write set on the mirror's own atomic blocks (see ``mark()``).
        object.__setattr__(self, "_own_marks", {})

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105 - lets isinstance() see a database wrapper
        return type(object.__getattribute__(self, "_primary"))

    def __getattr__(self, name: str) -> Any:
        primary = object.__getattribute__(self, "_primary")
        if name in ROLLBACK_MARKS and self.own_marks().get("needs_rollback"):
            return self.own_marks()[name]
        if name in object.__getattribute__(self, "_guarded"):
            # The primary's guard, if any, speaks for the primary alias only.
            attribute = getattr(type(primary), name).__get__(primary)
        else:
            attribute = getattr(primary, name)
        if name not in CURSOR_METHODS:
            return attribute
        on_use = object.__getattribute__(self, "_on_use")
        check_statement = object.__getattribute__(self, "_check_statement")
        if on_use is None and check_statement is None:
            return attribute
        return self.watched_cursor(attribute, on_use, check_statement)

    def watched_cursor(
        self,
        method: Callable[..., Any],
        on_use: Callable[[str], None] | None,
        check_statement: Callable[[Any], None] | None,
    ) -> Callable[..., Any]:
        """
        Wrap a cursor method of the mirror: calling it counts as using the mirror, and its writes are refused.

        Calling it, not merely looking it up, is what counts.
        """
        alias = object.__getattribute__(self, "alias")
        verdict = object.__getattribute__(self, "_verdict")

        def check(sql: Any) -> None:
            self.validate_no_refused_block()
            if check_statement is not None:
                check_statement(sql)

        def cursor(*args: Any, **kwargs: Any) -> Any:
            if on_use is not None:
                on_use(alias)
            taken = method(*args, **kwargs)
            return ReadOnlyCursor(taken, check, verdict) if check_statement is not None else taken

        return cursor

    # A refused write is the mirror's, as on a replica ----------------------------

    def own_atomic_blocks(self) -> int:
        """Return how many of the open atomic blocks were opened through the mirror (``atomic(using=mirror)``)."""
        alias = object.__getattribute__(self, "alias")
        primary = object.__getattribute__(self, "_primary")
        return sum(1 for block in primary.atomic_blocks if block.using == alias)

    def own_marks(self) -> dict[str, Any]:
        """Return the rollback marks of the mirror's own blocks; none once those blocks are closed."""
        marks: dict[str, Any] = object.__getattribute__(self, "_own_marks")
        if marks and not self.own_atomic_blocks():
            marks.clear()
        return marks

    def mark(self, name: str, value: Any) -> bool:
        """
        Keep a rollback mark that a refused write sets through the mirror off the primary's transaction.

        On a replica the refused write fails in the replica's own
        connection: Django marks the replica's atomic block for rollback, if
        one is open there, and never the primary's. The refusal left the
        shared transaction as it was, so the mark is the mirror's own, kept
        while an atomic block opened through the mirror is open (queries
        through the mirror then fail as on the replica), and dropped where
        the replica would have been in autocommit. Return True if kept here.
        """
        marks = self.own_marks()
        if name == "needs_rollback" and not value:
            marks.clear()
            return False  # And clear the primary's, as Django does on leaving a block.
        if not refusal_in_flight():
            return False
        if self.own_atomic_blocks():
            marks.setdefault("needs_rollback", False)
            marks.setdefault("rollback_exc", None)
            marks[name] = value
        return True

    def get_rollback(self) -> bool:
        """Return True if the mirror's block, or the primary's, must be rolled back (``transaction.get_rollback()``)."""
        primary = object.__getattribute__(self, "_primary")
        return bool(self.own_marks().get("needs_rollback")) or bool(primary.get_rollback())

    def set_rollback(self, rollback: bool) -> None:
        """Mark the primary's transaction for rollback, or clear the mirror's marks and the primary's."""
        if not rollback:
            self.own_marks().clear()
        object.__getattribute__(self, "_primary").set_rollback(rollback)

    def validate_no_refused_block(self) -> None:
        """Refuse queries through the mirror in its atomic block that a refused write broke, as on the replica."""
        marks = self.own_marks()
        if marks.get("needs_rollback"):
            # Adapted from BaseDatabaseWrapper.validate_no_broken_transaction().
            raise TransactionManagementError(
                "An error occurred in the current transaction. You can't "
                "execute queries until the end of the 'atomic' block."
            ) from marks.get("rollback_exc")

    def _is_own(self, name: str) -> bool:
        return name in OWN_ATTRIBUTES or name in object.__getattribute__(self, "_guarded")

    def __setattr__(self, name: str, value: Any) -> None:
        if self._is_own(name):
            object.__setattr__(self, name, value)
        elif name in ROLLBACK_MARKS and self.mark(name, value):
            return
        else:
            setattr(object.__getattribute__(self, "_primary"), name, value)

    def __delattr__(self, name: str) -> None:
        if self._is_own(name):
            object.__delattr__(self, name)
        else:
            delattr(object.__getattribute__(self, "_primary"), name)

    def __repr__(self) -> str:
        primary = object.__getattribute__(self, "_primary")
        return f"<MirrorConnection alias={self.alias!r} of {primary.alias!r}>"


def set_mirror_use_hook(connection: Any, on_use: Callable[[str], None] | None) -> None:
    """Have the mirror ``connection`` (if it is a MirrorConnection) call ``on_use`` when a cursor is taken."""
    if type(cast(object, connection)) is MirrorConnection:
        object.__setattr__(connection, "_on_use", on_use)


def set_mirror_statement_check(
    connection: Any, check_statement: Callable[[Any], None] | None, verdict: DatabaseVerdict | None = None
) -> None:
    """Have the mirror ``connection`` (if it is a MirrorConnection) check each statement sent through it."""
    if type(cast(object, connection)) is MirrorConnection:
        object.__setattr__(connection, "_check_statement", check_statement)
        object.__setattr__(connection, "_verdict", verdict)


class MirrorSharing:
    """Point mirrors at their primaries for the run, and undo it afterwards."""

    def __init__(self) -> None:
        self.saved_settings: dict[str, dict[str, Any]] = {}
        self.saved_connections: dict[str, BaseDatabaseWrapper] = {}

    def point_settings(self, mirror: str, primary: str) -> None:
        """Give ``mirror`` its primary's full connection settings, in place."""
        settings_dict = connections[mirror].settings_dict
        primary_settings = connections[primary].settings_dict
        if mirror not in self.saved_settings:
            self.saved_settings[mirror] = {
                key: settings_dict[key] for key in CONNECTION_SETTINGS if key in settings_dict
            }
        # In place: new threads build connections from this same dict.
        settings_dict.update({key: copy.deepcopy(primary_settings.get(key)) for key in CONNECTION_SETTINGS})

    def share_connection(self, mirror: str, primary: str) -> None:
        """Serve ``mirror`` through the primary's connection in this thread."""
        current = connections[mirror]
        if type(cast(object, current)) is MirrorConnection:
            return
        self.saved_connections[mirror] = current
        current.close()
        connections[mirror] = MirrorConnection(connections[primary], mirror, current.settings_dict)  # type: ignore[assignment]

    def install(self, mirrors: dict[str, str]) -> None:
        """Point every mirror of ``mirrors`` (mirror -> primary) at its primary."""
        for mirror, primary in mirrors.items():
            self.point_settings(mirror, primary)
            self.share_connection(mirror, primary)

    def restore(self) -> None:
        """Give mirrors back their own connections and settings."""
        for mirror, wrapper in self.saved_connections.items():
            connections[mirror] = wrapper
        self.saved_connections.clear()
        for mirror, saved in self.saved_settings.items():
            settings_dict = connections[mirror].settings_dict
            settings_dict.update(saved)
        self.saved_settings.clear()
