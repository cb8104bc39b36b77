"""
The runner's own connections to a database server.

The run locks, catalog queries and server checks connect on their own,
outside ``connections``. Each such connection is made the way Django makes
its own connection to no database (``_nodb_cursor()``): under Django's
``NO_DB_ALIAS``. Receivers of ``connection_created`` already skip that
alias, since stock Django sends it while creating test databases;
``django.contrib.postgres``'s type handlers, for one, would otherwise look
an unknown alias up in ``connections`` and fail the run.

``server_fingerprint()`` asks a server who it is, for the real-database
check (``safety.py``) where two settings' spellings of a server cannot
tell whether they are one (``addresses.py``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper


def own_connection(connection: BaseDatabaseWrapper, name: Any = None) -> BaseDatabaseWrapper:
    """
    Return a new, unconnected wrapper to ``connection``'s server, on database ``name``.

    ``name`` None connects to no database (PostgreSQL: ``postgres``), as
    Django's ``_nodb_cursor()`` does. ``OPTIONS`` is a copy: Django's
    PostgreSQL backend removes ``service`` from it for no database.
    """
    settings_dict = {**connection.settings_dict, "NAME": name, "OPTIONS": {**connection.settings_dict["OPTIONS"]}}
    # __class__, not type(): a mirror's connection is a stand-in that says it is its backend's class.
    return connection.__class__(settings_dict, alias=NO_DB_ALIAS)


#: Seconds to wait for a server that is asked who it is (libpq and mysqlclient wait for ever by default).
FINGERPRINT_CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class ServerFingerprint:
    """
    What a running server says about itself: enough to tell it from any other.

    Read with queries any user may run, whatever the role's privileges.
    """

    #: What every server of one data directory shares, where a user may read it:
    #: PostgreSQL's ``system_identifier`` (a physical standby has its primary's:
    #: dropping a database on the primary drops it there too), MySQL's ``server_uuid``.
    identifier: str | None
    #: What tells this running server from any other: PostgreSQL's port and start
    #: time; MySQL's and MariaDB's host name, port and data directory.
    instance: tuple[str, ...]
    #: MySQL and MariaDB: when the server started, in seconds since the epoch
    #: (from ``Uptime``, so two readings may differ by a second).
    started: int | None = None

    def is_same_server(self, other: ServerFingerprint) -> bool:
        """Return whether ``other`` was read from this server."""
        if self.identifier is not None and other.identifier is not None:
            return self.identifier == other.identifier
        if self.instance != other.instance:
            return False
        return self.started is None or other.started is None or abs(self.started - other.started) <= 1


def server_fingerprint(connection: BaseDatabaseWrapper) -> ServerFingerprint | None:
    """
    Ask ``connection``'s server who it is, through a connection of the runner's own.

    Return None when it cannot tell: the server does not answer, refuses
    the credentials, or is of a vendor the runner cannot ask. The
    connection gives up after FINGERPRINT_CONNECT_TIMEOUT seconds.
    """
    if connection.vendor not in ("postgresql", "mysql"):
        return None
    names: list[Any] = [None]
    if connection.vendor == "postgresql":
        # Django's connection to no database drops OPTIONS['service']; naming
        # the 'postgres' database keeps the service's server. Django's
        # _nodb_cursor() falls back to a configured database the same way.
        names = ["postgres", connection.settings_dict.get("NAME") or "postgres"]
    for name in dict.fromkeys(names):
        wrapper = own_connection(connection, name)
        wrapper.settings_dict["OPTIONS"].setdefault("connect_timeout", FINGERPRINT_CONNECT_TIMEOUT)
        try:
            with wrapper.cursor() as cursor:
                if connection.vendor == "postgresql":
                    return postgresql_fingerprint(cursor)
                return mysql_fingerprint(cursor)
        except Exception:  # a server that cannot be asked cannot tell; the caller decides what that means
            continue
        finally:
            wrapper.close()
    return None


def postgresql_fingerprint(cursor: Any) -> ServerFingerprint:
    """Read the port and start time; the system identifier too, if this role may."""
    # The start time as seconds since the epoch: its text would follow the session's time zone.
    cursor.execute("SELECT current_setting('port'), extract(epoch FROM pg_postmaster_start_time())::text")
    port, started = cursor.fetchone()
    identifier = None
    try:
        # Readable by any role unless a DBA revoked it (autocommit: a refusal harms nothing).
        cursor.execute("SELECT system_identifier::text FROM pg_control_system()")
        identifier = cursor.fetchone()[0]
    except Exception:
        pass
    return ServerFingerprint(identifier, (str(port), str(started)))


def mysql_fingerprint(cursor: Any) -> ServerFingerprint:
    """Read the host name, port, data directory and start time; MySQL's server_uuid too (MariaDB has none)."""
    cursor.execute("SELECT @@hostname, @@port, @@datadir, UNIX_TIMESTAMP()")
    hostname, port, datadir, now = cursor.fetchone()
    cursor.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")
    row = cursor.fetchone()
    started = int(now) - int(row[1]) if row else None
    identifier = None
    try:
        cursor.execute("SELECT @@server_uuid")
        identifier = str(cursor.fetchone()[0])
    except Exception:
        pass
    return ServerFingerprint(identifier, (str(hostname), str(port), str(datadir)), started)


