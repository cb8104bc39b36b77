"""
Snapshots of migrated test databases, reused across runs; ``--keepdb`` that is never stale.

A snapshot is a copy of a test database taken right after its migrations,
kept after the run with the schema key it was migrated with (see
``SchemaKeys``): a database ``<test name>_mdbsnap`` on PostgreSQL (a test
database by name, covered by the run's lock on the test database), a file
in ``<temporary folder>/multidb_runner-kept/`` for SQLite (the database) and
MySQL/MariaDB (its ``mysqldump`` output). A state file
beside it (named after the test database's server and name, like the run's
claim files) holds the key and, for a kept database, whether it still has
the content the migrate gave it.

- A fresh run whose key matches a snapshot creates the test database from it
  instead of migrating (with Django's own messages and handling of a
  leftover test database); otherwise it migrates and takes the snapshot.
- A ``--keepdb`` run keeps a kept database whose key matches and whose rows
  no run changed; restores it from its snapshot when only its rows changed
  (a flush, a run that did not end); rebuilds it (migrates afresh, then
  snapshots it) when its key changed or nothing is known of it. Stock
  Django (and pytest-django's ``--reuse-db``) would reuse it as it is: the
  old schema after an edited migration or a switched branch, the data
  migrations' rows gone after a flush.

The schema key covers what decides the migrated content: the versions of
Python, Django, the runner and the database server; the installed apps;
every migration file and the project modules the migrations import (custom
fields, the functions of ``RunPython``); the models of apps without
migrations; the routers' answers for the alias (``schema_groups.py``); the
connection's settings but for its names; the settings that shape a schema
(``INSTALLED_APPS``, ``MIGRATION_MODULES``, ``DEFAULT_AUTO_FIELD``,
``AUTH_USER_MODEL``, ``DATABASE_ROUTERS``, ``CACHES``, ``USE_TZ``,
``TIME_ZONE``); and the unmanaged models the runner creates tables for.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader

from .catalog import (
    copy_database,
    database_exists,
    drop_database,
    dump_mysql_database,
    is_in_memory_name,
    remove_sqlite_sidecars,
    replace_mysql_database,
    write_sqlite_file,
)
from .copies import create_test_db_from
from .lock_files import claim_key
from .safety import RealDatabases
from .schema_groups import SchemaFacts, connection_facts
from .servers import own_connection
from .test_names import test_database_name

#: The state files' folder (and SQLite snapshots'), in the temporary folder.
KEPT_FOLDER = "multidb_runner-kept"
#: Appended to a kept PostgreSQL test database's name to name its snapshot.
SNAPSHOT_SUFFIX = "_mdbsnap"
POSTGRESQL_NAME_LIMIT = 63
#: What the plan says of a kept database migrated afresh, or restored from its snapshot;
#: of a fresh test database created from its snapshot.
REBUILT = "rebuilt"
RESTORED = "restored"
FROM_SNAPSHOT = "from its snapshot"
#: The settings that shape a migrated schema, beside each connection's own.
SCHEMA_SETTINGS = (
    "INSTALLED_APPS",
    "MIGRATION_MODULES",
    "DEFAULT_AUTO_FIELD",
    "AUTH_USER_MODEL",
    "DATABASE_ROUTERS",
    "CACHES",
    "USE_TZ",
    "TIME_ZONE",
)
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
#: The backends whose snapshots are files beside the state files (SQLite's database, MySQL's dump).
FILE_SNAPSHOT_VENDORS = frozenset({"sqlite", "mysql"})
#: The backends whose test databases fresh runs make from snapshots (``SNAPSHOTS = True``).
SNAPSHOT_VENDORS = frozenset({"postgresql", "sqlite", "mysql"})


def is_installed_code(path: str) -> bool:
    """Return True for a file of the standard library or of an installed package (not the project's)."""
    return "site-packages" in path or "dist-packages" in path or path.startswith(sys.prefix + os.sep + "lib")


def module_files(module: Any) -> Iterator[Path]:
    """Yield the source files of ``module``: every ``.py`` file of a package, or the module's own file."""
    filename = getattr(module, "__file__", None)
    if not filename:
        return
    path = Path(filename)
    if path.name == "__init__.py":
        yield from sorted(path.parent.rglob("*.py"))
    else:
        yield path


def imported_project_modules(module: Any) -> Iterator[Any]:
    """Yield the project modules ``module`` takes names from (custom fields, helpers of data migrations)."""
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, type(sys)) else getattr(value, "__module__", None)
        other = sys.modules.get(name) if isinstance(name, str) else None
        filename = getattr(other, "__file__", None)
        if other is not None and other is not module and filename and not is_installed_code(filename):
            yield other


