"""
Server identity, against the suite's real server: one server reached two ways is one.

The real-database check asks a server who it is where two settings'
spellings cannot tell (``setup/servers.py``). These tests reach the server
of ``.ci/servers.sh`` over TCP and through its Unix socket (PG_SOCKET_DIR,
MYSQL_SOCKET), as the privileged and the unprivileged user, make a real
database with rows, let the destroy-time check at it, and count the rows.
"""

import os
import uuid
from unittest import TestCase, skipUnless

from django.db import connections

from multidb_runner.setup.databases import TestDatabase, destroy_test_databases
from multidb_runner.setup.safety import RealDatabases, UnsafeDestruction
from multidb_runner.setup.servers import own_connection, server_fingerprint

from .e2e import BACKEND

ROWS = 3


def wrapper(name=None, **settings):
    """An unconnected connection of the runner's own to ``default``'s server, its settings changed."""
    connection = own_connection(connections["default"], name)
    connection.settings_dict.update(settings)
    return connection


def socket_settings():
    """Settings that reach the suite's server through its Unix socket, or None if it is unknown."""
    if BACKEND == "postgresql":
        folder = os.environ.get("PG_SOCKET_DIR")
        return {"HOST": folder} if folder else None
    path = os.environ.get("MYSQL_SOCKET")
    return {"HOST": "localhost", "OPTIONS": {"unix_socket": path}} if path else None


@skipUnless(BACKEND in ("postgresql", "mariadb"), "a database server")
class ServerFingerprintTests(TestCase):
    def setUp(self):
        self.socket = socket_settings()
        if self.socket is None:
            self.skipTest("PG_SOCKET_DIR / MYSQL_SOCKET not set: the server's Unix socket is unknown")

    def test_one_server_over_tcp_and_the_socket_and_as_any_user(self):
        tcp = server_fingerprint(wrapper())
        self.assertIsNotNone(tcp)
        self.assertTrue(tcp.is_same_server(server_fingerprint(wrapper(**self.socket))))
        # The replica alias's user has no privileges at all.
        unprivileged = server_fingerprint(connections["replica"])
        self.assertEqual(unprivileged, tcp)
        if BACKEND == "postgresql":
            # pg_control_system() is readable by a role without privileges.
            self.assertIsNotNone(unprivileged.identifier)

    def test_a_server_that_does_not_answer_cannot_tell(self):
        self.assertIsNone(server_fingerprint(wrapper(PORT="1")))

    def test_asking_leaves_the_settings_alone(self):
        if BACKEND != "postgresql":
            self.skipTest("PostgreSQL's service option")
        connection = wrapper(OPTIONS={"service": "multidb_no_such_service"})
        self.assertIsNone(server_fingerprint(connection))
        # Django's connection to no database removes 'service' from OPTIONS: from a copy only.
        self.assertEqual(connection.settings_dict["OPTIONS"], {"service": "multidb_no_such_service"})


@skipUnless(BACKEND in ("postgresql", "mariadb"), "a database server")
class DestroyTimeCheckTests(TestCase):
    """Right before a drop, a real database reached another way is recognised."""

    def setUp(self):
        self.socket = socket_settings()
        if self.socket is None:
            self.skipTest("PG_SOCKET_DIR / MYSQL_SOCKET not set: the server's Unix socket is unknown")
        self.name = f"mdbident_{uuid.uuid4().hex[:10]}"
        self.execute(wrapper(), f"CREATE DATABASE {self.name}")
        self.addCleanup(self.execute, wrapper(), f"DROP DATABASE IF EXISTS {self.name}")
        connection = wrapper(self.name)
        self.execute(connection, "CREATE TABLE precious (id integer PRIMARY KEY)")
        for row in range(ROWS):
            self.execute(connection, f"INSERT INTO precious (id) VALUES ({row})")

    @staticmethod
    def execute(connection, sql):
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def rows(self):
        connection = wrapper(self.name)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM precious")
                return cursor.fetchone()[0]
        finally:
            connection.close()

    def destroy_over_tcp(self, real_databases):
        """Let the cleanup destroy the real database as a test database reached over TCP; return the refusal."""
        entry = TestDatabase(wrapper(self.name), real_name="not-used", test_name=self.name)
        with self.assertRaises(UnsafeDestruction) as ctx:
            destroy_test_databases([entry], verbosity=0, real_databases=real_databases)
        self.assertEqual(self.rows(), ROWS)
        return str(ctx.exception)

    def test_the_real_database_reached_through_the_socket_is_not_destroyed(self):
        real = RealDatabases.from_connections([wrapper(self.name, **self.socket)])
        message = self.destroy_over_tcp(real)
        self.assertIn(f"Refusing to destroy {self.name!r}", message)
        self.assertIn("by the servers' own account", message)
        self.assertNotIn(connections["default"].settings_dict["PASSWORD"], message)

    def test_a_real_server_that_does_not_answer_counts_as_the_same(self):
        # A socket no server listens on: spelled apart from TCP, and no answer.
        if BACKEND == "postgresql":
            unreachable = {**self.socket, "PORT": "1"}
        else:
            unreachable = {"HOST": "localhost", "OPTIONS": {"unix_socket": "/nonexistent/mysqld.sock"}}
        real = RealDatabases.from_connections([wrapper(self.name, **unreachable)])
        message = self.destroy_over_tcp(real)
        self.assertIn("could not ask both, so it counts them as one", message)
