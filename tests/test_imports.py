"""
What importing the runner costs: a serial run imports none of what it does not use.

Each check runs a fresh interpreter (modules imported by this test process
would hide what the import pulls in), with the suite's settings.
"""

from __future__ import annotations

import os
import subprocess
import sys

from django.test import SimpleTestCase

from .e2e import REPO

#: Modules only a parallel run, or a report asked for (JUnit XML, durations, shards), needs.
NOT_FOR_A_SERIAL_RUN = (
    "multidb_runner.parallel.suite",
    "multidb_runner.parallel.worker",
    "multidb_runner.parallel.dead_workers",
    "multidb_runner.reports.results",
    "multidb_runner.reports.durations",
    "multidb_runner.planning.sharding",
    "coverage",
)


class RunnerImportTests(SimpleTestCase):
    def run_python(self, code: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    def test_the_runner_imports_no_parallel_machinery_and_no_reports(self):
        code = (
            "import sys, django\n"
            "django.setup()\n"
            "from multidb_runner import MultiDBRunner\n"
            "runner = MultiDBRunner(verbosity=0)\n"
            f"print(sorted(name for name in {NOT_FOR_A_SERIAL_RUN!r} if name in sys.modules))\n"
            # Asked for, as Django asks for it in a parallel run: there.
            "print(MultiDBRunner.parallel_test_suite.__name__, runner.parallel_test_suite.__module__)\n"
        )
        result = self.run_python(code)
        self.assertEqual(result.returncode, 0, result.stderr)
        imported, suite = result.stdout.splitlines()
        self.assertEqual(imported, "[]")
        self.assertEqual(suite, "MultiDBParallelTestSuite multidb_runner.parallel.suite")