def migration_sources(loader: MigrationLoader) -> dict[str, list[Path]]:
    """
    Return, by app label, the files whose content decides what ``migrate`` does for that app, in a fixed order.

    Its migration files and the project modules they import (custom fields,
    the functions of data migrations); for an app without migrations, its
    models (``migrate``'s syncdb creates the tables from them).
    """
    files: dict[str, set[Path]] = {}
    for app_config in apps.get_app_configs():
        found = files.setdefault(app_config.label, set())
        module_name, _explicit = MigrationLoader.migrations_module(app_config.label)
        module = None
        if module_name is not None:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
        if module is not None and app_config.label in loader.migrated_apps:
            found.update(module_files(module))
        elif app_config.models_module is not None:
            found.update(module_files(app_config.models_module))
    for (app_label, _name), migration in loader.disk_migrations.items():
        module = sys.modules.get(type(migration).__module__)
        if module is not None:
            for other in imported_project_modules(module):
                files.setdefault(app_label, set()).update(module_files(other))
    return {label: sorted(paths) for label, paths in sorted(files.items())}


def server_version(connection: BaseDatabaseWrapper) -> str:
    """Return the version of ``connection``'s database server (of the SQLite library), asked without a database."""
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version
    own = own_connection(connection)
    try:
        return ".".join(str(part) for part in own.get_database_version())
    finally:
        own.close()


def schema_settings() -> str:
    """Return the settings that shape a schema, as text (object addresses removed)."""
    return ADDRESS.sub("", repr([(name, getattr(settings, name, None)) for name in SCHEMA_SETTINGS]))


class SchemaKeys:
    """The schema key of each alias, from facts read once for the run."""

    def __init__(self, legacy_models: dict[str, list[Any]], facts_of: Callable[[], SchemaFacts]) -> None:
        """``facts_of()`` gives the run's facts (``schema_groups.SchemaFacts``), shared with its schema copies."""
        self.legacy_models = legacy_models
        self.facts_of = facts_of
        self.common_digest: str | None = None
        self.sources: dict[str, list[Path]] = {}
        self.app_digests: dict[str, str] = {}
        #: The version of each server, by its connection settings: asked once per server.
        self.server_versions: dict[str, str] = {}

    def common(self) -> str:
        """
        Return the digest of what every alias shares: versions, settings, apps, the names of every source file.

        The content of an app's files counts only for the aliases the
        routers let it reach (``app_digests``): editing a tenant migration
        changes the tenants' keys, not ``default``'s.
        """
        if self.common_digest is None:
            import multidb_runner

            digest = hashlib.sha256()
            digest.update(repr((sys.version_info[:2], django.get_version(), multidb_runner.__version__)).encode())
            digest.update(schema_settings().encode())
            self.sources = migration_sources(self.facts_of().loader)
            names = {label: [str(path) for path in paths] for label, paths in self.sources.items()}
            digest.update(repr(names).encode())
            self.common_digest = digest.hexdigest()
        return self.common_digest

    def app_digest(self, app_label: str) -> str:
        """Return the digest of the content of ``app_label``'s files (``migration_sources()``)."""
        if app_label not in self.app_digests:
            digest = hashlib.sha256()
            for path in self.sources.get(app_label, []):
                digest.update(path.read_bytes())
            self.app_digests[app_label] = digest.hexdigest()
        return self.app_digests[app_label]

    def server_version(self, connection: BaseDatabaseWrapper) -> str:
        """Return the version of ``connection``'s server, asked once for every alias on it."""
        server = repr((connection.vendor, connection_facts(connection.alias)))
        if server not in self.server_versions:
            self.server_versions[server] = server_version(connection)
        return self.server_versions[server]

    def key(self, alias: str) -> str:
        """Return ``alias``'s schema key: equal keys, equal migrated content."""
        connection = connections[alias]
        legacy = sorted(
            model._meta.label_lower + ":" + model._meta.db_table for model in self.legacy_models.get(alias, [])
        )
        digest = hashlib.sha256()
        digest.update(self.common().encode())
        digest.update(repr((self.server_version(connection), connection_facts(alias), legacy)).encode())
        facts = self.facts_of()
        # None for a router that queries its database: it cannot be asked before the test database
        # exists, and a change of its answers goes unseen, as under stock --keepdb.
        digest.update(repr(facts.answers_without_database(alias)).encode())
        for app_label in self.sources:
            if facts.app_reaches(alias, app_label):
                digest.update(f"{app_label}:{self.app_digest(app_label)}".encode())
        return digest.hexdigest()


