"""
End-to-end: test databases set up on first use (issue 12), on every backend.

Each test runs ``python -m django test tests.lazy_scenarios...`` with the
suite's own settings (the backend of this run) in a subprocess, with a
``--db-suffix`` of its own on database servers so that it never meets this
run's test databases, then checks the exit code, the plan, what was created
and that nothing is left.
"""

import json
import os
import re
import sqlite3
import uuid

from django.db import connections
from django.test import SimpleTestCase

from multidb_runner.setup.catalog import databases_like

from .e2e import BACKEND, REPO, make_temp_dir, only_with_backend, run_django_test

SCENARIOS = "tests.lazy_scenarios"


class LazySetupTestCase(SimpleTestCase):
    databases = {"default"}

    def setUp(self):
        self.data = make_temp_dir(self)
        self.suffix = f"lz{uuid.uuid4().hex[:8]}"

    def run_tests(self, *labels_and_flags, env=None):
        environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
        environment.update(
            {
                "MULTIDB_TEST_DATA_DIR": str(self.data),
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "PYTHONPATH": str(REPO),
                **(env or {}),
            }
        )
        args = [f"{SCENARIOS}.{label}" if label[:1].isupper() else label for label in labels_and_flags]
        if BACKEND in ("postgresql", "mariadb"):
            args += ["--db-suffix", self.suffix]
        return run_django_test(*args, "--noinput", cwd=REPO, env=environment)

    def role(self, result, alias):
        # Columns are two spaces apart or more ("(in memory)" has one inside).
        match = re.search(rf"^{alias}\s{{2,}}(?:.+?)\s{{2,}}(.+?)\s{{2,}}", result.stdout, re.MULTILINE)
        self.assertIsNotNone(match, f"no plan row for {alias}: {result}")
        return match.group(1)

    def leftovers(self):
        """Return the test databases of this test's runs still on the server (or in the folder)."""
        if BACKEND in ("postgresql", "mariadb"):
            return sorted(databases_like(connections["default"], f"%{self.suffix}%") or [])
        folder = self.data / "multidb_runner_tests"
        return (
            sorted(path.name for path in folder.iterdir() if path.name.startswith("test_")) if folder.exists() else []
        )

    def assertPassed(self, result, tests):
        self.assertEqual(result.returncode, 0, result)
        self.assertIn(f"Ran {tests} test", result.stderr, result)
        self.assertNotIn("Traceback", result.output, result)


class InnerLoopTests(LazySetupTestCase):
    def test_one_class_pays_for_its_database_only(self):
        result = self.run_tests("OnlyDefault", "-v", "2")
        self.assertPassed(result, 2)
        # What stock Django sets up (the class keeps default), before the tests, with stock's line.
        self.assertEqual(self.role(result, "default"), "created")
        self.assertIn("Creating test database for alias 'default'", result.stderr)
        self.assertEqual(self.role(result, "replica"), "mirror of default")
        for alias in ("other", "legacy"):
            self.assertEqual(self.role(result, alias), "not used")
            self.assertNotIn(f"Creating test database for alias '{alias}'", result.output)
        self.assertEqual(self.leftovers(), [])

    def test_testcase_too(self):
        result = self.run_tests("OnlyDefaultTestCase", "--report-db-usage")
        self.assertPassed(result, 1)
        self.assertIn("Test databases never created (nothing used them): legacy, other.", result.stdout, result)
        self.assertEqual(self.leftovers(), [])

    def test_no_lazy_setup_creates_everything_first(self):
        result = self.run_tests("OnlyDefault", "--no-lazy-setup")
        # The class's own checks say other and legacy must not exist: they do.
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(self.role(result, "other"), "created")
        self.assertEqual(self.leftovers(), [])

    def test_keepdb(self):
        first = self.run_tests("OnlyDefault", "--keepdb")
        self.assertPassed(first, 2)
        kept = "created" if BACKEND == "sqlite-memory" else "kept (--keepdb)"
        self.assertEqual(self.role(first, "default"), kept)
        self.assertEqual(self.role(first, "other"), "not used")
        second = self.run_tests("OnlyDefault", "--keepdb")
        self.assertPassed(second, 2)
        # The first run's TransactionTestCase changed its rows: restored from its
        # snapshot (on MariaDB, a mysqldump file).
        again = "created" if BACKEND == "sqlite-memory" else f"{kept}, restored"
        self.assertEqual(self.role(second, "default"), again)
        if BACKEND != "sqlite-memory":
            # Only what was used is kept (on PostgreSQL, with its snapshot database; MariaDB's is a file);
            # then a run without --keepdb cleans it up.
            kept_databases = 2 if BACKEND in ("postgresql",) else 1
            self.assertEqual(len(self.leftovers()), kept_databases, self.leftovers())
            self.assertPassed(self.run_tests("OnlyDefault"), 2)
        self.assertEqual(self.leftovers(), [])


