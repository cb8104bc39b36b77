"""Unit tests of the real-database check (pure logic)."""

import os
from unittest import TestCase

from multidb_runner.config import ConfigurationError
from multidb_runner.safety import check_test_databases_are_not_real, database_identity


class DatabaseIdentityTests(TestCase):
    def test_local_host_spellings_and_default_port_are_one_server(self):
        a = database_identity("postgresql", {"HOST": "", "PORT": ""}, "app")
        b = database_identity("postgresql", {"HOST": "127.0.0.1", "PORT": "5432"}, "app")
        c = database_identity("postgresql", {"HOST": "LOCALHOST", "PORT": 5432}, "app")
        self.assertEqual(a, b)
        self.assertEqual(b, c)

    def test_other_server_port_or_vendor_differ(self):
        base = database_identity("postgresql", {"HOST": "db", "PORT": ""}, "app")
        self.assertNotEqual(base, database_identity("postgresql", {"HOST": "db2", "PORT": ""}, "app"))
        self.assertNotEqual(base, database_identity("postgresql", {"HOST": "db", "PORT": "5433"}, "app"))
        self.assertNotEqual(base, database_identity("mysql", {"HOST": "db", "PORT": ""}, "app"))

    def test_sqlite_paths_are_resolved(self):
        here = os.getcwd()
        self.assertEqual(
            database_identity("sqlite", {}, "db.sqlite3"),
            database_identity("sqlite", {}, os.path.join(here, "sub", "..", "db.sqlite3")),
        )

    def test_sqlite_path_objects(self):
        from pathlib import Path

        self.assertEqual(
            database_identity("sqlite", {}, Path("db.sqlite3")), database_identity("sqlite", {}, "db.sqlite3")
        )

    def test_sqlite_in_memory_has_no_identity(self):
        self.assertIsNone(database_identity("sqlite", {}, ":memory:"))
        self.assertIsNone(database_identity("sqlite", {}, "file:memorydb_default?mode=memory&cache=shared"))
        self.assertIsNone(database_identity("sqlite", {}, ""))


class CheckTests(TestCase):
    def test_test_database_equal_to_a_real_one_is_refused(self):
        real = {
            "default": database_identity("postgresql", {"HOST": "db"}, "app"),
            "reports": database_identity("postgresql", {"HOST": "db"}, "reports"),
        }
        test = {"default": database_identity("postgresql", {"HOST": "db"}, "reports")}
        with self.assertRaises(ConfigurationError) as ctx:
            check_test_databases_are_not_real(test, real)
        message = str(ctx.exception)
        self.assertIn("test database of alias 'default' ('reports')", message)
        self.assertIn("real database of alias 'reports'", message)
        self.assertNotIn("PASSWORD", message)

    def test_distinct_names_pass(self):
        real = {"default": database_identity("postgresql", {"HOST": "db"}, "app")}
        test = {"default": database_identity("postgresql", {"HOST": "db"}, "test_app"), "mem": None}
        check_test_databases_are_not_real(test, real)
