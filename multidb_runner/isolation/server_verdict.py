"""
Ask the database whether a statement sent through a read-only mirror writes.

The parser (``read_only.statement_refusal``) refuses what the text shows to
be a write. A replica refuses more: whatever its read-only transaction
refuses, which only the server knows for certain (a function or a ``CALL``
whose body writes, a ``DO`` block, ``SELECT ... INTO``, ``EXPLAIN ANALYZE``
of a write). Where the server can judge one statement inside the test's
transaction, it does:

- PostgreSQL: the statement runs in a read-only subtransaction of the
  primary's transaction (``SAVEPOINT``; ``SET LOCAL transaction_read_only``;
  the statement; ``ROLLBACK TO SAVEPOINT``, which also undoes the setting,
  since read-write cannot be set back otherwise; ``RELEASE SAVEPOINT``), or,
  in autocommit, in a ``BEGIN READ ONLY`` transaction of its own. The
  server's "cannot execute ... in a read-only transaction" (SQLSTATE 25006)
  becomes ``ReadOnlyMirrorError``; any other error is the statement's own,
  and leaves the primary's transaction as it was, as on a replica whose
  errors are its own connection's. Two round trips more per statement,
  sent on the driver's connection, so that Django's query log,
  ``assertNumQueries`` and the write tracker never see them. Left to the
  parser: statements a subtransaction would undo (``SET``, ``LISTEN``,
  ``NOTIFY``, cursors, ``LOCK``, transaction control, ``set_config()`` and
  transaction advisory locks), and server-side cursors (``.iterator()``),
  which ``ROLLBACK TO SAVEPOINT`` would close.
- MySQL and MariaDB have no read-only savepoints (``SET TRANSACTION READ
  ONLY`` only applies to the next transaction): the parser decides, and a
  ``CALL`` is judged by the procedure's body as the database stores it; a
  body the parser cannot read as read-only is refused, one the database does
  not show is let through.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.db import DatabaseError

from .read_only import DatabaseVerdict, statement_head
from .statements import TableName, UnreadableStatement, classify, read_table_name, split_statements, tokenize

#: SQLSTATE of "cannot execute ... in a read-only transaction" (PostgreSQL's and MariaDB's).
READ_ONLY_SQL_TRANSACTION = "25006"
#: SQLSTATE of "... cannot run inside a transaction block" (VACUUM): in autocommit, only the
#: transaction opened for the verdict is in the way, and a hot standby refuses these too.
ACTIVE_SQL_TRANSACTION = "25001"
#: libpq's transaction status (psycopg 2 and 3): no transaction, or inside one.
IDLE, IN_TRANSACTION = 0, 2
SAVEPOINT = "multidb_runner_mirror"
#: Statements whose effect a rolled back subtransaction would undo, or which control transactions.
SESSION_HEADS = frozenset(
    {
        "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare",
        "set", "reset", "discard", "declare", "fetch", "move", "close", "listen", "unlisten", "notify",
        "lock", "load", "deallocate", "show",
    }
)  # fmt: skip
#: Functions whose effect a rolled back subtransaction would undo.
SESSION_CALLS = frozenset(
    {
        "set_config", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
        "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared",
    }
)  # fmt: skip


def database_verdict(vendor: str, refuse: Callable[[str], Exception]) -> DatabaseVerdict | None:
    """Return how ``vendor``'s database judges what goes through a mirror, or None (the parser alone)."""
    if vendor == "postgresql":
        return ReadOnlySubtransaction(refuse)
    if vendor == "mysql":
        return ProcedureBodies(refuse)
    return None


@lru_cache(maxsize=8192)
def asks_the_server(sql: str) -> bool:
    """Return True if ``sql`` may run in a read-only subtransaction that is then rolled back (cached)."""
    try:
        tokens = tokenize(sql, "postgresql")
    except UnreadableStatement:
        return True  # The server reads it, or refuses it.
    for statement in split_statements(tokens):
        if statement_head(statement) in SESSION_HEADS:
            return False
        for index, token in enumerate(statement[:-1]):
            if token.word in SESSION_CALLS and statement[index + 1].text == "(":
                return False
    return True


def send(raw_connection: Any, sql: str) -> None:
    """Run ``sql`` on the driver's connection, unseen by Django (no query log, no write tracking)."""
    with raw_connection.cursor() as cursor:
        cursor.execute(sql)


