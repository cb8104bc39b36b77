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
from collections.abc import Callable
from typing import Any, cast

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import SimpleTestCase

from .read_only import ReadOnlyCursor

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

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105 - lets isinstance() see a database wrapper
        return type(object.__getattribute__(self, "_primary"))

    def __getattr__(self, name: str) -> Any:
        primary = object.__getattribute__(self, "_primary")
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

        def cursor(*args: Any, **kwargs: Any) -> Any:
            if on_use is not None:
                on_use(alias)
            taken = method(*args, **kwargs)
            return ReadOnlyCursor(taken, check_statement) if check_statement is not None else taken

        return cursor

    def _is_own(self, name: str) -> bool:
        return name in OWN_ATTRIBUTES or name in object.__getattribute__(self, "_guarded")

    def __setattr__(self, name: str, value: Any) -> None:
        if self._is_own(name):
            object.__setattr__(self, name, value)
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


def set_mirror_statement_check(connection: Any, check_statement: Callable[[Any], None] | None) -> None:
    """Have the mirror ``connection`` (if it is a MirrorConnection) check each statement sent through it."""
    if type(cast(object, connection)) is MirrorConnection:
        object.__setattr__(connection, "_check_statement", check_statement)


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
