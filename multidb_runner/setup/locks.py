"""
One run at a time per test database: a claim held for the whole run.

Two runs that share a database server (or a folder of SQLite files) and do
not use ``--db-suffix`` would use the same test database names: the second
would drop and recreate the first's databases and clones under it. Each run
therefore claims each test database before touching anything, and holds
the claim until its cleanup is over. A claim is a claim file on this
machine (``lock_files``) and, on a server, a lock on the server as well: a
session-level advisory lock on PostgreSQL, a named lock (``GET_LOCK``) on
MySQL and MariaDB; for a SQLite file, also the lock file beside it. The
operating system or the server releases them when the process ends,
however it ends, so a crashed run never blocks the next one.

A server lock lives on a connection, and dies with it (``wait_timeout``, a
proxy's idle timeout, ``pg_terminate_backend``, a restart). The claim file
still keeps every run on this machine off; for runs on other machines the
runner checks its claims before each step that creates, clones or
destroys, and takes a lost server lock again. If another session took it
meanwhile, the claim is lost: the run says so, and neither creates nor
destroys that database any more.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db.backends.base.base import BaseDatabaseWrapper

# Defined with the other errors users see; importable from here as before.
from ..errors import ClaimLost, DatabaseInUse
from .catalog import is_in_memory_name, sqlite_path
from .lock_files import FileLock, LockFileTaken, claim_file_path, claim_key, lock_file_path
from .servers import own_connection

__all__ = ["ClaimLost", "DatabaseInUse", "TestDatabaseLocks", "lock_file_path", "lock_key", "lock_name"]


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


class RunLock(Protocol):
    """One of the locks a claim is made of."""

    def acquire(self, alias: str, test_name: str) -> None: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


@dataclass
class LocalLock:
    """A lock file of this machine's (a claim file, or the file beside a SQLite database)."""

    file: FileLock

    def acquire(self, alias: str, test_name: str) -> None:
        try:
            self.file.acquire()
        except LockFileTaken as taken:
            raise in_use_error(alias, test_name, f" (process {taken.holder})" if taken.holder else "") from None

    def still_held(self) -> bool:
        return self.file.still_held()

    def release(self) -> None:
        self.file.release()


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
            if self.connection.vendor == "postgresql":
                acquired = self.ask(wrapper, "SELECT pg_try_advisory_lock(%s)", [lock_key(test_name)])
            else:
                acquired = self.ask(wrapper, "SELECT GET_LOCK(%s, 0)", [lock_name(test_name)])
        except BaseException:
            wrapper.close()
            raise
        if not acquired:
            wrapper.close()
            raise in_use_error(alias, test_name)
        self.lock_connection = wrapper

    @staticmethod
    def ask(wrapper: BaseDatabaseWrapper, sql: str, params: list[Any]) -> Any:
        """Return the single value of ``sql`` on ``wrapper``'s connection (no Django cursor: nothing observes it)."""
        cursor = wrapper.connection.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
        finally:
            cursor.close()

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

    def holds(self) -> bool:
        """Return whether the lock's session is alive and holds the lock (False on any error: it is gone)."""
        if self.lock_connection is None:
            return False
        try:
            if self.connection.vendor == "postgresql":
                # A bigint key is split over classid and objid, objsubid 1.
                key = lock_key(self.test_name)
                return bool(
                    self.ask(
                        self.lock_connection,
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                        "AND classid::bigint = %s AND objid::bigint = %s)",
                        [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
                    )
                )
            return bool(
                self.ask(self.lock_connection, "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", [lock_name(self.test_name)])
            )
        except Exception:
            return False

    def still_held(self) -> bool:
        """
        Return whether the lock is still this run's, taking it again on a new connection if its own was lost.

        False if another session holds it now, or if the server cannot be
        reached to take it again: either way this run can no longer vouch
        for the database.
        """
        if self.holds():
            return True
        self.release()
        try:
            self.acquire("", self.test_name)
        except Exception:
            return False
        return True

    def release(self) -> None:
        if self.lock_connection is None:
            return
        # Closing the session releases its locks.
        with contextlib.suppress(Exception):
            self.lock_connection.close()
        self.lock_connection = None


@dataclass
class Claim:
    """This run's claim on one test database: the locks it is made of, and whether it was lost."""

    alias: str
    test_name: str
    locks: list[RunLock]
    lost: bool = False

    def lost_error(self) -> ClaimLost:
        return ClaimLost(
            f"Lost the claim on the test database {self.test_name!r} of alias {self.alias!r}: its lock "
            "was released under this run (a cut connection, a server restart, a removed lock file) and "
            "another session holds it now, or the server could not be reached to take it again. This "
            "run no longer creates or destroys that database, and leaves it as it is."
        )


@dataclass
class TestDatabaseLocks:
    """The claims of one run's test databases, taken before setup and released after cleanup."""

    held: list[Claim] = field(default_factory=list)

    def acquire(self, alias: str, connection: BaseDatabaseWrapper, test_name: str) -> None:
        """Claim ``alias``'s test database ``test_name``, or raise DatabaseInUse."""
        locks = self.locks_for(connection, test_name)
        if not locks:
            return
        taken: list[RunLock] = []
        try:
            for lock in locks:
                lock.acquire(alias, test_name)
                taken.append(lock)
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise
        self.held.append(Claim(alias, test_name, taken))

    def locks_for(self, connection: BaseDatabaseWrapper, test_name: str) -> list[RunLock]:
        """Return the locks that make a claim on ``test_name``: the claim file first, the slower locks after."""
        vendor = connection.vendor
        if vendor == "sqlite":
            if is_in_memory_name(test_name):
                return []  # private to this process
            if not os.path.isdir(os.path.dirname(os.path.abspath(sqlite_path(test_name)))):
                # Django creates no folder for a test database either; nothing to guard.
                return []
        elif vendor not in ("postgresql", "mysql"):
            return []  # no lock known for this backend
        locks: list[RunLock] = []
        claim_file = claim_file_path(claim_key(vendor, connection.settings_dict, test_name))
        if claim_file is not None:
            locks.append(LocalLock(FileLock(claim_file)))
        if vendor == "sqlite":
            locks.append(LocalLock(FileLock(lock_file_path(test_name))))
        else:
            locks.append(ServerLock(connection, test_name))
        return locks

    def check(self) -> list[ClaimLost]:
        """
        Check every claim still held, taking back the locks that were released under it; return the lost ones.

        A claim is lost if one of its locks cannot be taken back; it stays
        lost (and is reported again) for the rest of the run.
        """
        for claim in self.held:
            if not claim.lost:
                claim.lost = not all([lock.still_held() for lock in claim.locks])
        return [claim.lost_error() for claim in self.held if claim.lost]

    def lost(self) -> list[Claim]:
        """Return the claims lost so far."""
        return [claim for claim in self.held if claim.lost]

    def release(self) -> None:
        """Release every claim held, newest first."""
        while self.held:
            claim = self.held.pop()
            for lock in reversed(claim.locks):
                lock.release()
