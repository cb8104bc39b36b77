"""
The ``shop`` sample project's harness, for every end-to-end test module.

Each test runs ``manage.py`` of ``tests/projects/shop`` in a subprocess
(``e2e.ProjectProcess``: a process group of its own, so that a safety-net
timeout stops its workers too) with its SQLite files in a fresh folder,
then checks the exit code, the lines that matter and the files left behind.
"""

import os

from django.test import SimpleTestCase

from .e2e import make_temp_dir, only_with_backend, start_manage

#: Upper bound of every wait for the subprocess to reach a point.
WAIT_SECONDS = 60
POLL_SECONDS = 0.05
PASSED = r"\nOK( \(.*\))?\n"
INTERRUPTED = (
    "TestRunInterrupted: The test run was interrupted (Ctrl-C); it is reported as failed. "
    "Test databases were destroyed unless --keepdb was given."
)


def is_running(pid):
    """Return whether process ``pid`` exists and has not ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The state follows the command name, which is in parentheses.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@only_with_backend("sqlite")
class ShopTestCase(SimpleTestCase):
    """Run the shop project with its SQLite files in a fresh folder."""

    in_memory = False

    def setUp(self):
        self.db_dir = make_temp_dir(self)

    def start(self, *args, **env):
        """Start ``manage.py ARGS`` with ``env`` added; return the running ProjectProcess."""
        environment = {"SHOP_DB_DIR": str(self.db_dir)}
        if self.in_memory:
            environment["SHOP_IN_MEMORY"] = "1"
        environment.update(env)
        process = start_manage("shop", *args, env=environment)
        self.addCleanup(process.stop)
        return process

    def manage(self, *args, **env):
        return self.start(*args, **env).finish()

    def files(self):
        return sorted(path.name for path in self.db_dir.iterdir())

    def database_files(self):
        """Return the SQLite files in the folder, journals and lock files included."""
        return sorted(path.name for path in self.db_dir.iterdir() if ".sqlite3" in path.name)

    def make_real_crm(self):
        """Make the real ``crm`` database file, with a row of precious data."""
        import sqlite3

        real_crm = self.db_dir / "crm.sqlite3"
        with sqlite3.connect(real_crm) as connection:
            connection.execute("CREATE TABLE precious (value TEXT)")
            connection.execute("INSERT INTO precious VALUES ('customer data')")
        connection.close()
        return real_crm

    def assertPassed(self, result, tests=None):
        self.assertEqual(result.returncode, 0, result)
        self.assertRegex(result.stderr, PASSED, result)
        if tests is not None:
            self.assertIn(f"Ran {tests} test", result.stderr, result)

    def assertFailedWith(self, result, *messages):
        self.assertNotEqual(result.returncode, 0, result)
        for message in messages:
            self.assertIn(message, result.output, result)

    def assertFailedWithErrors(self, result, *messages):
        """Exit code 1, a FAILED verdict, and every message in the output."""
        self.assertEqual(result.returncode, 1, result)
        self.assertRegex(result.stderr, r"\nFAILED \((failures|errors)=", result)
        for message in messages:
            self.assertIn(message, result.output, result)

    def assertConfigurationError(self, result, message):
        """One clear message, non-zero exit, no traceback, nothing created."""
        self.assertEqual(result.returncode, 1, result)
        self.assertIn(f"ConfigurationError: {message}", result.stderr, result)
        self.assertNotIn("Traceback", result.output, result)
        self.assertNotIn("Creating test database", result.output, result)
        self.assertEqual(self.files(), [], "a database file was created")

    def assertNoDatabaseFiles(self, result):
        self.assertEqual(self.database_files(), [], result)
