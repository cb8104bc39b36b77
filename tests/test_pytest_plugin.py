"""
End-to-end: pytest with ``-p multidb_runner.pytest_plugin`` on the ``library`` sample project.

The project (``tests/pytest_projects/library``) is tested the pytest-django
way: the ``django_db`` mark, the ``db`` / ``transactional_db`` fixtures and
their kin, and a few Django test classes, with a mirror replica, a second
primary and a legacy database of unmanaged models. Each run is a real
``pytest`` in a subprocess, serial and with ``-n 2``, on the backend the
suite runs on (``MULTIDB_TEST_BACKEND``; "sqlite" covers in-memory SQLite
too). The real databases hold one row each, checked after every run, and no
test database (or SQLite file, or lock file) may be left behind.

Needs pytest, pytest-django and pytest-xdist (``pip install
'multidb-runner[pytest]'``); skipped without them, and when
``MULTIDB_PYTEST_PLUGIN_TESTS=0`` (CI runs this module in a step of its own
per backend, not in every suite run).
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from django.test import SimpleTestCase

from .e2e import BACKEND, REPO, Result

PROJECT = Path(__file__).resolve().parent / "pytest_projects" / "library"
#: The project's real rows, put there before the runs and checked after each.
REAL_ROWS = {"default": ["Real book"], "other": ["Real review"], "legacy": ["Real record"]}
#: Tests in the project, beside the fault test (skipped unless asked for).
PROJECT_TESTS = 22

MISSING = [name for name in ("pytest", "pytest_django", "xdist") if importlib.util.find_spec(name) is None]


def project_backends() -> list[str]:
    """Return the project backends to run on, for the suite's backend."""
    return ["sqlite", "sqlite-memory"] if BACKEND in ("sqlite", "sqlite-memory") else [BACKEND]


def outcome_counts(output: str) -> dict[str, int]:
    """Return pytest's closing counts: ``{"passed": 19, "failed": 1}``."""
    last = [line for line in output.splitlines() if re.search(r"\b(passed|failed|error|errors|skipped)\b", line)]
    if not last:
        return {}
    found = re.findall(r"(\d+) (passed|failed|errors?|skipped)", last[-1])
    return {word.replace("errors", "error"): int(number) for number, word in found}


