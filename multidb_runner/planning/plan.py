"""
The database plan: which test database each alias gets, and in what order.

Pure logic over plain data, adapted from
``django.test.utils.get_unique_databases_and_mirrors`` with mirrors resolved
to their final primary and dependencies on databases that are not set up
ignored.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS
from django.test.utils import dependency_ordered

from ..errors import ConfigurationError

CREATED = "created"
KEPT = "kept (--keepdb)"
SHARED = "same database as {}"
MIRROR = "mirror of {}"
UNUSED = "not used"


@dataclass(frozen=True)
class AliasSettings:
    """What the plan needs to know of one configured alias."""

    alias: str
    signature: Hashable
    test_name: str
    dependencies: tuple[str, ...] | None = None


@dataclass
class DatabasePlan:
    """
    The outcome of planning, in settings order.

    ``creations`` lists, in dependency order, each test database to create
    as ``(first_alias, [every alias that shares it])``. ``mirrors`` maps each
    used mirror to its final primary. ``legacy_tables`` is filled in while the
    databases are set up.
    """

    aliases: list[str]
    creations: list[tuple[str, list[str]]]
    mirrors: dict[str, str]
    test_names: dict[str, str]
    keepdb: bool = False
    legacy_tables: dict[str, list[str]] = field(default_factory=dict)

    @property
    def primaries(self) -> list[str]:
        """Return the first alias of every database that is created."""
        return [first for first, _ in self.creations]

    @property
    def used_aliases(self) -> set[str]:
        """Return every alias tests may use: created, shared and mirrors."""
        used = {alias for _, aliases in self.creations for alias in aliases}
        return used | set(self.mirrors)

    def role(self, alias: str) -> str:
        """Describe what the run does with ``alias``."""
        if alias in self.mirrors:
            return MIRROR.format(self.mirrors[alias])
        for first, aliases in self.creations:
            if alias == first:
                return KEPT if self.keepdb else CREATED
            if alias in aliases:
                return SHARED.format(first)
        return UNUSED

    def database_of(self, alias: str) -> str | None:
        """Return the alias whose test database ``alias`` reads, or None if unused."""
        alias = self.mirrors.get(alias, alias)
        for first, aliases in self.creations:
            if alias in aliases:
                return first
        return None

    def rows(self) -> list[tuple[str, str, str, str]]:
        """Return (alias, test database, role, legacy tables present) for each alias."""
        rows = []
        for alias in self.aliases:
            database = self.database_of(alias)
            name = self.test_names[database] if database else "-"
            tables = self.legacy_tables.get(alias, []) if alias == database else []
            rows.append((alias, name, self.role(alias), ", ".join(tables) or "-"))
        return rows

    def format(self) -> str:
        """Render the plan as a small text table."""
        header = ("Alias", "Test database", "Role", "Legacy tables")
        rows = [header, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)


def build_plan(
    settings: Iterable[AliasSettings],
    used: Iterable[str],
    mirrors: Mapping[str, str],
    *,
    keepdb: bool = False,
) -> DatabasePlan:
    """
    Plan the test databases for the aliases in ``used``.

    ``mirrors`` is the output of ``resolve_mirrors``. A used mirror makes its
    primary used too. Aliases whose test databases have the same signature
    share one database, created once through the first of them (``default``
    first, because data migrations use it).
    """
    by_alias = {item.alias: item for item in settings}
    used = {alias for alias in used if alias in by_alias}
    used |= {mirrors[alias] for alias in used if alias in mirrors}
    used_mirrors = {alias: mirrors[alias] for alias in by_alias if alias in used and alias in mirrors}

    groups: dict[Hashable, tuple[str, list[str]]] = {}
    for alias, item in by_alias.items():
        if alias in used_mirrors or alias not in used:
            continue
        _, members = groups.setdefault(item.signature, (item.test_name, []))
        if alias == DEFAULT_DB_ALIAS:
            members.insert(0, alias)
        else:
            members.append(alias)

    created = {alias for _, members in groups.values() for alias in members}
    default_signature = by_alias[DEFAULT_DB_ALIAS].signature if DEFAULT_DB_ALIAS in by_alias else None
    dependencies: dict[str, list[str]] = {}
    for alias in created:
        item = by_alias[alias]
        if item.dependencies is not None:
            wanted = list(item.dependencies)
        elif alias != DEFAULT_DB_ALIAS and item.signature != default_signature:
            wanted = [DEFAULT_DB_ALIAS]
        else:
            wanted = []
        # A dependency on a database that is not set up in this run is moot.
        dependencies[alias] = [dep for dep in wanted if dep in created]
    try:
        ordered = dependency_ordered(list(groups.items()), dependencies)  # type: ignore[arg-type]
    except ImproperlyConfigured as exc:
        raise ConfigurationError(f"TEST['DEPENDENCIES'] cannot be satisfied: {exc}") from None

    creations = [(members[0], members) for _, (_, members) in ordered]
    test_names = {alias: item.test_name for alias, item in by_alias.items()}
    return DatabasePlan(
        aliases=list(by_alias),
        creations=creations,
        mirrors=used_mirrors,
        test_names=test_names,
        keepdb=keepdb,
    )
