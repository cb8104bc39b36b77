"""
One copy of every test database per parallel worker.

Stock Django clones through each backend's ``clone_test_db`` with a few
traps: with ``--keepdb`` an existing clone is reused even when the template's
schema changed; in-memory SQLite under spawn is written to
``<alias>_<n>.sqlite3`` in the current directory, and forkserver is not
supported on Django 5.2. Here clones are always made afresh from the
template, in-memory SQLite is snapshotted once into a private temporary
folder (fork needs nothing: the child inherits the memory), and every clone
made is recorded so that it is destroyed whatever happens. The one
exception: with ``--keepdb``, a kept clone known to hold what cloning would
give now (its kept database's schema key unchanged, and no worker wrote to
it since it was made) is reused, as stock Django reuses every kept clone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .catalog import (
    database_exists,
    databases_like,
    drop_database,
    is_in_memory,
    like_escape,
    remove_sqlite_sidecars,
    write_sqlite_file,
)

# Also imported from here by the workers.
from .safety import RealDatabases

#: The backends whose clones are made at the same time: MySQL's and MariaDB's
#: clone is a dump piped into a client (two processes per clone, that use
#: the cores a sequential clone leaves idle). A PostgreSQL clone is one
#: ``CREATE DATABASE ... TEMPLATE`` the server does alone (measured: no faster
#: at the same time), a SQLite clone a file copy.
CONCURRENT_CLONE_VENDORS = frozenset({"mysql"})


def sqlite_clone_path(connection: BaseDatabaseWrapper, suffix: str) -> str | None:
    """Return the file of a worker's clone of a SQLite file database, else None."""
    if connection.vendor != "sqlite" or is_in_memory(connection):
        return None
    name: str = os.fspath(connection.creation.get_test_db_clone_settings(suffix)["NAME"])
    return name


@dataclass
class WorkerClones:
    """The clones made for ``workers`` workers, and how to get rid of them."""

    workers: int
    start_method: str
    verbosity: int = 1
    keepdb: bool = False
    #: Checked before each clone is destroyed: a real database is never one.
    real_databases: RealDatabases | None = None
    #: alias -> names of the clones made through the backend (or being made:
    #: a clone cut short by a signal may exist, and is ours).
    cloned: dict[str, list[str]] = field(default_factory=dict)
    #: alias -> snapshot file of an in-memory database, for spawn/forkserver.
    snapshots: dict[str, str] = field(default_factory=dict)
    snapshot_dir: str | None = None
    #: ``reusable(connection, clone name, worker number)``: whether a kept clone holds what
    #: cloning would give (``--keepdb``, ``snapshots.py``); None: every clone is made afresh.
    reusable: Callable[[BaseDatabaseWrapper, str, int], bool] | None = None

    def clone(self, alias: str) -> None:
        """Make one clone of ``alias``'s test database per worker."""
        connection = connections[alias]
        if is_in_memory(connection):
            if self.start_method != "fork":
                self.snapshots[alias] = self.snapshot(connection)
            return
        suffixes = []
        for worker_id in range(1, self.workers + 1):
            suffix = str(worker_id)
            name = os.fspath(connection.creation.get_test_db_clone_settings(suffix)["NAME"])
            if self.real_databases is not None:
                # Django drops a database of that name before cloning into it.
                self.real_databases.check_destroyable(alias, connection, name)
            # Recorded by its exact name before it exists, so that the
            # cleanup never derives it from a NAME that was restored since.
            self.cloned.setdefault(alias, []).append(name)
            if self.reusable is not None and self.reusable(connection, name, worker_id):
                # Stock Django's keepdb clone: "Using existing clone", nothing made.
                connection.creation.clone_test_db(suffix=suffix, verbosity=self.verbosity, keepdb=True)
                continue
            if connection.vendor == "sqlite":
                remove_sqlite_sidecars(name)
            suffixes.append(suffix)
        if connection.vendor in CONCURRENT_CLONE_VENDORS and len(suffixes) > 1:
            self.clone_concurrently(connection, suffixes)
            return
        for suffix in suffixes:
            self.clone_one(connection, suffix)

    def clone_one(self, connection: BaseDatabaseWrapper, suffix: str) -> None:
        # Made afresh (keepdb=False: an existing one is replaced), as it is
        # not known to hold what cloning gives now.
        connection.creation.clone_test_db(suffix=suffix, verbosity=self.verbosity, keepdb=False)

    def clone_concurrently(self, connection: BaseDatabaseWrapper, suffixes: list[str]) -> None:
        """
        Make the clones of ``connection``'s test database at the same time, one thread each.

        Every clone is Django's, each through a connection of its own. The
        threads are all waited for, even when one fails or the run is
        interrupted, so that the cleanup never races a clone being made.
        """
        with ThreadPoolExecutor(max_workers=len(suffixes), thread_name_prefix="multidb-clone") as pool:
            futures = [pool.submit(self.clone_one, connection, suffix) for suffix in suffixes]
            wait(futures)
        for future in futures:
            future.result()

    def snapshot(self, connection: BaseDatabaseWrapper) -> str:
        """Write an in-memory database to a file that spawned workers load."""
        if self.snapshot_dir is None:
            self.snapshot_dir = tempfile.mkdtemp(prefix="multidb_runner_")
        path = os.path.join(self.snapshot_dir, f"{connection.alias}.sqlite3")
        write_sqlite_file(connection, path)
        return path

    def destroy(self) -> None:
        """Destroy every clone made (kept with --keepdb) and every snapshot."""
        errors: list[Exception] = []
        for alias, names in self.cloned.items():
            connection = connections[alias]
            for name in names:
                try:
                    self.destroy_clone(connection, name)
                except Exception as exc:  # keep destroying the others
                    errors.append(exc)
        self.cloned.clear()
        if self.snapshot_dir is not None:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)
            self.snapshot_dir = None
        self.snapshots.clear()
        if errors:
            raise errors[0]

    def destroy_clone(self, connection: BaseDatabaseWrapper, name: str) -> None:
        """Destroy the clone ``name`` of ``connection``'s test database, if it exists."""
        if self.real_databases is not None:
            self.real_databases.check_destroyable(connection.alias, connection, name)
        if self.keepdb or database_exists(connection, name) is False:
            return
        if self.verbosity >= 1:
            connection.creation.log(
                f"Destroying test database clone {os.path.basename(name)!r} of alias {connection.alias!r}..."
            )
        drop_database(connection, name, self.verbosity)


