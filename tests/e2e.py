"""Helpers for end-to-end tests: run ``manage.py test`` of a sample project in a subprocess."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECTS = Path(__file__).resolve().parent / "projects"
STOCK_RUNNER = "django.test.runner.DiscoverRunner"
#: The backend the suite runs on; the SQLite sample-project runs go with "sqlite".
BACKEND = os.environ.get("MULTIDB_TEST_BACKEND", "sqlite")


def only_with_backend(*backends: str):
    """Run an end-to-end test class only when the suite runs on one of ``backends``."""
    import unittest

    return unittest.skipUnless(BACKEND in backends, f"end-to-end runs for {', '.join(backends)} only")


class Result:
    """The outcome of one subprocess run."""

    def __init__(self, completed: subprocess.CompletedProcess[str]) -> None:
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.output = completed.stdout + completed.stderr

    def __repr__(self) -> str:
        return f"<Result rc={self.returncode}>\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_manage(
    project: str, *args: str, env: dict[str, str] | None = None, timeout: int = 300, python: list[str] | None = None
) -> Result:
    """
    Run ``python manage.py ARGS`` in ``tests/projects/PROJECT`` with the repository importable.

    ``python`` replaces the interpreter part of the command (for example
    ``[sys.executable, "-m", "coverage", "run"]``); with ``[..., "-m", "coverage"]``
    and no manage.py, pass the coverage command as ARGS.
    """
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SHOP_"))}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    environment.update(env or {})
    if python is None:
        command = [sys.executable, "manage.py", *args]
    elif python[-1] == "coverage":
        command = [*python, *args]
    else:
        command = [*python, "manage.py", *args]
    completed = subprocess.run(
        command,
        cwd=PROJECTS / project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(completed)


def run_django_test(*args: str, cwd: Path, env: dict[str, str], timeout: int = 300) -> Result:
    """Run ``python -m django test ARGS`` in ``cwd`` with the environment ``env``, never waiting for input."""
    completed = subprocess.run(
        [sys.executable, "-m", "django", "test", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(completed)


def make_temp_dir(test_case) -> Path:
    """Return a new folder removed when ``test_case`` ends."""
    path = Path(tempfile.mkdtemp(prefix="multidb_e2e_"))
    test_case.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def sqlite_rows(path: Path, sql: str) -> list[tuple]:
    """Return the rows of ``sql`` run on the SQLite file at ``path``."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def sqlite_tables(path: Path) -> set[str]:
    """Return the names of the tables in the SQLite file at ``path``."""
    return {name for (name,) in sqlite_rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
