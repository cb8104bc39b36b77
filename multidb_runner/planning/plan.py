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
REBUILT = "kept (--keepdb), {}"
CREATED_ON_FIRST_USE = "created on first use"
COPIED = "created as a copy of {}"
COPIED_ON_FIRST_USE = "created on first use, as a copy of {}"
KEPT_ON_FIRST_USE = "kept (--keepdb), set up on first use"
SHARED = "same database as {}"
MIRROR = "mirror of {}"
UNUSED = "not used"
#: What became of a database whose set-up on first use did not complete.
FIRST_USE_FAILED = "set-up on first use failed"
FIRST_USE_INTERRUPTED = "set-up on first use interrupted"
SERVER_UNREACHABLE = "not set up: cannot connect"
#: The test database name shown for in-memory SQLite (nothing of it can be kept).
IN_MEMORY = "(in memory)"


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
    databases are set up. ``on_first_use`` are the first aliases of the
    databases left to be set up when a test first uses them, and
    ``set_up_on_first_use`` those of them that were; ``first_use_failures``
    says, by first alias, what became of those whose set-up did not
    complete (or never started: ``SERVER_UNREACHABLE``); ``copied_from``,
    which were made as copies of a test database of the same schema.
    """

    aliases: list[str]
    creations: list[tuple[str, list[str]]]
    mirrors: dict[str, str]
    test_names: dict[str, str]
    keepdb: bool = False
    legacy_tables: dict[str, list[str]] = field(default_factory=dict)
    on_first_use: set[str] = field(default_factory=set)
    set_up_on_first_use: set[str] = field(default_factory=set)
    first_use_failures: dict[str, str] = field(default_factory=dict)
    #: First alias -> the first alias of the same-schema test database it was copied from.
    copied_from: dict[str, str] = field(default_factory=dict)
    #: First alias -> what was done to its test database: kept ones (``--keepdb``) "rebuilt" or
    #: "restored", others "from its snapshot".
    rebuilt: dict[str, str] = field(default_factory=dict)

    @property
    def primaries(self) -> list[str]:
        """Return the first alias of every database that is created."""
        return [first for first, _ in self.creations]

    @property
    def used_aliases(self) -> set[str]:
        """Return every alias tests may use: created, shared and mirrors."""
        used = {alias for _, aliases in self.creations for alias in aliases}
        return used | set(self.mirrors)

    @property
    def eager_creations(self) -> list[tuple[str, list[str]]]:
        """Return the creations made before the first test."""
        return [(first, aliases) for first, aliases in self.creations if first not in self.on_first_use]

    def aliases_of(self, first: str) -> list[str]:
        """Return every alias that reads ``first``'s test database: sharing aliases and mirrors."""
        sharing = dict(self.creations)[first]
        return [*sharing, *(mirror for mirror, primary in self.mirrors.items() if primary in sharing)]

    def role(self, alias: str) -> str:
        """Describe what the run did (or does) with ``alias``."""
        first = self.database_of(alias)
        if first is not None and first in self.first_use_failures:
            # Said of its mirrors and sharing aliases too: none of them got a database.
            return self.first_use_failures[first]
        if first is None or (first in self.on_first_use and first not in self.set_up_on_first_use):
            return UNUSED
        if alias in self.mirrors:
            return MIRROR.format(self.mirrors[alias])
        if alias != first:
            return SHARED.format(first)
        kept = self.keepdb and self.test_names[first] != IN_MEMORY
        if first in self.copied_from:
            source = self.copied_from[first]
            return (COPIED_ON_FIRST_USE if first in self.on_first_use else COPIED).format(source)
        if kept and first in self.rebuilt:
            return REBUILT.format(self.rebuilt[first]) + (", on first use" if first in self.on_first_use else "")
        if first in self.rebuilt:
            return (CREATED_ON_FIRST_USE if first in self.on_first_use else CREATED) + ", " + self.rebuilt[first]
        if first in self.on_first_use:
            return KEPT_ON_FIRST_USE if kept else CREATED_ON_FIRST_USE
        return KEPT if kept else CREATED

    def differs_from_stock(self, *, db_suffix: str | None) -> bool:
        """
        Return whether stock Django would set up anything differently.

        One database, no mirror, no legacy table, no suffix: nothing to tell
        the user that Django's own lines do not.
        """
        return len(self.aliases) > 1 or bool(self.mirrors) or bool(self.legacy_tables) or db_suffix is not None

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
            role = self.role(alias)
            name = self.test_names[database] if database and role not in (UNUSED, SERVER_UNREACHABLE) else "-"
            tables = self.legacy_tables.get(alias, []) if alias == database else []
            rows.append((alias, name, role, ", ".join(tables) or "-"))
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