def existing_clones(connection: BaseDatabaseWrapper) -> dict[int, str]:
    """
    Return the worker clones of ``connection``'s test database that exist now.

    Clones are named after the test database with ``_<n>`` (before the
    extension for SQLite files); only names of exactly that form count.
    """
    name = os.fspath(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite":
        if is_in_memory(connection):
            return {}
        folder, base = os.path.split(os.path.abspath(name))
        root, ext = os.path.splitext(base)
        pattern = re.compile(rf"^{re.escape(root)}_([0-9]+){re.escape(ext)}$")
        candidates = os.listdir(folder) if os.path.isdir(folder) else []
        return {
            int(match.group(1)): os.path.join(folder, candidate)
            for candidate in candidates
            if (match := pattern.match(candidate))
        }
    names = databases_like(connection, like_escape(name) + "\\_%")
    if names is None:
        return {}
    pattern = re.compile(rf"^{re.escape(name)}_([0-9]+)$")
    return {int(match.group(1)): candidate for candidate in names if (match := pattern.match(candidate))}


def remove_stale_clones(
    connection: BaseDatabaseWrapper, keep: int, real_databases: RealDatabases, verbosity: int = 1
) -> list[str]:
    """
    Destroy clones left by an earlier run (a crash, or more workers) beyond ``keep``.

    Clones ``1..keep`` are made afresh by this run anyway. A configured real
    database is never touched, whatever its name.
    """
    removed = []
    for number, clone_name in sorted(existing_clones(connection).items()):
        if number <= keep or real_databases.owners(connection, clone_name):
            continue
        if verbosity >= 1:
            connection.creation.log(
                f"Destroying stale clone {os.path.basename(clone_name)!r} of alias {connection.alias!r}..."
            )
        drop_database(connection, clone_name, verbosity)
        removed.append(clone_name)
    return removed
