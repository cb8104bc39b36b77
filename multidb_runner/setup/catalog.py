"""
Which databases exist, a file or a name in the server's catalog, and how one is dropped.

The cleanup destroys a database only if this run created it. When creation
is cut short (a signal, an error, a prompt answered "no") Django may or may
not have created the test database yet; comparing what exists before and
after tells.

The facts about SQLite files (in-memory names, ``file:`` URIs, the journal
files beside a database) live here too, so that every module that creates,
checks or destroys a database reads them from one place.
"""

from __future__ import annotations

import os
import shutil
import sqlite3

from django.db.backends.base.base import BaseDatabaseWrapper

from .servers import SERVER_CONNECTIONS

#: Files SQLite keeps beside a database; a stale journal would be replayed
#: into a new database of the same name.
SQLITE_SIDECARS = ("-journal", "-wal", "-shm")

#: The query listing the databases whose names match a LIKE pattern, per vendor.
LIKE_QUERIES = {
    "postgresql": "SELECT datname FROM pg_database WHERE datname LIKE %s",
    "mysql": "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
}


def is_in_memory_name(name: str) -> bool:
    """Return True for the name of an in-memory SQLite database."""
    return not name or name == ":memory:" or "mode=memory" in name


def sqlite_path(name: str) -> str:
    """Return the file of a SQLite database name (``file:`` URIs included)."""
    return name[len("file:") :].split("?", 1)[0] if name.startswith("file:") else name


def is_in_memory(connection: BaseDatabaseWrapper) -> bool:
    """Return True for an in-memory SQLite test database."""
    return connection.vendor == "sqlite" and bool(
        connection.creation.is_in_memory_db(connection.settings_dict["NAME"])  # type: ignore[attr-defined]
    )


def remove_sqlite_sidecars(path: str) -> None:
    """Remove the journal and WAL files of the SQLite database at ``path``."""
    for suffix in SQLITE_SIDECARS:
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def drop_database(connection: BaseDatabaseWrapper, name: str, verbosity: int) -> None:
    """
    Drop database ``name`` of ``connection``'s server, by that name; a SQLite file with its journal files.

    ``destroy_test_db()`` would derive the name from the settings, which may
    name another database by then: the caller passes the name it recorded.
    A process that died mid-transaction leaves its journal beside the file.
    """
    connection.creation._destroy_test_db(name, verbosity)  # type: ignore[attr-defined]
    if connection.vendor == "sqlite" and not is_in_memory_name(name):
        remove_sqlite_sidecars(name)


def copy_database(connection: BaseDatabaseWrapper, source: str, target: str) -> None:
    """
    Make database ``target`` a copy of ``source`` on ``connection``'s server (SQLite: files), replacing it.

    PostgreSQL copies with ``CREATE DATABASE ... TEMPLATE``, which no session
    may be connected to: the connection is closed first.
    """
    if connection.vendor == "sqlite":
        remove_sqlite_sidecars(target)
        shutil.copyfile(source, target)
        return
    quote = connection.ops.quote_name
    # No session may be connected to the template of a copy.
    connection.close()
    SERVER_CONNECTIONS.execute(connection, f"DROP DATABASE IF EXISTS {quote(target)}")
    SERVER_CONNECTIONS.execute(connection, f"CREATE DATABASE {quote(target)} WITH TEMPLATE {quote(source)}")


def write_sqlite_file(connection: BaseDatabaseWrapper, path: str) -> None:
    """Write ``connection``'s SQLite database (a file or in memory) to the file ``path``, with SQLite's backup API."""
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)
    finally:
        target.close()


def like_escape(name: str) -> str:
    """Escape ``name`` for a LIKE pattern (backslash is the escape character)."""
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def databases_like(connection: BaseDatabaseWrapper, pattern: str) -> list[str] | None:
    """
    Return the names of the databases on ``connection``'s server matching LIKE ``pattern``.

    None when the backend has no catalog known here.
    """
    query = LIKE_QUERIES.get(connection.vendor)
    if query is None:
        return None
    return [row[0] for row in SERVER_CONNECTIONS.execute(connection, query, [pattern])]


def database_exists(connection: BaseDatabaseWrapper, name: str) -> bool | None:
    """
    Return whether database ``name`` exists on ``connection``'s server.

    None when that cannot be told (an unknown backend); an in-memory SQLite
    database never exists outside the process.
    """
    name = os.fspath(name)
    if connection.vendor == "sqlite":
        return False if is_in_memory_name(name) else os.path.exists(sqlite_path(name))
    names = databases_like(connection, like_escape(name))
    if names is None:
        return None
    if connection.vendor == "mysql":
        # MySQL compares names case-insensitively on some platforms.
        return any(found.lower() == name.lower() for found in names)
    return name in names


class DumpFailed(RuntimeError):
    """``mysqldump`` or ``mysql`` could not copy a MySQL/MariaDB database (the message has its error output)."""


def mysql_command(connection: BaseDatabaseWrapper) -> tuple[list[str], dict[str, str] | None]:
    """
    Return the ``mysql`` client's arguments (the database name last) and environment for ``connection``.

    Django's own (``DatabaseClient.settings_to_cmd_args_env``), as its clone
    uses them: the password goes in the environment, never in the arguments.
    """
    from django.db.backends.mysql.client import DatabaseClient

    args, env = DatabaseClient.settings_to_cmd_args_env(connection.settings_dict, [])
    return list(args), ({**os.environ, **env} if env else None)


def run_mysql_tool(command: list[str], env: dict[str, str] | None, what: str, **streams: object) -> None:
    """Run ``mysqldump`` or ``mysql``; raise DumpFailed with its error output if it fails."""
    import subprocess

    completed = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, check=False, **streams)  # type: ignore[call-overload]
    if completed.returncode != 0:
        raise DumpFailed(f"{what} failed (exit code {completed.returncode}): {completed.stderr.strip()}")


def dump_mysql_database(connection: BaseDatabaseWrapper, name: str, path: str) -> None:
    """
    Write MySQL/MariaDB database ``name`` to the file ``path`` with ``mysqldump``, as Django's clone reads it.

    Written beside and renamed into place: a reader finds the old file or
    the new one, never half of one.
    """
    args, env = mysql_command(connection)
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as output:
            run_mysql_tool(
                ["mysqldump", *args[1:-1], "--routines", "--events", name], env, f"mysqldump of {name!r}", stdout=output
            )
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def load_mysql_dump(connection: BaseDatabaseWrapper, path: str, name: str) -> None:
    """Load the dump file ``path`` into the existing MySQL/MariaDB database ``name``, with the ``mysql`` client."""
    args, env = mysql_command(connection)
    args[-1] = name
    with open(path, encoding="utf-8") as dump:
        run_mysql_tool(args, env, f"loading {os.path.basename(path)!r} into {name!r}", stdin=dump)


def replace_mysql_database(connection: BaseDatabaseWrapper, path: str, name: str) -> None:
    """Make MySQL/MariaDB database ``name`` (replaced) the content of the dump file ``path``."""
    quote = connection.ops.quote_name
    connection.close()
    SERVER_CONNECTIONS.execute(connection, f"DROP DATABASE IF EXISTS {quote(name)}")
    SERVER_CONNECTIONS.execute(
        connection,
        f"CREATE DATABASE {quote(name)} {connection.creation.sql_table_creation_suffix()}",
    )
    load_mysql_dump(connection, path, name)
