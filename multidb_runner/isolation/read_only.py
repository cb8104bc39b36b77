"""
Mirrors are read-only, as the replicas they stand for.

A ``TEST['MIRROR']`` alias stands for a read replica: in production a
write through it fails (a PostgreSQL hot standby answers "cannot execute
INSERT in a read-only transaction", a MySQL replica runs ``read_only``).
In tests a mirror shares its primary's connection, so the write would
silently land in the primary and the code would pass its tests. Here a
statement sent through a mirror that a read-only replica would refuse
raises ``ReadOnlyMirrorError`` before anything reaches the database.

Only what is certainly a write is refused: INSERT, UPDATE, DELETE, MERGE,
REPLACE, TRUNCATE, a data-modifying WITH, COPY into a table, DDL, and a
call of a function the database says writes. A statement the runner cannot
read is let through: a false alarm on a read would be worse than a missed
write. Django's own statements on the mirror's connection (savepoints,
``SET``, introspection) go through the primary's connection object and are
never checked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import lru_cache
from typing import Any

from django.db import DatabaseError

from .statements import SCHEMA_HEADS, UnreadableStatement, classify, split_statements, statement_effect, tokenize

#: Statements a read-only replica refuses, by their first keyword.
WRITE_HEADS = frozenset({"insert", "update", "delete", "merge", "replace", "truncate", "upsert"})
#: Driver cursor methods that send SQL past ``execute``: the position of their SQL argument, or
#: None when calling them writes whatever the argument (psycopg 2's ``copy_from``).
DRIVER_METHODS: dict[str, int | None] = {"copy": 0, "copy_expert": 0, "executescript": 0, "copy_from": None}


class ReadOnlyMirrorError(DatabaseError):
    """A write was sent through a mirror: a read replica would refuse it."""


def refused_write(sql: Any, vendor: str, writing_functions: Collection[str] = ()) -> str | None:
    """
    Return what makes ``sql`` a write a read-only replica refuses, or None.

    None for reads and for anything that cannot be read with certainty.
    ``writing_functions`` are the lower-cased names of the functions the
    database says may write (empty when not known yet).
    """
    if not isinstance(sql, str):
        return None
    refusal = statement_refusal(sql, vendor)
    if refusal is not None:
        return refusal
    if writing_functions:
        written = sorted(classify(sql, vendor).calls & set(writing_functions))
        if written:
            return f"a call of {written[0]}() (a function that may write)"
    return None


@lru_cache(maxsize=8192)
def statement_refusal(sql: str, vendor: str) -> str | None:
    """
    Return what makes ``sql`` itself a write a replica refuses, or None (cached).

    Every statement sent through a mirror is checked, reads included: the
    same SQL is read once per process.
    """
    try:
        tokens = tokenize(sql, vendor)
    except UnreadableStatement:
        return None
    for statement in split_statements(tokens):
        head = next((token.word for token in statement if not (token.kind == "symbol" and token.text == "(")), "")
        if head in WRITE_HEADS or head in SCHEMA_HEADS:
            return f"a{'n' if head[0] in 'aeiou' else ''} {head.upper()} statement"
        if head in ("with", "copy"):
            effect = statement_effect(statement)
            if effect.tables and effect.whole is None:
                return "a data-modifying WITH statement" if head == "with" else "a COPY into a table"
    return None


class MirrorGuard:
    """The check of one run: which mirrors are read-only, and how a refusal reads."""

    def __init__(
        self, mirrors: dict[str, str], read_only: Collection[str], writing_functions: Callable[[str], Collection[str]]
    ) -> None:
        #: mirror -> the primary it finally reads from.
        self.mirrors = mirrors
        self.read_only = frozenset(read_only)
        #: primary alias -> the functions its database says may write (empty if not known yet).
        self.writing_functions = writing_functions

    def check(self, mirror: str, vendor: str, sql: Any) -> None:
        """Raise ReadOnlyMirrorError if ``sql``, sent through ``mirror``, is a write."""
        if mirror not in self.read_only:
            return
        primary = self.mirrors.get(mirror, mirror)
        what = refused_write(sql, vendor, self.writing_functions(primary))
        if what is not None:
            raise ReadOnlyMirrorError(
                f"Refusing {what} sent through {mirror!r}, a read replica in production "
                f"(DATABASES[{mirror!r}]['TEST']['MIRROR'] reads {primary!r}): the replica would refuse it. "
                f"Write through {primary!r} (using({primary!r}), or a router's db_for_write). If "
                f"{mirror!r} is writable in production, set DATABASES[{mirror!r}]['TEST']['READ_ONLY'] = "
                "False; to turn the check off for a run, use --no-read-only-mirrors "
                "(or MULTIDB_RUNNER['READ_ONLY_MIRRORS'] = False)."
            )


class ReadOnlyCursor:
    """A cursor taken through a mirror: writes are refused, everything else is the primary's cursor."""

    def __init__(self, cursor: Any, check: Callable[[Any], None]) -> None:
        self._cursor = cursor
        self._check = check

    def execute(self, sql: Any, params: Any = None) -> Any:
        self._check(sql)
        return self._cursor.execute(sql, params)

    def executemany(self, sql: Any, param_list: Any) -> Any:
        self._check(sql)
        return self._cursor.executemany(sql, param_list)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cursor, name)
        if name not in DRIVER_METHODS:
            return attribute
        position = DRIVER_METHODS[name]
        check = self._check

        def checked(*args: Any, **kwargs: Any) -> Any:
            if position is None:
                check("COPY written_table FROM STDIN")
            elif len(args) > position:
                check(args[position])
            return attribute(*args, **kwargs)

        return checked

    def __enter__(self) -> ReadOnlyCursor:
        self._cursor.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return self._cursor.__exit__(*exc_info)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)
