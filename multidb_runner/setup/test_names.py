"""
Test database names (and their clones') and the database plan, read from the connections.

The plan itself is pure logic (``planning.plan``); this gathers what it
needs from each connection, and gives every test database its final name
(the run's suffix token added, fitting the backend) for the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections

from ..planning.plan import IN_MEMORY, AliasSettings, DatabasePlan, build_plan
from ..planning.suffixes import suffixed_test_name
from .catalog import is_in_memory_name


def test_database_name(alias: str) -> str:
    """Return the name Django gives ``alias``'s test database (TEST['NAME'] or a default)."""
    name: str = os.fspath(connections[alias].creation._get_test_db_name())  # type: ignore[attr-defined]
    return name


def clone_name(vendor: str, test_name: str, number: int) -> str | None:
    """
    Return the name Django gives worker ``number``'s clone of ``test_name``.

    As the backends' ``get_test_db_clone_settings()`` do: ``<name>_<n>``,
    before the extension for SQLite files; None for in-memory SQLite.
    """
    if vendor == "sqlite":
        if is_in_memory_name(test_name):
            return None
        root, ext = os.path.splitext(test_name)
        return f"{root}_{number}{ext}"
    return f"{test_name}_{number}"


def display_name(alias: str) -> str:
    """Return the test database name of ``alias`` as users know it."""
    connection = connections[alias]
    name = test_database_name(alias)
    if connection.vendor == "sqlite" and connection.creation.is_in_memory_db(name):  # type: ignore[attr-defined]
        return IN_MEMORY
    return str(name)


def plan_test_databases(aliases: Sequence[str], mirrors: Mapping[str, str], *, keepdb: bool) -> DatabasePlan:
    """Plan which test database each of ``aliases`` gets."""
    settings = [
        AliasSettings(
            alias=alias,
            signature=connections[alias].creation.test_db_signature(),
            test_name=display_name(alias),
            dependencies=tuple(connections[alias].settings_dict["TEST"]["DEPENDENCIES"])
            if "DEPENDENCIES" in connections[alias].settings_dict["TEST"]
            else None,
        )
        for alias in connections
    ]
    return build_plan(settings, aliases, dict(mirrors), keepdb=keepdb)


def name_test_databases(mirrors: Mapping[str, str], db_suffix: str | None) -> dict[str, Any]:
    """
    Give every test database its final name: with the suffix token, fitting the backend.

    Stored as ``TEST['NAME']`` for the run (so clones, workers and teardown
    all follow). Return the ``TEST['NAME']`` values replaced, for
    ``restore_test_names()``.
    """
    saved: dict[str, Any] = {}
    for alias in connections:
        if alias in mirrors:
            continue
        connection = connections[alias]
        test_name = test_database_name(alias)
        name = suffixed_test_name(connection.vendor, test_name, db_suffix)
        if name != test_name:
            test_settings = connection.settings_dict["TEST"]
            saved.setdefault(alias, test_settings.get("NAME"))
            test_settings["NAME"] = name
    return saved


def restore_test_names(saved: dict[str, Any]) -> None:
    """Give back the ``TEST['NAME']`` values ``name_test_databases()`` replaced."""
    for alias, name in saved.items():
        connections[alias].settings_dict["TEST"]["NAME"] = name
    saved.clear()


class NamesPointedAhead:
    """
    Name the test database in the settings of aliases whose database is set up on first use, from the start.

    Stock Django points every alias the tests may use at its test database
    before the first test. Code that connects from the settings on its own
    (``psql`` or ``pg_dump`` in a subprocess, ``dbshell``, an SQLAlchemy
    engine, a raw driver connection) must never reach the real database
    because a database is set up later: it reaches the test database, or
    gets an error while that does not exist yet. Through Django's
    connections, the first use sets the database up.

    Before the set-up itself the real names are given back
    (``withdraw()``), so that Django creates the test database as it would
    before the tests, and points the aliases at it again.
    """

    def __init__(self) -> None:
        #: alias -> (its settings dict, NAME, TEST['NAME'], settings.DATABASES NAME) before pointing.
        self.saved: dict[str, tuple[dict[str, Any], Any, Any, Any]] = {}
        #: first alias -> its test database's name, read once from the real settings.
        self.test_names: dict[str, str] = {}

    def point(self, aliases: Sequence[str]) -> None:
        """
        Point ``aliases`` (a database's first alias, then those sharing it) at its test database.

        As ``create_test_db()`` and ``set_as_test_mirror()`` do: the first
        alias's NAME (in its settings and ``settings.DATABASES``), and the
        sharing aliases take the first alias's settings. ``TEST['NAME']``
        is pinned, so that the test name reads the same whatever NAME says.
        An alias Django already points at the test database (a set-up that
        failed half-way) is left as it is: the teardown gives it back.
        """
        from django.conf import settings

        first = connections[aliases[0]]
        if first.alias not in self.test_names:
            self.test_names[first.alias] = test_database_name(first.alias)
        test_name = self.test_names[first.alias]
        pointing = [
            alias
            for alias in aliases
            if alias not in self.saved and os.fspath(connections[alias].settings_dict["NAME"] or "") != test_name
        ]
        for alias in pointing:
            connection = connections[alias]
            self.saved[alias] = (
                connection.settings_dict,
                connection.settings_dict["NAME"],
                connection.settings_dict["TEST"].get("NAME"),
                settings.DATABASES[alias].get("NAME") if alias in settings.DATABASES else None,
            )
        if first.alias in pointing:
            first.settings_dict["TEST"]["NAME"] = test_name
            first.settings_dict["NAME"] = test_name
            if first.alias in settings.DATABASES:
                settings.DATABASES[first.alias]["NAME"] = test_name
        for alias in pointing:
            if alias != first.alias:
                connections[alias].creation.set_as_test_mirror(first.settings_dict)

    def withdraw(self, aliases: Sequence[str]) -> None:
        """Give ``aliases`` their real settings back (before their set-up, or at the end of the run)."""
        from django.conf import settings

        for alias in aliases:
            if alias not in self.saved:
                continue
            settings_dict, name, test_name, settings_name = self.saved.pop(alias)
            connection = connections[alias]
            connection.close()
            connection.settings_dict = settings_dict
            settings_dict["NAME"] = name
            # Django's connection handler gives every TEST a NAME (None by default).
            settings_dict["TEST"]["NAME"] = test_name
            if alias in settings.DATABASES:
                settings.DATABASES[alias]["NAME"] = settings_name

    def restore(self) -> None:
        """Give every alias still pointed ahead its real settings back."""
        self.withdraw(list(self.saved))