class FirstUseTests(LazySetupTestCase):
    def test_through_a_mirror(self):
        result = self.run_tests("ThroughTheMirrorFirst")
        self.assertPassed(result, 1)
        self.assertEqual(self.role(result, "default"), "created")
        self.assertEqual(self.leftovers(), [])

    def test_inside_a_test_that_overrides_routers_and_apps(self):
        result = self.run_tests("FirstUseUnderATestsOverrides")
        self.assertPassed(result, 1)
        self.assertEqual(self.role(result, "other"), "created on first use")
        self.assertEqual(self.role(result, "legacy"), "created on first use")
        self.assertEqual(self.leftovers(), [])

    def test_in_another_thread(self):
        result = self.run_tests("LegacyInAThread")
        self.assertPassed(result, 1)
        self.assertEqual(self.role(result, "legacy"), "created on first use")
        self.assertEqual(self.leftovers(), [])

    def test_in_set_up_test_data(self):
        result = self.run_tests("SetUpTestDataFirst", "AfterSetUpTestDataFirst")
        self.assertPassed(result, 3)
        self.assertEqual(self.role(result, "other"), "created on first use")
        # The TestCase classes keep Django's default databases: default is set up first, as stock does.
        self.assertEqual(self.role(result, "default"), "created")
        self.assertEqual(self.leftovers(), [])

    def test_serialized_rollback(self):
        result = self.run_tests("SerializedOther")
        self.assertPassed(result, 2)
        self.assertEqual(self.leftovers(), [])

    def test_a_failed_setup_fails_its_tests_and_cleans_up(self):
        result = self.run_tests("OtherFails", env={"LAZY_FAIL_ALIAS": "other"})
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("FAILED (errors=2)", result.stderr, result)
        self.assertIn(
            "TestDatabaseSetupError: Setting up the test database of alias 'other' on its first use failed: "
            "RuntimeError: migrating other exploded on purpose.",
            result.stderr,
        )
        self.assertIn("on its first use failed earlier in this run", result.stderr)
        self.assertIn("Ran 3 tests", result.stderr)
        self.assertRegex(result.stderr, r"(?m)^EE\.$", result)
        self.assertEqual(self.role(result, "other"), "set-up on first use failed")
        self.assertEqual(self.leftovers(), [])