class KeptServerConnections:
    """
    One connection of the runner's own per server, kept for a run's catalog statements.

    Each question of the catalog (which test databases, snapshots and
    clones exist) and each copy would otherwise open a connection to no
    database, as Django's ``_nodb_cursor()`` does: three to five per alias
    at every set-up. Kept only while a run is open (``keep()``); a
    statement that fails because the kept connection no longer answers
    (cut, the server restarted) is sent once more on a new one; one that
    fails on a live connection raises its error (the driver's). Only the
    process that keeps them uses them: a forked parallel worker, which
    inherits this object, opens its own connection per statement. On PostgreSQL, only a server whose
    ``postgres`` database can be reached keeps one: elsewhere Django's
    fallback to a configured database is used, as before.
    """

    def __init__(self) -> None:
        self.kept: dict[str, BaseDatabaseWrapper] | None = None
        #: The process that keeps them: a forked parallel worker inherits the
        #: object, and must never send a statement on its parent's sockets.
        self.owner: int | None = None
        self.lock = threading.Lock()

    @contextmanager
    def keep(self) -> Iterator[None]:
        """Keep the connections until the block ends, then close them."""
        self.kept = {}
        self.owner = os.getpid()
        try:
            yield
        finally:
            kept, self.kept, self.owner = self.kept, None, None
            for wrapper in kept.values():
                with contextlib.suppress(Exception):
                    wrapper.close()

    def execute(self, connection: BaseDatabaseWrapper, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` on ``connection``'s server, connected to no database; return its rows (none: [])."""
        if self.kept is None or self.owner != os.getpid() or connection.vendor not in ("postgresql", "mysql"):
            return execute_without_database(connection, sql, params)
        key = server_key(connection)
        with self.lock:
            for attempt in (1, 2):
                wrapper = self.kept.get(key)
                if wrapper is None:
                    wrapper = self.connect(connection)
                    if wrapper is None:
                        return execute_without_database(connection, sql, params)
                    self.kept[key] = wrapper
                try:
                    cursor = wrapper.connection.cursor()
                    try:
                        cursor.execute(sql, params)
                        return list(cursor.fetchall()) if cursor.description else []
                    finally:
                        cursor.close()
                except Exception:
                    if attempt == 2 or is_usable(wrapper):
                        raise  # the statement's own error: sent again, it would fail again
                    self.kept.pop(key, None)
                    with contextlib.suppress(Exception):
                        wrapper.close()
        raise AssertionError("unreachable")

    @staticmethod
    def connect(connection: BaseDatabaseWrapper) -> BaseDatabaseWrapper | None:
        """Open a kept connection to no database (PostgreSQL: ``postgres``); None where it cannot be opened."""
        wrapper = own_connection(connection, "postgres" if connection.vendor == "postgresql" else None)
        try:
            wrapper.ensure_connection()
        except Exception:
            return None
        # Used by whichever thread sets a database up (on first use: a test's).
        wrapper.inc_thread_sharing()
        return wrapper


def execute_without_database(connection: BaseDatabaseWrapper, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a connection to no database of Django's own (``_nodb_cursor()``); return its rows."""
    with connection._nodb_cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def is_usable(wrapper: BaseDatabaseWrapper) -> bool:
    """Return whether ``wrapper``'s connection still answers (Django's check; False on any error)."""
    try:
        return bool(wrapper.is_usable())
    except Exception:
        return False


def server_key(connection: BaseDatabaseWrapper) -> str:
    """Return what tells ``connection``'s server and credentials apart from others (its settings but names)."""
    settings_dict = connection.settings_dict
    return repr(
        (
            connection.vendor,
            sorted((key, repr(value)) for key, value in settings_dict.items() if key not in ("NAME", "TEST")),
        )
    )


#: The run's kept connections (kept while a session's set-up is open).
SERVER_CONNECTIONS = KeptServerConnections()
