"""Unit tests of the real-database check (pure logic)."""

import os
from unittest import TestCase

from multidb_runner.config import ConfigurationError
from multidb_runner.setup.safety import check_test_databases_are_not_real, database_identity


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


class CloneCheckTests(TestCase):
    def test_a_clone_named_like_a_real_database_is_refused(self):
        from multidb_runner.setup.safety import check_clones_are_not_real

        real = {"crm": database_identity("sqlite", {}, "/srv/db/test_shop_2.sqlite3")}
        clones = {
            "default": [
                database_identity("sqlite", {}, "/srv/db/test_shop_1.sqlite3"),
                database_identity("sqlite", {}, "/srv/db/test_shop_2.sqlite3"),
            ]
        }
        with self.assertRaises(ConfigurationError) as ctx:
            check_clones_are_not_real(clones, real)
        message = str(ctx.exception)
        self.assertIn("worker 2's clone of the test database of alias 'default'", message)
        self.assertIn("the real database of alias 'crm'", message)

    def test_clones_of_their_own_pass(self):
        from multidb_runner.setup.safety import check_clones_are_not_real

        real = {"default": database_identity("postgresql", {"HOST": "db"}, "shop")}
        clones = {"default": [database_identity("postgresql", {"HOST": "db"}, f"test_shop_{n}") for n in (1, 2)]}
        check_clones_are_not_real(clones, real)
        check_clones_are_not_real({"memory": [None, None]}, real)

    def test_clone_names_follow_the_backends(self):
        from multidb_runner.setup.clones import clone_name

        self.assertEqual(clone_name("sqlite", "/srv/db/test_shop.sqlite3", 2), "/srv/db/test_shop_2.sqlite3")
        self.assertEqual(clone_name("postgresql", "test_shop", 1), "test_shop_1")
        self.assertIsNone(clone_name("sqlite", "file:memorydb_default?mode=memory&cache=shared", 1))