@only_with_backend("postgresql", "mariadb")
class UnreachableServerTests(LazySetupTestCase):
    """The server of 'other' refuses the runner's credentials (LAZY_UNREACHABLE_ALIAS)."""

    UNREACHABLE = {"LAZY_UNREACHABLE_ALIAS": "other"}
    WARNING = "Warning: cannot connect to the server of alias 'other' ("

    def assertNoPasswordNorChain(self, result):
        self.assertNotIn("wrong-secret-4711", result.output)
        self.assertNotIn("The above exception was the direct cause", result.output)

    def test_said_once_before_the_tests_and_only_its_tests_fail(self):
        result = self.run_tests("OtherFails", "OnlyDefaultTestCase", env=self.UNREACHABLE)
        self.assertEqual(result.returncode, 1, result)
        # Before the tests, once; not in every TestCase that may use 'other'.
        self.assertEqual(result.stdout.count(self.WARNING), 1, result)
        self.assertLess(result.stdout.index(self.WARNING), result.stdout.index("System check identified"))
        self.assertIn("Its test database is not set up: the tests that use it will fail", result.stdout)
        self.assertIn("FAILED (errors=2)", result.stderr, result)
        self.assertIn("Ran 4 tests", result.stderr)
        self.assertEqual(result.stderr.count("ERROR: "), 2, result)
        self.assertEqual(
            result.stderr.count(
                "TestDatabaseSetupError: The test database of alias 'other' is not set up: the runner could "
                "not connect to its server ("
            ),
            2,
            result,
        )
        self.assertNoPasswordNorChain(result)
        self.assertEqual(self.role(result, "other"), "not set up: cannot connect")
        self.assertEqual(self.leftovers(), [])

    def test_a_run_that_never_uses_it_passes(self):
        result = self.run_tests("OnlyDefaultTestCase", env=self.UNREACHABLE)
        self.assertPassed(result, 1)
        self.assertEqual(result.stdout.count(self.WARNING), 1, result)
        self.assertNoPasswordNorChain(result)
        self.assertEqual(self.leftovers(), [])

    def test_set_up_before_the_tests_stops_the_run_before_creating_anything(self):
        result = self.run_tests("OtherFails", "--no-lazy-setup", env=self.UNREACHABLE)
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("CannotConnect: Cannot connect to the server of alias 'other' (", result.stderr, result)
        self.assertIn("No test database was created.", result.stderr)
        self.assertNotIn("Traceback", result.output)
        self.assertNotIn("Creating test database", result.output)
        self.assertNotIn("Ran ", result.output)
        self.assertNoPasswordNorChain(result)
        self.assertEqual(self.leftovers(), [])


class SettingsNameTestDatabasesTests(LazySetupTestCase):
    """Issue 18, point 1: settings name the test databases from the first test on."""

    def expected_test_name(self, alias):
        if BACKEND == "sqlite-memory":
            return f"file:memorydb_{alias}?mode=memory&cache=shared"
        if BACKEND == "sqlite":
            return str(self.data / "multidb_runner_tests" / f"test_{alias}.sqlite3")
        return f"test_multidb_{alias}_{self.suffix}"

    def make_real_other(self):
        """Create the real database of 'other' with one precious row; return a function counting them."""
        if BACKEND == "sqlite-memory":
            return lambda: None
        if BACKEND == "sqlite":
            real = self.data / "multidb_runner_tests" / "other.sqlite3"
            real.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(real) as connection:
                connection.execute("CREATE TABLE precious (value TEXT)")
                connection.execute("INSERT INTO precious VALUES ('customer data')")
            connection.close()

            def count():
                with sqlite3.connect(real) as connection:
                    return connection.execute("SELECT count(*) FROM precious").fetchone()[0]

            return count
        from multidb_runner.setup.servers import own_connection

        connection = connections["default"]
        with connection._nodb_cursor() as cursor:
            cursor.execute("CREATE DATABASE multidb_other")
        self.addCleanup(drop_real_other, connection)
        real = own_connection(connection, "multidb_other")
        real.ensure_connection()
        with real.cursor() as cursor:
            cursor.execute("CREATE TABLE precious (value VARCHAR(50))")
            cursor.execute("INSERT INTO precious VALUES ('customer data')")
        real.close()

        def count():
            real = own_connection(connection, "multidb_other")
            try:
                with real.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM precious")
                    return cursor.fetchone()[0]
            finally:
                real.close()

        return count

    def test_from_the_first_test_on(self):
        count_real_rows = self.make_real_other()
        names_file = self.data / "names.json"
        result = self.run_tests("SettingsNameTestDatabases", env={"LAZY_NAMES_FILE": str(names_file)})
        self.assertPassed(result, 1)
        seen = json.loads(names_file.read_text())
        for alias, first in [("default", "default"), ("replica", "default"), ("replica2", "default")]:
            self.assertEqual(seen[alias]["connection"], self.expected_test_name(first), alias)
        for alias in ("other", "legacy"):
            # Set up on first use (no test declares them): named ahead, in the connection and in settings.
            self.assertEqual(seen[alias]["connection"], self.expected_test_name(alias), alias)
            self.assertEqual(seen[alias]["settings"], self.expected_test_name(alias), alias)
        self.assertEqual(seen["default"]["settings"], self.expected_test_name("default"))
        self.assertEqual(seen["other_after_use"], self.expected_test_name("other"))
        if BACKEND in ("postgresql", "mariadb"):
            # The test database did not exist yet: an error, never the real database.
            self.assertIn("error", seen["raw_other"], seen["raw_other"])
        else:
            self.assertNotEqual(seen["raw_other"].get("precious"), 1, seen["raw_other"])
        self.assertEqual(self.role(result, "other"), "created on first use")
        self.assertEqual(count_real_rows(), None if BACKEND == "sqlite-memory" else 1)
        self.assertEqual(self.leftovers(), [])


