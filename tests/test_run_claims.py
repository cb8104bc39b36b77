"""
A run's claim on a test database outlives the connection its server lock lives on.

Against the suite's real server (or SQLite files): a claim is taken, the
lock connection is cut the way a server's ``wait_timeout`` or
``pg_terminate_backend`` cuts it (or a SQLite lock file is removed), and
then a second claimant is refused, the claim is taken back, or, when
another session took the lock meanwhile, the claim is reported lost.
"""

import os
import tempfile
import time
import uuid
from unittest import TestCase, skipIf, skipUnless

from django.db import connections

from multidb_runner.setup.lock_files import claim_key
from multidb_runner.setup.locks import ClaimLost, DatabaseInUse, ServerLock, TestDatabaseLocks, lock_file_path
from multidb_runner.setup.servers import own_connection

from .e2e import BACKEND

ON_SERVER = BACKEND in ("postgresql", "mariadb")
WAIT_SECONDS = 30


class ClaimKeyTests(TestCase):
    """Two spellings of one server share a claim; two servers do not."""

    def key(self, vendor="postgresql", name="test_shop", **settings):
        return claim_key(vendor, {"HOST": "", "PORT": "", **settings}, name)

    def test_local_spellings_and_default_ports_are_one_server(self):
        keys = {
            self.key(),
            self.key(HOST="localhost"),
            self.key(HOST="127.0.0.1", PORT="5432"),
            self.key(HOST="::1", PORT=5432),
            self.key(HOST="/var/run/postgresql"),
        }
        self.assertEqual(len(keys), 1, keys)

    def test_other_servers_and_names_are_other_claims(self):
        keys = [
            self.key(),
            self.key(PORT="5433"),
            self.key(HOST="db.example.com"),
            self.key(name="test_other"),
            self.key(vendor="mysql"),
        ]
        self.assertEqual(len(set(keys)), len(keys), keys)

    def test_sqlite_files_are_claimed_by_their_real_path(self):
        folder = tempfile.mkdtemp(prefix="multidb_claim_")
        self.addCleanup(os.rmdir, folder)
        link = folder + "_link"
        os.symlink(folder, link)
        self.addCleanup(os.remove, link)
        self.assertEqual(
            claim_key("sqlite", {}, os.path.join(folder, "test.sqlite3")),
            claim_key("sqlite", {}, os.path.join(link, "test.sqlite3")),
        )


@skipIf(BACKEND == "sqlite-memory", "an in-memory database is private to its process: nothing to claim")
class LostConnectionTests(TestCase):
    """The server lock's connection is cut (or the SQLite lock file removed) under a live claim."""

    def setUp(self):
        token = uuid.uuid4().hex[:10]
        if ON_SERVER:
            self.name = f"test_mdbclaim_{token}"
        else:
            folder = tempfile.mkdtemp(prefix="multidb_claim_")
            self.addCleanup(os.rmdir, folder)
            self.name = os.path.join(folder, f"test_{token}.sqlite3")
        self.connection = connections["default"]
        self.first = self.claimed()

    def claimed(self):
        locks = TestDatabaseLocks()
        self.addCleanup(locks.release)
        locks.acquire("default", self.connection, self.name)
        return locks

    def server_lock(self, locks):
        (lock,) = [lock for lock in locks.held[0].locks if isinstance(lock, ServerLock)]
        return lock

    def cut(self, locks):
        """End the session of the claim's server lock from another connection (or remove the SQLite lock file)."""
        if not ON_SERVER:
            os.remove(lock_file_path(self.name))
            return
        raw = self.server_lock(locks).lock_connection.connection
        with Killer(self.connection) as killer:
            killer.end_session(raw.info.backend_pid if BACKEND == "postgresql" else raw.thread_id())

    def take_server_lock_elsewhere(self):
        """Take the server lock (or the SQLite lock file) the way a run on another machine would."""
        if ON_SERVER:
            other = ServerLock(self.connection, self.name)
        else:
            (other,) = [lock for lock in TestDatabaseLocks().locks_for(self.connection, self.name)[1:]]
        other.acquire("default", self.name)
        self.addCleanup(other.release)

    def test_a_second_run_here_is_refused_by_the_claim_file(self):
        self.cut(self.first)
        with self.assertRaises(DatabaseInUse) as refused:
            self.claimed()
        self.assertIn(f"is in use by another test run (process {os.getpid()})", str(refused.exception))

    def test_the_lock_is_taken_back(self):
        self.cut(self.first)
        self.assertEqual(self.first.check(), [])
        # Held again: another session cannot have it.
        with self.assertRaises(DatabaseInUse):
            self.take_server_lock_elsewhere()

    def test_a_lock_another_session_took_is_a_lost_claim(self):
        self.cut(self.first)
        self.take_server_lock_elsewhere()
        lost = self.first.check()
        self.assertEqual(len(lost), 1, lost)
        self.assertIsInstance(lost[0], ClaimLost)
        message = str(lost[0])
        self.assertIn(f"Lost the claim on the test database {self.name!r} of alias 'default'", message)
        self.assertNotIn("\n", message)
        self.assertEqual([claim.test_name for claim in self.first.lost()], [self.name])
        # Lost for good, even once the other session lets go.
        self.assertEqual(len(self.first.check()), 1)

    def test_a_live_claim_checks_out(self):
        self.assertEqual(self.first.check(), [])
        self.assertEqual(self.first.lost(), [])


class Killer:
    """A connection of its own to ``connection``'s server that ends other sessions, as an administrator would."""

    def __init__(self, connection):
        self.wrapper = own_connection(connection)
        self.vendor = connection.vendor

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.wrapper.close()

    def end_session(self, session):
        """End ``session`` (a backend pid, a MySQL thread id) and wait until the server no longer lists it."""
        with self.wrapper.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("SELECT pg_terminate_backend(%s)", [session])
                listed = "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %s"
            else:
                cursor.execute(f"KILL {int(session)}")
                listed = "SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s"
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                cursor.execute(listed, [session])
                if cursor.fetchone()[0] == 0:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"session {session} still listed {WAIT_SECONDS} s after it was ended")
                time.sleep(0.02)


@skipUnless(ON_SERVER, "sessions of a database server")
class KillerTests(TestCase):
    """The helper above really ends a session (a check of the check)."""

    def test_the_session_is_gone(self):
        victim = own_connection(connections["default"])
        victim.ensure_connection()
        self.addCleanup(victim.close)
        raw = victim.connection
        with Killer(connections["default"]) as killer:
            killer.end_session(raw.info.backend_pid if BACKEND == "postgresql" else raw.thread_id())
        with self.assertRaises(victim.Database.OperationalError), victim.connection.cursor() as cursor:
            cursor.execute("SELECT 1")