@dataclass
class KeptState:
    """What a state file says of a kept test database."""

    key: str
    clean: bool
    #: Whether a snapshot of the database as migrated with ``key`` exists.
    snapshot: bool = False


def state_path(connection: BaseDatabaseWrapper, test_name: str) -> Path:
    """Return the state file of test database ``test_name`` on ``connection``'s server (in memory: of its alias)."""
    if connection.vendor == "sqlite" and is_in_memory_name(test_name):
        real_name = os.path.abspath(os.fspath(connection.settings_dict["NAME"] or ""))
        key = f"sqlite-memory:{real_name}:{connection.alias}"
        test_name = f"memory_{connection.alias}"
    else:
        key = claim_key(connection.vendor, connection.settings_dict, test_name)
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    tail = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(test_name))[-60:]
    return Path(tempfile.gettempdir(), KEPT_FOLDER, f"{tail}-{digest}.json")


def read_state(path: Path) -> KeptState | None:
    try:
        data = json.loads(path.read_text())
        return KeptState(key=str(data["key"]), clean=bool(data["clean"]), snapshot=bool(data.get("snapshot")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(path: Path, state: KeptState) -> None:
    """Write ``state`` atomically (a crash leaves the old state or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps({"key": state.key, "clean": state.clean, "snapshot": state.snapshot}))
    os.replace(partial, path)


def snapshot_name(connection: BaseDatabaseWrapper, test_name: str, path: Path) -> str | None:
    """
    Return where the snapshot of kept test database ``test_name`` lives (None: none is taken).

    A file beside the state file for SQLite; a database named after the test
    database with ``_mdbsnap`` on PostgreSQL (so it is a test database by
    name, and the run's lock on the test database covers it too).
    """
    if connection.vendor == "sqlite":
        return str(path.with_suffix(".sqlite3"))
    if connection.vendor == "mysql":
        return str(path.with_suffix(".sql"))
    if connection.vendor == "postgresql":
        name = f"{test_name}{SNAPSHOT_SUFFIX}"
        return name if len(name.encode()) <= POSTGRESQL_NAME_LIMIT else None
    return None


def snapshot_exists(connection: BaseDatabaseWrapper, name: str) -> bool:
    if connection.vendor in FILE_SNAPSHOT_VENDORS:
        return os.path.exists(name)
    return bool(database_exists(connection, name))


def take_snapshot(connection: BaseDatabaseWrapper, test_name: str, snapshot: str) -> None:
    """
    Copy ``connection``'s freshly migrated test database ``test_name`` to ``snapshot`` (replaced).

    An SQLite snapshot is written beside and renamed into place: a run
    reading it at the same time (in-memory test databases have no run lock)
    finds the old file or the new one, never half of one.
    """
    if connection.vendor in FILE_SNAPSHOT_VENDORS:
        Path(snapshot).parent.mkdir(parents=True, exist_ok=True)
    if connection.vendor == "sqlite":
        partial = f"{snapshot}.{os.getpid()}.partial"
        write_sqlite_file(connection, partial)
        os.replace(partial, snapshot)
    elif connection.vendor == "mysql":
        dump_mysql_database(connection, test_name, snapshot)
    else:
        copy_database(connection, test_name, snapshot)


def restore_snapshot(connection: BaseDatabaseWrapper, snapshot: str, test_name: str) -> None:
    """Make ``connection``'s test database ``test_name`` (replaced) a copy of its ``snapshot``."""
    if connection.vendor == "mysql":
        replace_mysql_database(connection, snapshot, test_name)
    else:
        copy_database(connection, snapshot, test_name)


def drop_snapshot(
    connection: BaseDatabaseWrapper, snapshot: str | None, real_databases: RealDatabases | None, *, verbosity: int = 0
) -> None:
    """Drop ``snapshot`` if it exists (never a real database); from verbosity 2, say so."""
    if snapshot is None or not snapshot_exists(connection, snapshot):
        return
    if real_databases is not None:
        real_databases.check_destroyable(connection.alias, connection, snapshot)
    if verbosity >= 2:
        connection.creation.log(f"Removing the snapshot {snapshot!r} of alias '{connection.alias}'...")
    if connection.vendor in FILE_SNAPSHOT_VENDORS:
        os.remove(snapshot)
        remove_sqlite_sidecars(snapshot)
    else:
        drop_database(connection, snapshot, 0)


@dataclass
class Snapshots:
    """A run's snapshots: test databases made from them, kept databases checked, new ones taken."""

    keys: SchemaKeys
    real_databases: RealDatabases | None = None
    #: First alias -> what was done to its test database (the plan's, which says so).
    rebuilt: dict[str, str] = field(default_factory=dict)
    #: Whether snapshots are taken and used for a kept database (False: a changed one is migrated again).
    for_kept: bool = True
    #: The vendors whose test databases that are not kept are made from snapshots.
    fresh_vendors: frozenset[str] = frozenset()
    #: First alias -> (its state file, the key it was migrated with), for the databases this run uses.
    in_use: dict[str, tuple[Path, str]] = field(default_factory=dict)
    #: First aliases whose database is migrated afresh by this run: snapshotted once migrated.
    to_snapshot: set[str] = field(default_factory=set)
    #: First aliases whose kept database this run makes afresh (a copy of a same-schema one will do).
    afresh: set[str] = field(default_factory=set)
    #: First aliases whose kept database holds what a migrate gives now (kept clean, or restored).
    verified: set[str] = field(default_factory=set)
    #: Clone name -> (its state file, its kept database's first alias and key, its worker's number).
    clones_in_use: dict[str, tuple[Path, str, str, int]] = field(default_factory=dict)

    def check_destroyable(self, connection: BaseDatabaseWrapper, name: str) -> None:
        if self.real_databases is not None:
            self.real_databases.check_destroyable(connection.alias, connection, name)

    def create_fresh(
        self, connection: BaseDatabaseWrapper, create: Any, *, verbosity: int, interactive: bool, keepdb: bool
    ) -> None:
        """
        Make a test database that is not kept from its snapshot, or by ``create(...)`` (a migrate), then snapshot it.

        The snapshot is used when its key matches; otherwise the database is
        migrated, and a new snapshot replaces the old one.
        """
        alias = connection.alias
        test_name = test_database_name(alias)
        path = state_path(connection, test_name)
        snapshot = snapshot_name(connection, test_name, path) if connection.vendor in self.fresh_vendors else None
        if snapshot is None:
            create(connection, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
            return
        key = self.keys.key(alias)
        state = read_state(path)
        if state is not None and state.key == key and state.snapshot and snapshot_exists(connection, snapshot):
            create_test_db_from(connection, snapshot, verbosity=verbosity, interactive=interactive)
            self.rebuilt[alias] = FROM_SNAPSHOT
            return
        create(connection, verbosity=verbosity, interactive=interactive, keepdb=keepdb)
        self.check_destroyable(connection, snapshot)
        take_snapshot(connection, os.fspath(connection.settings_dict["NAME"]), snapshot)
        write_state(path, KeptState(key=key, clean=False, snapshot=True))

    def prepare(self, connection: BaseDatabaseWrapper, *, verbosity: int, recreate: bool = False) -> None:
        """
        Make ``connection``'s kept test database what a migrate gives now, or drop it; mark it in use.

        Kept as it is when its key matches and no run changed its rows;
        restored from its snapshot when only its rows changed; dropped when
        its key changed or nothing is known of it, so that Django's
        ``create_test_db(keepdb=True)`` creates and migrates it afresh (then
        ``after_create()`` takes its snapshot).
        """
        alias = connection.alias
        test_name = test_database_name(alias)
        if connection.vendor == "sqlite" and is_in_memory_name(test_name):
            self.afresh.add(alias)  # never kept: made afresh at every run
            return
        key = self.keys.key(alias)
        path = state_path(connection, test_name)
        state = read_state(path)
        snapshot = snapshot_name(connection, test_name, path) if self.for_kept else None
        exists = bool(database_exists(connection, test_name))
        if recreate:
            state = None  # rebuilt, as if nothing were known of it
        if exists and state is not None and state.key == key and state.clean:
            write_state(path, KeptState(key=key, clean=False, snapshot=state.snapshot))
            self.verified.add(alias)
        elif (
            state is not None
            and state.key == key
            and state.snapshot
            and snapshot
            and snapshot_exists(connection, snapshot)
        ):
            self.check_destroyable(connection, test_name)
            if verbosity >= 1:
                why = (
                    "the last run that used it changed its rows (a flush), or did not end"
                    if exists
                    else "a run without --keepdb destroyed it"
                )
                connection.creation.log(f"Restoring kept test database for alias '{alias}' from its snapshot: {why}...")
            restore_snapshot(connection, snapshot, test_name)
            self.rebuilt[alias] = RESTORED
            write_state(path, KeptState(key=key, clean=False, snapshot=True))
            self.verified.add(alias)
        else:
            if exists:
                why = (
                    "--create-db"
                    if recreate
                    else "no run of the runner recorded what it holds"
                    if state is None
                    else "its migrations, models, routers or settings changed since it was migrated"
                    if state.key != key
                    else "the last run that used it changed its rows (a flush), or did not end"
                )
                self.check_destroyable(connection, test_name)
                if verbosity >= 1:
                    connection.creation.log(f"Rebuilding kept test database for alias '{alias}': {why}...")
                drop_database(connection, test_name, verbosity)
                self.rebuilt[alias] = REBUILT
            drop_snapshot(connection, snapshot, self.real_databases)
            write_state(path, KeptState(key=key, clean=False, snapshot=False))
            if snapshot is not None:
                self.to_snapshot.add(alias)
            self.afresh.add(alias)
        self.in_use[alias] = (path, key)

    def after_create(self, connection: BaseDatabaseWrapper) -> None:
        """Take the snapshot of a kept database this run migrated afresh, before anything else is added."""
        alias = connection.alias
        if alias not in self.to_snapshot:
            return
        self.to_snapshot.discard(alias)
        path, key = self.in_use[alias]
        test_name = os.fspath(connection.settings_dict["NAME"])
        snapshot = snapshot_name(connection, test_name, path)
        if snapshot is None:
            return
        self.check_destroyable(connection, snapshot)
        take_snapshot(connection, test_name, snapshot)
        write_state(path, KeptState(key=key, clean=False, snapshot=True))

    def clone_reusable(self, connection: BaseDatabaseWrapper, name: str, number: int) -> bool:
        """
        Return whether the kept clone ``name`` of ``connection``'s kept database may be reused; mark it in use.

        Reusable when it was cloned with the schema key its kept database has
        now (so it holds what a migrate gives now, legacy tables included: a
        kept database is cloned only once it is), and no worker wrote to it
        since (``finish_clones()``). A kept database made afresh by this run
        (rebuilt, ``--create-db``) gets new clones.
        """
        alias = connection.alias
        if alias not in self.in_use:
            return False
        key = self.in_use[alias][1]
        path = state_path(connection, name)
        state = read_state(path)
        reusable = (
            alias not in self.afresh
            and state is not None
            and state.key == key
            and state.clean
            and bool(database_exists(connection, name))
        )
        write_state(path, KeptState(key=key, clean=False))
        self.clones_in_use[name] = (path, alias, key, number)
        return bool(reusable)

    def finish_clones(self, written: dict[int, set[str]] | None) -> None:
        """Mark clean the clones no worker wrote to (``written``: worker number -> first aliases; None: unknown)."""
        for path, alias, key, number in self.clones_in_use.values():
            clean = written is not None and alias not in written.get(number, set())
            write_state(path, KeptState(key=key, clean=clean))
        self.clones_in_use.clear()

    def finish(self, changed: Iterable[str]) -> None:
        """Mark clean the kept databases whose rows the run did not change (``changed``: first aliases)."""
        changed = set(changed)
        for alias, (path, key) in self.in_use.items():
            state = read_state(path)
            snapshot = state.snapshot if state is not None and state.key == key else False
            write_state(path, KeptState(key=key, clean=alias not in changed, snapshot=snapshot))
        self.in_use.clear()


def remove_snapshot(connection: BaseDatabaseWrapper, real_databases: RealDatabases | None, *, verbosity: int) -> None:
    """
    Remove the snapshot and the state file of ``connection``'s test database (``SNAPSHOTS = False``).

    Said from verbosity 2, so that ``--no-snapshots -v 2`` lists what it removes.
    """
    test_name = test_database_name(connection.alias)
    path = state_path(connection, test_name)
    if not path.exists():
        return
    drop_snapshot(connection, snapshot_name(connection, test_name, path), real_databases, verbosity=verbosity)
    path.unlink(missing_ok=True)
