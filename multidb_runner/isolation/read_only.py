"""
Mirrors are read-only, as the replicas they stand for.

A ``TEST['MIRROR']`` alias stands for a read replica: in production a
write through it fails (a PostgreSQL hot standby answers "cannot execute
INSERT in a read-only transaction", a MySQL replica runs ``read_only``).
In tests a mirror shares its primary's connection, so the write would
silently land in the primary and the code would pass its tests. Here a
statement sent through a mirror that a read-only replica would refuse
raises ``ReadOnlyMirrorError`` before anything reaches the database.

What the text shows to be a write is refused by the parser: INSERT,
UPDATE, DELETE, MERGE, REPLACE, TRUNCATE, a data-modifying WITH, COPY into
a table, DDL, row locks (``FOR UPDATE``), ``nextval()``, a MySQL executable
comment that holds any of these, and a call of a function the database says
writes. The rest is the database's to judge where it can
(``server_verdict.py``): on PostgreSQL the statement runs in a read-only
subtransaction, so whatever a replica's read-only transaction refuses is
refused; on MySQL and MariaDB a CALL is judged by the procedure's body. A
statement neither can read is let through: a false alarm on a read would be
worse than a missed write. Django's own statements on the mirror's
connection (savepoints, ``SET``, introspection) go through the primary's
connection object and are never checked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import lru_cache, partial
from typing import Any

# Defined with the other errors users see; importable from here as before.
from ..errors import ReadOnlyMirrorError as ReadOnlyMirrorError
from .statements import (
    SCHEMA_HEADS,
    Token,
    UnreadableStatement,
    classify,
    split_statements,
    statement_effect,
    tokenize,
)

#: Statements a read-only replica refuses, by their first keyword.
WRITE_HEADS = frozenset({"insert", "update", "delete", "merge", "replace", "truncate", "upsert"})
#: Row-locking clauses a read-only transaction refuses, per vendor (MariaDB allows LOCK IN SHARE MODE).
LOCKING_CLAUSES = {
    "postgresql": (("for", "update"), ("for", "no", "key", "update"), ("for", "share"), ("for", "key", "share")),
    "mysql": (("for", "update"),),
}
#: Functions that write a sequence: PostgreSQL and MariaDB refuse them in a read-only transaction.
SEQUENCE_WRITES = frozenset({"nextval", "setval"})
#: Statements that explain another; MariaDB refuses them when the explained statement writes.
EXPLAIN_HEADS = frozenset({"explain", "describe", "desc", "analyze"})
#: Driver cursor methods that send SQL past ``execute``: the position of their SQL argument, or
#: None when calling them writes whatever the argument (psycopg 2's ``copy_from``).
DRIVER_METHODS: dict[str, int | None] = {"copy": 0, "copy_expert": 0, "executescript": 0, "copy_from": None}


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
    same SQL is read once per process. The text of MySQL's executable
    comments is read as the server runs it.
    """
    try:
        tokens = tokenize(sql, vendor, executable_comments=True)
    except UnreadableStatement:
        return None
    for statement in split_statements(tokens):
        head = statement_head(statement)
        if head in WRITE_HEADS or head in SCHEMA_HEADS:
            return f"{article(head.upper())} statement"
        if head in ("with", "copy"):
            effect = statement_effect(statement)
            if effect.tables and effect.whole is None:
                return "a data-modifying WITH statement" if head == "with" else "a COPY into a table"
        if head in EXPLAIN_HEADS and vendor == "mysql":
            explained = next((token.word for token in statement[1:] if token.word in WRITE_HEADS), None)
            if explained is not None:
                return f"an {head.upper()} of {article(explained.upper())} statement"
        refusal = clause_refusal(statement, vendor)
        if refusal is not None:
            return refusal
    return None


def statement_head(statement: list[Token]) -> str:
    """Return the first keyword of one statement, past opening parentheses."""
    return next((token.word for token in statement if not (token.kind == "symbol" and token.text == "(")), "")


def article(word: str) -> str:
    """Return ``word`` with "a" or "an" before it."""
    return f"a{'n' if word[0].lower() in 'aeiou' else ''} {word}"


