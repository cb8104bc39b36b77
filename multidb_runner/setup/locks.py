"""
One run at a time per test database: a lock held for the whole run.

Two runs that share a database server (or a folder of SQLite files) and do
not use ``--db-suffix`` would use the same test database names: the second
would drop and recreate the first's databases and clones under it. Each run
therefore takes a lock per test database before touching anything, and
holds it until its cleanup is over: a session-level advisory lock on
PostgreSQL, a named lock (``GET_LOCK``) on MySQL and MariaDB, an exclusive
``flock`` on a lock file beside a SQLite file. All three are released by the
operating system or the server when the process ends, however it ends, so a
crashed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ..errors import ConfigurationError
from .catalog import is_in_memory_name, sqlite_path
from .servers import own_connection

try:
    import fcntl
except ImportError:  # Windows: SQLite files are not locked there.
    fcntl = None  # type: ignore[assignment]


class DatabaseInUse(ConfigurationError):
    """Another live run holds a test database this run would use."""


def lock_file_path(test_name: str) -> str:
    """Return the lock file beside the SQLite test database file ``test_name``."""
    return f"{sqlite_path(test_name)}.lock"


def lock_key(test_name: str) -> int:
    """Return a 64-bit signed key for ``test_name`` (PostgreSQL advisory locks)."""
    digest = hashlib.sha1(f"multidb_runner:{test_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_name(test_name: str) -> str:
    """Return a MySQL lock name for ``test_name`` (at most 64 characters)."""
    return "multidb_runner:" + hashlib.sha1(test_name.encode()).hexdigest()


def in_use_error(alias: str, test_name: str, holder: str = "") -> DatabaseInUse:
    return DatabaseInUse(
        f"Refusing to run: the test database {test_name!r} of alias {alias!r} is in use by "
        f"another test run{holder}. Running now would drop or reuse it under that run. "
        "Wait until that run ends, or give each run test databases of its own with "
        "--db-suffix TOKEN (or the MULTIDB_RUNNER_DB_SUFFIX environment variable, or "
        "MULTIDB_RUNNER['DB_SUFFIX'])."
    )


@dataclass
class SqliteFileLock:
    """An exclusive ``flock`` on ``<test database file>.lock``, holding the owner's pid."""

    path: str
    fd: int | None = None

    def acquire(self, alias: str, test_name: str) -> None:
        if fcntl is None:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            # Django creates no folder for a test database either; nothing to guard.
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(fd)
                os.close(fd)
                raise in_use_error(alias, test_name, f" (process {holder})" if holder else "") from None
            # The previous holder removes the file when it is done: a lock on
            # a file no longer at this path locks nothing. Try again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        # Remove the file while still holding the lock (see acquire).
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        os.close(self.fd)
        self.fd = None


def read_holder(fd: int) -> str:
    """Return the pid written in a lock file, or ''."""
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


@dataclass
class ServerLock:
    """A lock held by a connection of its own to the test database's server."""

    connection: BaseDatabaseWrapper
    test_name: str
    lock_connection: Any = None

    def acquire(self, alias: str, test_name: str) -> None:
        # A connection to no database, as Django's _nodb_cursor() makes; kept
        # open for the run. A dead process's session ends, and its lock with it.
        wrapper = self.connect()
        try:
            cursor = wrapper.connection.cursor()
            if self.connection.vendor == "postgresql":
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(test_name)])
            else:
                cursor.execute("SELECT GET_LOCK(%s, 0)", [lock_name(test_name)])
            (acquired,) = cursor.fetchone()
            cursor.close()
        except BaseException:
            wrapper.close()
            raise
        if not acquired:
            wrapper.close()
            raise in_use_error(alias, test_name)
        self.lock_connection = wrapper

    def connect(self) -> BaseDatabaseWrapper:
        """
        Open a connection of the lock's own to the server.

        PostgreSQL's advisory locks belong to a database, so every run must
        ask the same one: ``postgres``, as Django's ``_nodb_cursor()``, or the
        alias's own database where ``postgres`` cannot be reached.
        """
        names: list[Any] = [None]
        if self.connection.vendor == "postgresql":
            names = ["postgres", self.connection.settings_dict["NAME"]]
        for index, name in enumerate(names):
            wrapper = own_connection(self.connection, name)
            try:
                wrapper.ensure_connection()
            except Exception:
                if index == len(names) - 1:
                    raise
                continue
            # Released by the run's thread, even if taken in a test's (set-up on first use).
            wrapper.inc_thread_sharing()
            return wrapper
        raise AssertionError("unreachable")

    def release(self) -> None:
        if self.lock_connection is None:
            return
        # Closing the session releases its locks.
        with contextlib.suppress(Exception):
            self.lock_connection.close()
        self.lock_connection = None


@dataclass
class TestDatabaseLocks:
    """The locks of one run's test databases, taken before setup and released after cleanup."""

    held: list[SqliteFileLock | ServerLock] = field(default_factory=list)

    def acquire(self, alias: str, connection: BaseDatabaseWrapper, test_name: str) -> None:
        """Lock ``alias``'s test database ``test_name``, or raise DatabaseInUse."""
        lock: SqliteFileLock | ServerLock
        if connection.vendor == "sqlite":
            if is_in_memory_name(test_name):
                return  # private to this process
            lock = SqliteFileLock(lock_file_path(test_name))
        elif connection.vendor in ("postgresql", "mysql"):
            lock = ServerLock(connection, test_name)
        else:
            return  # no lock known for this backend
        lock.acquire(alias, test_name)
        self.held.append(lock)

    def release(self) -> None:
        """Release every lock held, newest first."""
        while self.held:
            self.held.pop().release()
