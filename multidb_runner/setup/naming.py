"""
Test database names and the database plan, read from the connections.

The plan itself is pure logic (``planning.plan``); this gathers what it
needs from each connection, and gives every test database its final name
(the run's suffix token added, fitting the backend) for the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections

from ..planning.names import suffixed_test_name
from ..planning.plan import IN_MEMORY, AliasSettings, DatabasePlan, build_plan
from .databases import test_database_name


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
