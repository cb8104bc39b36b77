"""
Ask a test database what it can write behind the runner's back.

A statement the runner sees writing table ``a`` may make the database write
elsewhere: a trigger or a rule on ``a``, a foreign key from another table
with ``ON DELETE CASCADE`` or ``SET NULL``, a database function called in a
``SELECT``. The selective flush treats a write to such a table (or a call of
such a function) as a write to the whole database. The answers are read
before an alias is first flushed, and again after any schema change.

Writes that one database makes into another (dblink, foreign data
wrappers, federated tables) are out of reach, as they are for stock Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

from .statements import TableName

#: Foreign key actions that make the database write to the referencing table.
WRITING_ACTIONS = ("CASCADE", "SET NULL", "SET DEFAULT")


@dataclass(frozen=True)
class DatabaseFacts:
    """What one test database holds and does, as far as the flush is concerned."""

    vendor: str
    #: Its tables (not views), as the database names them.
    tables: frozenset[str]
    #: Tables whose writes may write elsewhere, and why.
    side_effect_tables: dict[str, str] = field(default_factory=dict)
    #: Lower-cased names of its functions that may write.
    writing_functions: frozenset[str] = frozenset()
    #: The schema (PostgreSQL) or database (MySQL) unqualified names live in.
    schema: str | None = None
    #: Table -> the tables with foreign keys to it.
    referenced_by: dict[str, frozenset[str]] = field(default_factory=dict)
    #: False for backends the runner cannot read: every write is everywhere.
    understood: bool = True

    def resolve(self, name: TableName) -> frozenset[str] | None:
        """
        Return the tables ``name`` may mean here, or None if it is not one of ours.

        PostgreSQL folds unquoted names to lower case; MySQL and SQLite are
        matched without case (every table that matches is returned).
        """
        *qualifiers, table = name.parts
        if len(qualifiers) > 1 or not self.understood:
            return None
        if self.vendor == "postgresql":
            if qualifiers and self.fold(qualifiers[0], name.quoted[0]) != self.schema:
                return None
            table = self.fold(table, name.quoted[-1])
            return frozenset({table}) if table in self.tables else None
        if qualifiers and qualifiers[0].lower() != (self.schema or "").lower():
            return None
        found = frozenset(known for known in self.tables if known.lower() == table.lower())
        return found or None

    def side_effect_of(self, table: str) -> str | None:
        """Return why a write to ``table`` may write elsewhere, or None."""
        if table in self.side_effect_tables:
            return self.side_effect_tables[table]
        if self.vendor != "postgresql":
            for known, why in self.side_effect_tables.items():
                if known.lower() == table.lower():
                    return why
        return None

    def referencing(self, table: str) -> frozenset[str]:
        """Return the tables with a foreign key to ``table``."""
        if self.vendor == "postgresql":
            return self.referenced_by.get(table, frozenset())
        found: set[str] = set()
        for known, tables in self.referenced_by.items():
            if known.lower() == table.lower():
                found.update(tables)
        return frozenset(found)

    @staticmethod
    def fold(part: str, quoted: bool) -> str:
        """Return a PostgreSQL name part as the database stores it."""
        return part if quoted else part.lower()


def read_facts(connection: BaseDatabaseWrapper) -> DatabaseFacts:
    """Ask ``connection``'s database for its tables, triggers, rules, cascades and functions."""
    reader = FACT_READERS.get(connection.vendor)
    with connection.cursor() as cursor:
        tables = frozenset(connection.introspection.table_names(cursor, include_views=False))
        if reader is None:
            return DatabaseFacts(vendor=connection.vendor, tables=tables, understood=False)
        try:
            return reader(cursor, connection.vendor, tables)
        except DatabaseError:
            # No right to read the catalog, say: then every write is everywhere.
            return DatabaseFacts(vendor=connection.vendor, tables=tables, understood=False)


def rows(cursor: Any, sql: str) -> list[str]:
    cursor.execute(sql)
    return [row[0] for row in cursor.fetchall()]


