"""
The cleanup's guarantees, against the suite's real database server.

A database this run did not create is never destroyed: the real-database
check at destroy time, the record of what a cut-short creation created, and
the lock that keeps a second run off a live run's test databases. Each test
makes a real database (a file, or a database on the server) with rows, lets
the runner's cleanup at it, and counts the rows afterwards.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from unittest import TestCase, skipIf, skipUnless

from django.db import connections
from django.db.backends.base.base import NO_DB_ALIAS

from multidb_runner.parallel.dead_workers import describe_exit_code
from multidb_runner.setup.catalog import database_exists
from multidb_runner.setup.clones import WorkerClones
from multidb_runner.setup.databases import TestDatabase, created_before_failure, destroy_test_databases
from multidb_runner.setup.locks import DatabaseInUse, TestDatabaseLocks, lock_file_path, lock_key, lock_name
from multidb_runner.setup.safety import RealDatabases, UnsafeDestruction

from .e2e import BACKEND

ON_SERVER = BACKEND in ("postgresql", "mariadb")
ROWS = 3


def new_wrapper(name, alias=NO_DB_ALIAS):
    """
    A connection of ``default``'s backend and server to database ``name``.

    Under Django's no-database alias by default, as the runner's own: the
    suite's ``connection_created`` receiver looks every other alias up.
    """
    default = connections["default"]
    return type(default)({**default.settings_dict, "NAME": name}, alias=alias)


class RealDatabase:
    """A database that is not a test database, with ROWS rows in table ``precious``."""

    def __init__(self, test_case):
        token = uuid.uuid4().hex[:10]
        if ON_SERVER:
            self.name = f"mdbreal_{token}"
            with connections["default"]._nodb_cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {self.name}")
            test_case.addCleanup(self.drop)
        else:
            folder = Path(tempfile.mkdtemp(prefix="multidb_real_"))
            test_case.addCleanup(shutil.rmtree, folder, ignore_errors=True)
            self.name = str(folder / f"real_{token}.sqlite3")
        wrapper = new_wrapper(self.name)
        with wrapper.cursor() as cursor:
            cursor.execute("CREATE TABLE precious (id integer PRIMARY KEY)")
            for row in range(ROWS):
                cursor.execute("INSERT INTO precious (id) VALUES (%s)", [row])
        if not wrapper.get_autocommit():
            wrapper.commit()
        wrapper.close()
        self.real_databases = RealDatabases.from_settings(
            {"real": (connections["default"].vendor, {**connections["default"].settings_dict, "NAME": self.name})}
        )

    def rows(self):
        wrapper = new_wrapper(self.name)
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM precious")
                return cursor.fetchone()[0]
        finally:
            wrapper.close()

    def drop(self):
        with connections["default"]._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {self.name}")


@skipIf(BACKEND == "sqlite-memory", "needs databases that outlive a connection")
class DestroyTimeCheckTests(TestCase):
    """Right before dropping, a name that is a configured real database is refused."""

    def test_a_test_database_entry_naming_a_real_database_is_not_destroyed(self):
        real = RealDatabase(self)
        entry = TestDatabase(new_wrapper(real.name), real_name="not-used", test_name=real.name)
        with self.assertRaises(UnsafeDestruction) as ctx:
            destroy_test_databases([entry], verbosity=0, real_databases=real.real_databases)
        self.assertIn(f"Refusing to destroy {real.name!r}", str(ctx.exception))
        self.assertIn("real database of alias 'real'", str(ctx.exception))
        self.assertEqual(real.rows(), ROWS)
        # The alias is pointed back at its real NAME all the same.
        self.assertEqual(entry.connection.settings_dict["NAME"], "not-used")

    def test_a_clone_naming_a_real_database_is_not_destroyed(self):
        real = RealDatabase(self)
        clones = WorkerClones(workers=1, start_method="fork", verbosity=0, real_databases=real.real_databases)
        clones.cloned["default"] = [real.name]
        with self.assertRaises(UnsafeDestruction):
            clones.destroy()
        self.assertEqual(real.rows(), ROWS)
        self.assertEqual(clones.cloned, {})

    def test_other_entries_are_destroyed_all_the_same(self):
        real = RealDatabase(self)
        ours = RealDatabase(self)  # created by "this run": not a configured real database
        entries = [
            TestDatabase(new_wrapper(real.name), real_name="a", test_name=real.name),
            # Its creation was cut short: the alias still has its real NAME.
            TestDatabase(new_wrapper("b", alias="ours"), real_name="b", test_name=ours.name),
        ]
        with self.assertRaises(UnsafeDestruction):
            destroy_test_databases(entries, verbosity=0, real_databases=real.real_databases)
        self.assertEqual(real.rows(), ROWS)
        self.assertIs(database_exists(connections["default"], ours.name), False)


@skipIf(BACKEND == "sqlite-memory", "needs databases that outlive a connection")
class CreatedBeforeFailureTests(TestCase):
    """What a cut-short creation created is told apart from what was there."""

    def test_switched_connection_means_created(self):
        wrapper = new_wrapper("whatever_test_name")
        self.assertTrue(created_before_failure(wrapper, "whatever_test_name", existed=True))

    def test_new_database_not_yet_switched_to_means_created(self):
        real = RealDatabase(self)
        wrapper = new_wrapper("the_real_name")
        self.assertTrue(created_before_failure(wrapper, real.name, existed=False))

    def test_a_database_that_existed_before_is_not_ours(self):
        real = RealDatabase(self)
        wrapper = new_wrapper("the_real_name")
        self.assertFalse(created_before_failure(wrapper, real.name, existed=True))
        self.assertFalse(created_before_failure(wrapper, real.name, existed=None))

    def test_nothing_created(self):
        missing = f"mdbmissing_{uuid.uuid4().hex[:10]}"
        if not ON_SERVER:
            missing = os.path.join(tempfile.gettempdir(), f"{missing}.sqlite3")
        self.assertFalse(created_before_failure(new_wrapper("the_real_name"), missing, existed=False))


class LockTests(TestCase):
    """A second run is kept off the test databases of a live run."""

    def lock_target(self):
        token = uuid.uuid4().hex[:10]
        if BACKEND == "sqlite-memory":
            return "file:memorydb_default?mode=memory&cache=shared"
        if ON_SERVER:
            return f"test_mdblock_{token}"
        folder = tempfile.mkdtemp(prefix="multidb_lock_")
        self.addCleanup(os.rmdir, folder)
        return os.path.join(folder, f"test_{token}.sqlite3")

    def test_second_holder_is_refused_until_the_first_releases(self):
        name = self.lock_target()
        first, second = TestDatabaseLocks(), TestDatabaseLocks()
        self.addCleanup(first.release)
        self.addCleanup(second.release)
        first.acquire("default", connections["default"], name)
        if BACKEND == "sqlite-memory":
            # Private to the process: nothing to lock, nothing refused.
            second.acquire("default", connections["default"], name)
            self.assertEqual((first.held, second.held), ([], []))
            return
        with self.assertRaises(DatabaseInUse) as ctx:
            second.acquire("default", connections["default"], name)
        message = str(ctx.exception)
        self.assertIn(f"the test database {name!r} of alias 'default' is in use by another test run", message)
        self.assertIn("--db-suffix", message)
        self.assertNotIn(str(connections["default"].settings_dict.get("PASSWORD") or "no password"), message)
        if BACKEND == "sqlite":
            self.assertIn(f"(process {os.getpid()})", message)
        first.release()
        second.acquire("default", connections["default"], name)
        self.assertEqual(len(second.held), 1)

    @skipUnless(BACKEND == "sqlite", "the lock file of a SQLite test database")
    def test_lock_file_is_removed_on_release(self):
        name = self.lock_target()
        locks = TestDatabaseLocks()
        locks.acquire("default", connections["default"], name)
        self.assertTrue(os.path.exists(lock_file_path(name)))
        locks.release()
        self.assertFalse(os.path.exists(lock_file_path(name)))

    @skipIf(BACKEND == "sqlite-memory", "nothing is locked for in-memory databases")
    def test_a_killed_holder_blocks_no_one(self):
        name = self.lock_target()
        holder = self.start_holder(name)
        self.assertEqual(holder.stdout.readline().strip(), "locked")
        with self.assertRaises(DatabaseInUse):
            TestDatabaseLocks().acquire("default", connections["default"], name)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        locks = TestDatabaseLocks()
        self.addCleanup(locks.release)
        # The server (or the kernel) ends a dead process's lock; a server may
        # take a moment to see the session gone, so ask until it has.
        self.acquire_eventually(locks, name)
        self.assertEqual(len(locks.held), 1)

    def acquire_eventually(self, locks, name):
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                locks.acquire("default", connections["default"], name)
                return
            except DatabaseInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def start_holder(self, name):
        """Start a process that takes ``name``'s lock the way a run does, then waits."""
        settings = connections["default"].settings_dict
        if BACKEND == "sqlite":
            code = (
                "import fcntl, os, sys\n"
                f"fd = os.open({lock_file_path(name)!r}, os.O_RDWR | os.O_CREAT)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            )
            self.addCleanup(lambda: os.path.exists(lock_file_path(name)) and os.remove(lock_file_path(name)))
        elif BACKEND == "postgresql":
            code = (
                "import psycopg, sys\n"
                f"c = psycopg.connect(host={settings['HOST']!r}, port={str(settings['PORT'])!r}, "
                f"user={settings['USER']!r}, password={settings['PASSWORD']!r}, dbname='postgres', autocommit=True)\n"
                f"c.execute('SELECT pg_advisory_lock(%s)', [{lock_key(name)}])\n"
            )
        else:
            code = (
                "import MySQLdb, sys\n"
                f"c = MySQLdb.connect(host={settings['HOST']!r}, port={int(settings['PORT'])}, "
                f"user={settings['USER']!r}, password={settings['PASSWORD']!r})\n"
                "cur = c.cursor()\n"
                f"cur.execute('SELECT GET_LOCK(%s, 10)', [{lock_name(name)!r}])\n"
            )
        code += "print('locked', flush=True)\nsys.stdin.read()\n"
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.addCleanup(lambda: process.poll() is None and (process.kill(), process.wait()))
        self.addCleanup(lambda: process.stdin.close() or process.stdout.close())
        return process


class ExitCodeTests(TestCase):
    def test_signals_are_named(self):
        self.assertEqual(describe_exit_code(-9), "-9 (killed by SIGKILL)")
        self.assertEqual(describe_exit_code(-15), "-15 (killed by SIGTERM)")

    def test_plain_codes(self):
        self.assertEqual(describe_exit_code(3), "3")
        self.assertEqual(describe_exit_code(-999), "-999")


class SqliteRowsTests(TestCase):
    """The helper above counts what it wrote (a check of the check)."""

    @skipUnless(BACKEND == "sqlite", "SQLite files")
    def test_rows_are_counted_from_the_file(self):
        real = RealDatabase(self)
        connection = sqlite3.connect(real.name)
        try:
            self.assertEqual(connection.execute("SELECT COUNT(*) FROM precious").fetchone()[0], ROWS)
        finally:
            connection.close()
        self.assertEqual(real.rows(), ROWS)