def clause_refusal(statement: list[Token], vendor: str) -> str | None:
    """Return the row lock or sequence write anywhere in one statement, or None."""
    words = [token.word for token in statement]
    for index, word in enumerate(words):
        if word == "for":
            for clause in LOCKING_CLAUSES.get(vendor, ()):
                if tuple(words[index : index + len(clause)]) == clause:
                    return f"a SELECT ... {' '.join(clause).upper()}"
        elif word in SEQUENCE_WRITES and vendor != "sqlite":
            following = statement[index + 1] if index + 1 < len(statement) else None
            if following is not None and following.text == "(":
                return f"a call of {word}()"
        elif word == "next" and vendor == "mysql" and words[index + 1 : index + 3] == ["value", "for"]:
            return "a NEXT VALUE FOR a sequence"
    return None


#: Runs one statement (the third argument runs it on the cursor) so that the
#: database judges it: (Django cursor, SQL, run) -> what running it returned.
DatabaseVerdict = Callable[[Any, Any, Callable[[], Any]], Any]


class MirrorGuard:
    """The check of one run: which mirrors are read-only, and how a refusal reads."""

    def __init__(
        self,
        mirrors: dict[str, str],
        read_only: Collection[str],
        writing_functions: Callable[[str], Collection[str]],
        verdict_for: Callable[[str, Callable[[str], Exception]], DatabaseVerdict | None] | None = None,
    ) -> None:
        #: mirror -> the primary it finally reads from.
        self.mirrors = mirrors
        self.read_only = frozenset(read_only)
        #: primary alias -> the functions its database says may write (empty if not known yet).
        self.writing_functions = writing_functions
        #: (vendor, how to refuse) -> how that vendor's database judges a statement (``server_verdict.py``).
        self.verdict_for = verdict_for
        self.verdicts: dict[tuple[str, str], DatabaseVerdict | None] = {}

    def verdict(self, mirror: str, vendor: str) -> DatabaseVerdict | None:
        """Return how the database judges statements sent through ``mirror`` (None: the parser alone)."""
        if mirror not in self.read_only or self.verdict_for is None:
            return None
        key = (mirror, vendor)
        if key not in self.verdicts:
            self.verdicts[key] = self.verdict_for(vendor, partial(self.refusal, mirror))
        return self.verdicts[key]

    def check(self, mirror: str, vendor: str, sql: Any) -> None:
        """Raise ReadOnlyMirrorError if ``sql``, sent through ``mirror``, is a write."""
        if mirror not in self.read_only:
            return
        primary = self.mirrors.get(mirror, mirror)
        what = refused_write(sql, vendor, self.writing_functions(primary))
        if what is not None:
            raise self.refusal(mirror, what)

    def refusal(self, mirror: str, what: str) -> ReadOnlyMirrorError:
        """Return the error that refuses ``what``, sent through ``mirror``."""
        primary = self.mirrors.get(mirror, mirror)
        return ReadOnlyMirrorError(
            f"Refusing {what} sent through {mirror!r}, a read replica in production "
            f"(DATABASES[{mirror!r}]['TEST']['MIRROR'] reads {primary!r}): the replica would refuse it. "
            f"Write through {primary!r} (using({primary!r}), or a router's db_for_write). If "
            f"{mirror!r} is writable in production, set DATABASES[{mirror!r}]['TEST']['READ_ONLY'] = "
            "False; to turn the check off for a run, use --no-read-only-mirrors "
            "(or MULTIDB_RUNNER['READ_ONLY_MIRRORS'] = False)."
        )


class ReadOnlyCursor:
    """A cursor taken through a mirror: writes are refused, everything else is the primary's cursor."""

    def __init__(self, cursor: Any, check: Callable[[Any], None], verdict: DatabaseVerdict | None = None) -> None:
        self._cursor = cursor
        self._check = check
        self._verdict = verdict

    def execute(self, sql: Any, params: Any = None) -> Any:
        self._check(sql)
        if self._verdict is None:
            return self._cursor.execute(sql, params)
        return self._verdict(self._cursor, sql, partial(self._cursor.execute, sql, params))

    def executemany(self, sql: Any, param_list: Any) -> Any:
        self._check(sql)
        if self._verdict is None:
            return self._cursor.executemany(sql, param_list)
        return self._verdict(self._cursor, sql, partial(self._cursor.executemany, sql, param_list))

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