def sqlstate(error: BaseException) -> str | None:
    """Return the SQLSTATE of a database error Django wrapped (psycopg 3's ``sqlstate``, psycopg 2's ``pgcode``)."""
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


class ReadOnlySubtransaction:
    """Run each statement sent through a mirror read-only, on its primary's connection (PostgreSQL)."""

    def __init__(self, refuse: Callable[[str], Exception]) -> None:
        self.refuse = refuse

    def __call__(self, cursor: Any, sql: Any, run: Callable[[], Any]) -> Any:
        if not isinstance(sql, str) or getattr(cursor.cursor, "name", None) or not asks_the_server(sql):
            return run()
        raw_connection = cursor.db.connection
        brackets = self.brackets(raw_connection)
        if brackets is None:
            return run()
        enter, leave, leave_after_error, refused = brackets
        send(raw_connection, enter)
        try:
            result = run()
        except DatabaseError as error:
            send(raw_connection, leave_after_error)
            if sqlstate(error) in refused:
                server_says = str(error.__cause__).splitlines()[0]
                what = f"a statement PostgreSQL refuses in a read-only transaction ({server_says})"
                raise self.refuse(what) from error
            raise
        except BaseException:
            try:
                send(raw_connection, leave_after_error)
            except Exception:  # noqa: S110 - never hide the original error
                pass
            raise
        send(raw_connection, leave)
        return result

    @staticmethod
    def brackets(raw_connection: Any) -> tuple[str, str, str, frozenset[str]] | None:
        """
        Return what to send before the statement, after it, after it failed, and the SQLSTATEs that refuse it.

        None if the statement cannot be judged (an aborted transaction refuses it anyway).
        """
        status = int(raw_connection.info.transaction_status)
        if status == IDLE and raw_connection.autocommit:
            refused = frozenset({READ_ONLY_SQL_TRANSACTION, ACTIVE_SQL_TRANSACTION})
            return "BEGIN READ ONLY", "COMMIT", "ROLLBACK", refused
        if status in (IDLE, IN_TRANSACTION):
            # Without autocommit the driver opens the transaction before the savepoint.
            undo = f"ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"
            enter = f"SAVEPOINT {SAVEPOINT}; SET LOCAL transaction_read_only = on"
            return enter, undo, undo, frozenset({READ_ONLY_SQL_TRANSACTION})
        return None


@lru_cache(maxsize=1024)
def called_procedures(sql: str) -> tuple[TableName, ...]:
    """Return the procedures ``sql`` calls with ``CALL`` (MySQL's executable comments read as run)."""
    try:
        tokens = tokenize(sql, "mysql", executable_comments=True)
        return tuple(
            read_table_name(statement, 1, "call")[0]
            for statement in split_statements(tokens)
            if statement_head(statement) == "call"
        )
    except UnreadableStatement:
        return ()


def body_may_write(body: str) -> bool:
    """Return True unless the parser reads a procedure's body as certainly read-only."""
    effect = classify(body, "mysql")
    return effect.writes


class ProcedureBodies:
    """Refuse a ``CALL`` through a mirror of a procedure whose body may write (MySQL, MariaDB)."""

    def __init__(self, refuse: Callable[[str], Exception]) -> None:
        self.refuse = refuse

    def __call__(self, cursor: Any, sql: Any, run: Callable[[], Any]) -> Any:
        if isinstance(sql, str):
            for procedure in called_procedures(sql):
                body = self.body(cursor.db.connection, procedure)
                if body is not None and body_may_write(body):
                    raise self.refuse(f"a CALL of {procedure}() (a procedure whose body may write)")
        return run()

    @staticmethod
    def body(raw_connection: Any, procedure: TableName) -> str | None:
        """Return the procedure's body as the database shows it, or None (unknown, or not shown to this user)."""
        *schema, name = procedure.parts
        with raw_connection.cursor() as cursor:
            cursor.execute(
                "SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_TYPE = 'PROCEDURE' "
                "AND ROUTINE_SCHEMA = COALESCE(%s, DATABASE()) AND ROUTINE_NAME = %s",
                [schema[-1] if schema else None, name],
            )
            row = cursor.fetchone()
        return None if row is None or row[0] is None else str(row[0])