def postgresql_facts(cursor: Any, vendor: str, tables: frozenset[str]) -> DatabaseFacts:
    visible = "pg_catalog.pg_table_is_visible(c.oid)"
    side_effects = {}
    for table in rows(
        cursor,
        f"SELECT c.relname FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.confrelid "
        f"WHERE k.contype = 'f' AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd')) "
        f"AND {visible}",
    ):
        side_effects[table] = "foreign keys that cascade"
    for table in rows(
        cursor,
        "SELECT c.relname FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class "
        f"WHERE r.rulename <> '_RETURN' AND {visible}",
    ):
        side_effects[table] = "rules"
    for table in rows(
        cursor,
        "SELECT c.relname FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
        f"WHERE NOT t.tgisinternal AND {visible}",
    ):
        side_effects[table] = "triggers"
    functions = rows(
        cursor,
        "SELECT DISTINCT lower(p.proname) FROM pg_catalog.pg_proc p "
        "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.provolatile = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_%'",
    )
    schema = rows(cursor, "SELECT current_schema()")[0]
    cursor.execute(
        "SELECT p.relname, c.relname FROM pg_catalog.pg_constraint k "
        "JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_class p ON p.oid = k.confrelid "
        f"WHERE k.contype = 'f' AND {visible}"
    )
    references = referencing_map(cursor.fetchall())
    return DatabaseFacts(vendor, tables, side_effects, frozenset(functions), schema, references)


def mysql_facts(cursor: Any, vendor: str, tables: frozenset[str]) -> DatabaseFacts:
    side_effects = {}
    actions = ", ".join(f"'{action}'" for action in WRITING_ACTIONS)
    for table in rows(
        cursor,
        "SELECT REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
        f"WHERE CONSTRAINT_SCHEMA = DATABASE() AND (DELETE_RULE IN ({actions}) OR UPDATE_RULE IN ({actions}))",
    ):
        side_effects[table] = "foreign keys that cascade"
    for table in rows(
        cursor, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE()"
    ):
        side_effects[table] = "triggers"
    functions = rows(
        cursor,
        "SELECT LOWER(ROUTINE_NAME) FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'FUNCTION'",
    )
    schema = rows(cursor, "SELECT DATABASE()")[0]
    cursor.execute(
        "SELECT REFERENCED_TABLE_NAME, TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = DATABASE()"
    )
    references = referencing_map(cursor.fetchall())
    return DatabaseFacts(vendor, tables, side_effects, frozenset(functions), schema, references)


def sqlite_facts(cursor: Any, vendor: str, tables: frozenset[str]) -> DatabaseFacts:
    side_effects = {}
    pairs = []
    for table in sorted(tables):
        cursor.execute(f"PRAGMA foreign_key_list({quote_sqlite(table)})")
        for row in cursor.fetchall():
            # (id, seq, table, from, to, on_update, on_delete, match)
            pairs.append((row[2], table))
            if str(row[5]).upper() in WRITING_ACTIONS or str(row[6]).upper() in WRITING_ACTIONS:
                side_effects[row[2]] = "foreign keys that cascade"
    for table in rows(cursor, "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'"):
        side_effects[table] = "triggers"
    for table in rows(cursor, "SELECT tbl_name FROM sqlite_temp_master WHERE type = 'trigger'"):
        side_effects[table] = "triggers"
    # sqlite_sequence is written by sequence resets; it is no table of Django's.
    return DatabaseFacts(
        vendor, tables | {"sqlite_sequence"}, side_effects, frozenset(), "main", referencing_map(pairs)
    )


def referencing_map(pairs: Any) -> dict[str, frozenset[str]]:
    """Turn (referenced table, referencing table) pairs into referenced -> referencing tables."""
    found: dict[str, set[str]] = {}
    for referenced, table in pairs:
        found.setdefault(str(referenced), set()).add(str(table))
    return {referenced: frozenset(tables) for referenced, tables in found.items()}


def quote_sqlite(name: str) -> str:
    escaped = name.replace('"', '""')
    return f'"{escaped}"'


FACT_READERS = {"postgresql": postgresql_facts, "mysql": mysql_facts, "sqlite": sqlite_facts}
