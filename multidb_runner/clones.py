"""
One copy of every test database per parallel worker.

Stock Django clones through each backend's ``clone_test_db`` with a few
traps: with ``--keepdb`` an existing clone is reused even when the template's
schema changed; in-memory SQLite under spawn is written to
``<alias>_<n>.sqlite3`` in the current directory, and forkserver is not
supported on Django 5.2. Here clones are always made afresh from the
template, in-memory SQLite is snapshotted once into a private temporary
folder (fork needs nothing: the child inherits the memory), and every clone
made is recorded so that it is destroyed whatever happens.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


def is_in_memory(connection: BaseDatabaseWrapper) -> bool:
    """Return True for an in-memory SQLite test database."""
    return connection.vendor == "sqlite" and bool(
        connection.creation.is_in_memory_db(connection.settings_dict["NAME"])  # type: ignore[attr-defined]
    )


@dataclass
class WorkerClones:
    """The clones made for ``workers`` workers, and how to get rid of them."""

    workers: int
    start_method: str
    verbosity: int = 1
    keepdb: bool = False
    #: alias -> suffixes cloned through the backend.
    cloned: dict[str, list[str]] = field(default_factory=dict)
    #: alias -> snapshot file of an in-memory database, for spawn/forkserver.
    snapshots: dict[str, str] = field(default_factory=dict)
    snapshot_dir: str | None = None

    def clone(self, alias: str) -> None:
        """Make one clone of ``alias``'s test database per worker."""
        connection = connections[alias]
        if is_in_memory(connection):
            if self.start_method != "fork":
                self.snapshots[alias] = self.snapshot(connection)
            return
        for worker_id in range(1, self.workers + 1):
            suffix = str(worker_id)
            # Never reuse a clone, even with --keepdb: the template's schema
            # may have changed since it was made.
            connection.creation.clone_test_db(suffix=suffix, verbosity=self.verbosity, keepdb=False)
            self.cloned.setdefault(alias, []).append(suffix)

    def snapshot(self, connection: BaseDatabaseWrapper) -> str:
        """Write an in-memory database to a file that spawned workers load."""
        if self.snapshot_dir is None:
            self.snapshot_dir = tempfile.mkdtemp(prefix="multidb_runner_")
        path = os.path.join(self.snapshot_dir, f"{connection.alias}.sqlite3")
        connection.ensure_connection()
        target = sqlite3.connect(path)
        try:
            connection.connection.backup(target)
        finally:
            target.close()
        return path

    def destroy(self) -> None:
        """Destroy every clone made (kept with --keepdb) and every snapshot."""
        errors: list[Exception] = []
        for alias, suffixes in self.cloned.items():
            creation = connections[alias].creation
            for suffix in suffixes:
                try:
                    creation.destroy_test_db(suffix=suffix, verbosity=self.verbosity, keepdb=self.keepdb)
                except Exception as exc:  # keep destroying the others
                    errors.append(exc)
        self.cloned.clear()
        if self.snapshot_dir is not None:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)
            self.snapshot_dir = None
        self.snapshots.clear()
        if errors:
            raise errors[0]