@unittest.skipIf(MISSING, f"needs {', '.join(MISSING)}: pip install 'multidb-runner[pytest]'")
@unittest.skipIf(os.environ.get("MULTIDB_PYTEST_PLUGIN_TESTS") == "0", "MULTIDB_PYTEST_PLUGIN_TESTS=0")
class PytestPluginTests(SimpleTestCase):
    """Runs of the sample project, on each backend in turn (see ``project_backends``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = Path(tempfile.mkdtemp(prefix="multidb_pyplug_"))
        # Server database names of this run only: pyplug<pid>_default, test_pyplug<pid>_default_gw0...
        cls.prefix = f"pyplug{os.getpid()}"
        cls.seeded: set[str] = set()

    @classmethod
    def tearDownClass(cls):
        try:
            for backend in cls.seeded:
                cls.manage(backend, "library_state", "drop")
        finally:
            shutil.rmtree(cls.folder, ignore_errors=True)
            super().tearDownClass()

    @classmethod
    def environment(cls, backend: str, **extra: str) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYPLUG_"))}
        environment.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            MULTIDB_TEST_BACKEND=backend,
            PYPLUG_DB_DIR=str(cls.folder / backend),
            PYPLUG_PREFIX=cls.prefix,
            **extra,
        )
        return environment

    @classmethod
    def manage(cls, backend: str, *args: str) -> str:
        completed = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT,
            env=cls.environment(backend),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return completed.stdout

    def seed(self, backend: str) -> None:
        if backend not in self.seeded:
            self.manage(backend, "library_state", "seed")
            self.seeded.add(backend)

    def pytest(self, backend: str, *args: str, plugin: bool = True, env: dict[str, str] | None = None) -> Result:
        """Run pytest on the project; return its outcome."""
        self.seed(backend)
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfE"]
        if plugin:
            command += ["-p", "multidb_runner.pytest_plugin"]
        completed = subprocess.run(
            [*command, *args],
            cwd=PROJECT,
            env=self.environment(backend, **(env or {})),
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        return Result(completed)

    def state(self, backend: str) -> dict:
        return json.loads(self.manage(backend, "library_state", "report"))

    def assertUntouched(self, backend: str, leftovers: tuple[str, ...] = ()) -> None:
        """Assert the real rows are as seeded, and that no test database is left (but ``leftovers``)."""
        state = self.state(backend)
        self.assertEqual(state["rows"], REAL_ROWS, backend)
        self.assertEqual(state["leftovers"], sorted(leftovers), backend)

    def assertOutcomes(self, result: Result, returncode: int = 0, **counts: int) -> None:
        self.assertEqual(result.returncode, returncode, result)
        self.assertEqual(outcome_counts(result.stdout), counts, result)

    # The runs ------------------------------------------------------------------------

    def test_plain_pytest_django_fails_the_project(self):
        for backend in project_backends():
            with self.subTest(backend=backend):
                result = self.pytest(backend, plugin=False)
                self.assertEqual(result.returncode, 1, result)
                self.assertEqual(outcome_counts(result.stdout)["passed"], 8, result)
                self.assertIn(
                    "Database queries to 'other' are not allowed in this test. Add 'other' to "
                    "pytest_django.fixtures._django_db_helper.<locals>.PytestDjangoTestCase.databases",
                    result.stdout,
                )
                self.assertUntouched(backend)

    def test_every_test_passes_serially(self):
        for backend in project_backends():
            with self.subTest(backend=backend):
                result = self.pytest(backend, "-v")
                self.assertOutcomes(result, passed=PROJECT_TESTS, skipped=1)
                plan = result.stdout[result.stdout.index("Database plan:") :]
                self.assertRegex(plan, r"replica\s+.+?\s+mirror of default")
                self.assertRegex(plan, r"legacy\s+.+?\s+created( on first use)?\s+archive_record")
                self.assertUntouched(backend)

    def test_settings_name_test_databases_from_the_start(self):
        # Alone, the test's mark asks pytest-django for default only: default
        # is set up before the tests, with stock's line, 'other' and
        # 'legacy' on first use, their settings naming their test databases.
        for backend in project_backends():
            with self.subTest(backend=backend):
                result = self.pytest(backend, "-v", "-k", "test_settings_name_test_databases_before_any_query")
                self.assertOutcomes(result, passed=1)
                plan = result.stdout[result.stdout.index("Database plan:") :]
                self.assertRegex(plan, r"default\s+.+?\s+created\s")
                self.assertRegex(plan, r"other\s+-\s+not used")
                self.assertUntouched(backend)

    def test_every_test_passes_with_xdist(self):
        for backend in project_backends():
            with self.subTest(backend=backend):
                result = self.pytest(backend, "-n", "2", "-v")
                self.assertOutcomes(result, passed=PROJECT_TESTS, skipped=1)
                if backend != "sqlite-memory":
                    # Each worker had its own copy of every database, named by pytest-django.
                    for worker in ("gw0", "gw1"):
                        self.assertRegex(result.stdout, rf"test_\S*_{worker}\S*\s+created")
                    self.assertRegex(result.stdout, r"replica\s+\S*test_\S*default\S*_gw\d\S*\s+mirror of default")
                self.assertUntouched(backend)

    def test_report_db_usage_in_the_terminal_summary(self):
        backend = project_backends()[0]
        for args in ((), ("-n", "2")):
            with self.subTest(args=args):
                result = self.pytest(backend, "--report-db-usage", *args)
                self.assertOutcomes(result, passed=PROJECT_TESTS, skipped=1)
                self.assertIn("Database usage by test class", result.stdout)
                self.assertRegex(
                    result.stdout,
                    r"test_functions.py::test_review_on_second_primary\]\s+"
                    r"given: default, legacy, other, replica; used: other",
                )
                self.assertRegex(
                    result.stdout, r"test_classes.DeclaredTests\s+declared: default, other; used: default, other"
                )
        self.assertUntouched(backend)

    def test_databases_selection_from_the_flag_and_the_ini_option(self):
        backend = project_backends()[0]
        for args in (("--databases", "default,replica"), ("-o", "multidb_databases=default,replica")):
            with self.subTest(args=args):
                result = self.pytest(backend, *args, "-k", "second_primary or explicit")
                self.assertOutcomes(result, returncode=1, passed=1, failed=1)
                self.assertIn(
                    "keeps Django's default databases, and the runner gave it only the aliases selected by "
                    "--databases (default, replica)",
                    result.stdout,
                )
        self.assertUntouched(backend)

    def test_no_managed_legacy(self):
        backend = project_backends()[0]
        result = self.pytest(backend, "--no-managed-legacy", "-k", "legacy_record")
        self.assertOutcomes(result, returncode=1, failed=1)
        self.assertRegex(result.stdout, r"no such table|does(n't| not) exist")
        self.assertUntouched(backend)

    def test_configuration_mistake_is_a_usage_error(self):
        backend = project_backends()[0]
        result = self.pytest(backend, "--databases", "nosuch")
        self.assertEqual(result.returncode, 4, result)
        self.assertIn("nosuch", result.stderr)
        self.assertUntouched(backend)

    def test_pytest_django_is_required(self):
        backend = project_backends()[0]
        result = self.pytest(backend, "-p", "no:django")
        self.assertEqual(result.returncode, 4, result)
        self.assertIn("multidb_runner.pytest_plugin runs on top of pytest-django, which is disabled", result.stderr)

    def test_test_database_over_a_real_one_is_refused(self):
        backend = project_backends()[0]
        result = self.pytest(backend, "-k", "review_on_second_primary", env={"PYPLUG_CLOBBER": "1"})
        self.assertOutcomes(result, returncode=1, error=1)
        self.assertIn("is the real database of alias 'default'. Creating it would destroy that data.", result.stdout)
        self.assertUntouched(backend)

    def test_reuse_db_keeps_the_databases_and_create_db_recreates_them(self):
        for backend in project_backends():
            with self.subTest(backend=backend):
                first = self.pytest(backend, "--reuse-db")
                self.assertOutcomes(first, passed=PROJECT_TESTS, skipped=1)
                kept = self.state(backend)["leftovers"]
                if backend == "sqlite-memory":
                    self.assertEqual(kept, [])
                else:
                    # default, other, legacy (on a server, each with its snapshot); no lock file.
                    self.assertEqual(len(kept), 6 if backend == "postgresql" else 3, kept)
                again = self.pytest(backend, "--reuse-db", "--create-db")
                self.assertOutcomes(again, passed=PROJECT_TESTS, skipped=1)
                self.assertEqual(self.state(backend)["leftovers"], kept)
                # A run without --reuse-db destroys them.
                self.assertOutcomes(self.pytest(backend), passed=PROJECT_TESTS, skipped=1)
                self.assertUntouched(backend)

    def test_a_crashed_worker_leaves_nothing_behind(self):
        for backend in project_backends():
            with self.subTest(backend=backend):
                result = self.pytest(backend, "-n", "2", env={"PYPLUG_FAULT": "crash"})
                self.assertOutcomes(result, returncode=1, passed=PROJECT_TESTS, failed=1)
                self.assertRegex(result.stdout, r"worker 'gw\d' crashed while running")
                if backend != "sqlite-memory":
                    self.assertRegex(result.stdout, r"Destroyed the test databases left by workers that died: \S*test_")
                self.assertUntouched(backend)

    def test_ctrl_c_leaves_nothing_behind(self):
        for backend in project_backends():
            for args in ((), ("-n", "2")):
                with self.subTest(backend=backend, args=args):
                    returncode, output = self.interrupted_run(backend, *args)
                    self.assertEqual(returncode, 2, output)
                    self.assertIn("KeyboardInterrupt", output)
                    self.assertUntouched(backend)

    def interrupted_run(self, backend: str, *args: str) -> tuple[int, str]:
        """Run pytest until the fault test waits, then press Ctrl-C (SIGINT to the process group)."""
        self.seed(backend)
        ready = self.folder / "ready"
        for path in glob.glob(f"{ready}.*"):
            os.remove(path)
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "multidb_runner.pytest_plugin", *args],
            cwd=PROJECT,
            env=self.environment(backend, PYPLUG_FAULT="wait", PYPLUG_READY=str(ready)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not glob.glob(f"{ready}.*") and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            os.killpg(process.pid, signal.SIGINT)
            output, _ = process.communicate(timeout=120)
        except BaseException:
            process.kill()
            process.communicate()
            raise
        return process.returncode, output


@unittest.skipIf(MISSING, f"needs {', '.join(MISSING)}: pip install 'multidb-runner[pytest]'")
@unittest.skipIf(os.environ.get("MULTIDB_PYTEST_PLUGIN_TESTS") == "0", "MULTIDB_PYTEST_PLUGIN_TESTS=0")
class PluginWithoutSettingsTests(SimpleTestCase):
    """The plugin stays out of the way until pytest-django has a configured Django, as pytest-django does."""

    def run_in(self, folder: Path, *args: str, **extra: str) -> Result:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
        environment.pop("PYTEST_ADDOPTS", None)
        environment.update(PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), **extra)
        completed = subprocess.run(
            [sys.executable, *args],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return Result(completed)

    def folder(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="multidb_nosettings_"))
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        return folder

    def test_importing_the_package_and_the_plugin_imports_no_django(self):
        code = (
            "import sys, multidb_runner, multidb_runner.pytest_plugin\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'coverage')))\n"
            "print(multidb_runner.__version__)\n"
        )
        result = self.run_in(self.folder(), "-c", code)
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(result.stdout.splitlines()[0], "[]", result)

    def test_public_names_are_there_on_first_use(self):
        code = (
            "import multidb_runner\n"
            "from multidb_runner import MultiDBRunner, ConfigurationError, DEFAULTS\n"
            "print(MultiDBRunner.__module__, ConfigurationError.__module__, sorted(DEFAULTS)[:1])\n"
            "multidb_runner.NoSuchName\n"
        )
        result = self.run_in(self.folder(), "-c", code, DJANGO_SETTINGS_MODULE="tests.settings")
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("multidb_runner.runner multidb_runner.errors", result.stdout)
        self.assertIn("AttributeError: module 'multidb_runner' has no attribute 'NoSuchName'", result.stderr)

    def test_help_and_version_with_settings_that_do_not_import(self):
        folder = self.folder()
        for flag in ("--help", "--version"):
            with self.subTest(flag=flag):
                result = self.run_in(
                    folder, "-m", "pytest", "-p", "multidb_runner.pytest_plugin", "--ds", "no_such_settings", flag
                )
                self.assertEqual(result.returncode, 0, result)
                self.assertNotIn("Traceback", result.stderr)
                self.assertIn("pytest", result.output)
        help_result = self.run_in(folder, "-m", "pytest", "-p", "multidb_runner.pytest_plugin", "--help")
        self.assertIn("--report-db-usage", help_result.stdout)

    def test_a_run_without_settings_does_not_load_django(self):
        folder = self.folder()
        (folder / "test_plain.py").write_text(
            "import sys\n\n\ndef test_django_not_loaded():\n    assert 'django' not in sys.modules\n"
        )
        result = self.run_in(folder, "-m", "pytest", "-p", "multidb_runner.pytest_plugin", "-p", "no:cacheprovider")
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(outcome_counts(result.stdout), {"passed": 1}, result)
