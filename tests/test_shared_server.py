"""
End-to-end: two runs of this suite at once on one database server.

Each run gets its own --db-suffix token, so neither drops the other's test
databases; afterwards the server holds no test database at all.
"""

import os
import subprocess
import sys

from django.db import connections
from django.test import SimpleTestCase

from .e2e import REPO, make_temp_dir, only_with_backend


def server_databases():
    """Return the names of the databases on the server of ``default``'s real settings."""
    connection = connections["default"]
    with connection._nodb_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT datname FROM pg_database")
        else:
            cursor.execute("SHOW DATABASES")
        return {row[0] for row in cursor.fetchall()}


@only_with_backend("postgresql", "mariadb")
class ConcurrentRunsTests(SimpleTestCase):
    def start(self, barrier, name, peer, *args, **extra_env):
        environment = {
            **os.environ,
            **extra_env,
            "MULTIDB_BARRIER_DIR": str(barrier),
            "MULTIDB_BARRIER_NAME": name,
            "MULTIDB_BARRIER_PEER": peer,
        }
        environment.pop("MULTIDB_RUNNER_DB_SUFFIX", None)
        return subprocess.Popen(
            [sys.executable, "runtests.py", "tests.barrier", "tests.test_injection_in_suite", "--noinput", *args],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def test_two_runs_with_their_own_tokens_both_pass(self):
        barrier = make_temp_dir(self)
        first = self.start(barrier, "runA", "runB", "--db-suffix", "runA", "--parallel", "2")
        second = self.start(barrier, "runB", "runA", "--db-suffix", "runB")
        outputs = [process.communicate(timeout=300)[0] for process in (first, second)]
        password = connections["default"].settings_dict["PASSWORD"]
        for process, output in zip((first, second), outputs, strict=True):
            self.assertEqual(process.returncode, 0, output)
            self.assertIn("\nOK\n", output)
            if password:
                self.assertNotIn(password, output)
        names_a = (barrier / "runA").read_text().split(",")
        names_b = (barrier / "runB").read_text().split(",")
        self.assertTrue(all(name.endswith("_runA_1") or name.endswith("_runA_2") for name in names_a), names_a)
        self.assertTrue(all(name.endswith("_runB") for name in names_b), names_b)
        # Only these two runs' names: other tests of a parallel run create and
        # drop databases of their own on the same server meanwhile.
        left_behind = {name for name in server_databases() if name.endswith(("_runA", "_runA_1", "_runA_2", "_runB"))}
        self.assertEqual(left_behind, set())

    def test_auto_token_from_the_ci_environment(self):
        barrier = make_temp_dir(self)
        (barrier / "peer").write_text("")
        process = self.start(
            barrier, "solo", "peer", "--db-suffix", "auto", "-v", "2", GITHUB_RUN_ID="4711", GITHUB_RUN_ATTEMPT="2"
        )
        output = process.communicate(timeout=300)[0]
        self.assertEqual(process.returncode, 0, output)
        self.assertRegex(output, r"\ndefault\s+test_multidb_default_gh4711_2\s+created")
        self.assertTrue((barrier / "solo").read_text().startswith("test_multidb_default_gh4711_2,"))
