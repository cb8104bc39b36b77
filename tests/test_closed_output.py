"""
End-to-end: the output's reader goes away mid-run, and the cleanup still completes.

``manage.py test 2>&1 | head -1`` closes the pipe once ``head`` has its
line; every later write fails. Each test runs ``manage.py test`` of
``tests/projects/faults`` (real databases of its own, see ``faults_support``)
with its output in a pipe, waits until a test is running (the project's
``WaitsForRelease`` says so with a marker file), closes the pipe, lets the
test finish, and waits for the run to end: no test database may be left,
and every real database keeps its rows. Runs on MULTIDB_TEST_BACKEND's
backend (SQLite files, PostgreSQL, MariaDB).
"""

import os
import signal
import subprocess
import sys
import time

from django.test import SimpleTestCase

from .e2e import BACKEND
from .faults_support import (
    FAULTS_PROJECT,
    POLL_SECONDS,
    PRECIOUS_ROWS,
    RUN_TIMEOUT,
    WAIT_SECONDS,
    Sandbox,
    default_signal_handling,
    server_unavailable,
)

#: A command killed by SIGPIPE exits with it; so does a run cut short by a closed output.
OUTPUT_CLOSED = 128 + signal.SIGPIPE


class ClosedOutputTests(SimpleTestCase):
    def setUp(self):
        reason = server_unavailable(BACKEND)
        if reason:
            self.skipTest(reason)
        self.sandbox = Sandbox(BACKEND, self)
        self.sandbox.create_real_databases()

    def start(self, *args, stderr):
        """Start ``manage.py test faultapp ARGS`` with stdout a pipe; the test WaitsForRelease waits."""
        process = subprocess.Popen(
            [sys.executable, "manage.py", "test", "faultapp", "--noinput", *args],
            cwd=FAULTS_PROJECT,
            env=self.sandbox.env(FAULTS_WAIT="1"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=default_signal_handling,
        )
        self.addCleanup(self.stop, process)
        return process

    @staticmethod
    def stop(process):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()

    def wait_until_a_test_waits(self, process):
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.sandbox.marker("waiting").exists():
            self.assertIsNone(process.poll(), "the run ended before WaitsForRelease started")
            self.assertLess(time.monotonic(), deadline, "WaitsForRelease never started")
            time.sleep(POLL_SECONDS)

    def finish(self, process):
        """Let the waiting test finish; return the run's exit status."""
        self.sandbox.marker("release").touch()
        return process.wait(timeout=RUN_TIMEOUT)

    def assertCleanedUp(self):
        harmed = {name: rows for name, rows in self.sandbox.precious_counts().items() if rows != PRECIOUS_ROWS}
        self.assertEqual(harmed, {}, "real databases lost rows")
        self.assertEqual(self.sandbox.leftovers(), [], "the run left test databases (or lock files) behind")

    def test_output_closed_after_its_first_line(self):
        """``manage.py test -v 2 2>&1 | head -1``: stopped, cleaned up, exit status 141."""
        process = self.start("-v", "2", stderr=subprocess.STDOUT)
        self.wait_until_a_test_waits(process)
        # A line is there by now: the test's database was created on its first use (-v 2 says so).
        self.assertTrue(process.stdout.readline().strip())
        process.stdout.close()
        self.assertEqual(self.finish(process), OUTPUT_CLOSED)
        self.assertCleanedUp()

    def test_standard_output_closed_while_standard_error_is_read(self):
        """``manage.py test | head -1``: the run completes; what is left for stdout is discarded, quietly."""
        stderr_path = self.sandbox.marker_dir / "stderr.txt"
        with open(stderr_path, "w") as stderr:
            process = self.start(stderr=stderr)
        self.wait_until_a_test_waits(process)
        process.stdout.close()
        returncode = self.finish(process)
        errors = stderr_path.read_text()
        self.assertEqual(returncode, 0, errors)
        self.assertRegex(errors, r"\nOK( \(.*\))?\n")
        # Not Python's own "Exception ignored ... BrokenPipeError" at exit, nor a traceback.
        self.assertNotIn("BrokenPipeError", errors)
        self.assertNotIn("Traceback", errors)
        self.assertCleanedUp()