def drop_real_other(connection):
    with connection._nodb_cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS multidb_other")


@only_with_backend("sqlite")
class RealDatabaseTests(LazySetupTestCase):
    def test_an_unused_alias_never_reaches_its_real_database(self):
        folder = self.data / "multidb_runner_tests"
        folder.mkdir(parents=True)
        real = folder / "other.sqlite3"
        with sqlite3.connect(real) as connection:
            connection.execute("CREATE TABLE precious (value TEXT)")
            connection.execute("INSERT INTO precious VALUES ('customer data')")
        connection.close()
        before = real.stat().st_mtime_ns
        result = self.run_tests("OnlyDefault", "ThroughTheMirrorFirst")
        self.assertPassed(result, 3)
        with sqlite3.connect(real) as connection:
            self.assertEqual(connection.execute("SELECT count(*) FROM precious").fetchone(), (1,))
        connection.close()
        self.assertEqual(real.stat().st_mtime_ns, before)
        self.assertEqual(self.leftovers(), [])


@only_with_backend("sqlite")
class StockEquivalentProjectTests(SimpleTestCase):
    """One database, no mirror, no legacy table, no suffix: nothing of the runner's at verbosity 1."""

    SETTINGS = (
        "SECRET_KEY = 'one'\n"
        "INSTALLED_APPS = ['django.contrib.contenttypes']\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'one.sqlite3'}}\n"
        "TEST_RUNNER = 'multidb_runner.MultiDBRunner'\n"
    )
    TESTS = (
        "from django.contrib.contenttypes.models import ContentType\n"
        "from django.test import TestCase\n\n"
        "class OneTests(TestCase):\n"
        "    def test_query(self):\n"
        "        self.assertTrue(ContentType.objects.exists())\n"
    )

    def run_project(self, *args):
        folder = make_temp_dir(self)
        (folder / "one_settings.py").write_text(self.SETTINGS)
        (folder / "one_tests.py").write_text(self.TESTS)
        environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
        environment.update({"DJANGO_SETTINGS_MODULE": "one_settings", "PYTHONPATH": f"{folder}{os.pathsep}{REPO}"})
        return run_django_test("one_tests", "--noinput", *args, cwd=folder, env=environment)

    def test_silent_at_verbosity_1(self):
        result = self.run_project()
        self.assertEqual(result.returncode, 0, result)
        self.assertNotIn("Database plan", result.output)
        self.assertEqual(result.stdout, "Found 1 test(s).\nSystem check identified no issues (0 silenced).\n", result)

    def test_the_plan_at_verbosity_2(self):
        result = self.run_project("-v", "2")
        self.assertEqual(result.returncode, 0, result)
        self.assertRegex(result.stdout, r"default\s+\(in memory\)\s+created\s")
