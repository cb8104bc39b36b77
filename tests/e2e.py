"""
The harness of the end-to-end tests: run a sample project's ``manage.py`` (or ``python -m django``) in a subprocess.

Every run is a ``ProjectProcess``: in a process group of its own, so that
a safety-net timeout or a test's cleanup stops its workers too, with
Ctrl-C handled as in a terminal, never waiting for input. Its ``Result``
holds the exit code and the output, for the test to check with the
databases left afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECTS = Path(__file__).resolve().parent / "projects"
STOCK_RUNNER = "django.test.runner.DiscoverRunner"
#: The backend the suite runs on; the SQLite sample-project runs go with "sqlite".
BACKEND = os.environ.get("MULTIDB_TEST_BACKEND", "sqlite")
#: Safety net: a run that takes longer is stopped, workers and all, and fails the test.
RUN_TIMEOUT = 300
#: The variables of the suite's own run that must not reach a sample project by default.
PROJECT_PREFIXES = ("DJANGO_", "SHOP_")


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


def project_environment(env: dict[str, str] | None = None, *, drop: Iterable[str] = PROJECT_PREFIXES) -> dict[str, str]:
    """
    Return the environment of a sample project's run: this one's, with the repository importable, plus ``env``.

    The variables starting with one of ``drop`` steer the suite's own run
    (its settings module, its options) and would steer the project's too.
    """
    environment = {key: value for key, value in os.environ.items() if not key.startswith(tuple(drop))}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    environment.update(env or {})
    return environment


def default_signal_handling() -> None:
    """
    Start the run with the signals tests send handled as in a terminal.

    A process inherits an ignored SIGINT, as when this suite itself runs
    with --parallel (workers ignore Ctrl-C), and Python then leaves it
    ignored.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


class ProjectProcess:
    """A command of a sample project, running in a process group of its own, its output in pipes."""

    def __init__(self, command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=default_signal_handling,
        )
        self.pid = self.process.pid

    def finish(self, timeout: float = RUN_TIMEOUT) -> Result:
        """Wait for the run to end and return its Result; fail if it takes longer than ``timeout``."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            stdout, stderr = self.process.communicate()
            raise AssertionError(
                f"{' '.join(self.process.args[1:])} did not finish within {timeout} s; stopped it.\n"
                f"--- stdout\n{stdout}\n--- stderr\n{stderr}"
            ) from None
        return Result(subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr))

    def kill_group(self) -> None:
        """Kill the run's process group: the main process, its workers and helpers."""
        # Only while the main process is not reaped: until then its pid, the
        # group's id, cannot have been given to an unrelated process.
        if self.process.returncode is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Make sure nothing of the run is left running (a test cleanup)."""
        if self.process.returncode is None:
            self.kill_group()
            self.process.communicate()

    def wait_for_death_unreaped(self) -> None:
        """Wait until the main process has ended, leaving it a zombie (so the group id stays ours)."""
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)


def start_manage(
    project: str, *args: str, env: dict[str, str] | None = None, python: list[str] | None = None
) -> ProjectProcess:
    """
    Start ``python manage.py ARGS`` in ``tests/projects/PROJECT`` with the repository importable.

    ``python`` replaces the interpreter part of the command (for example
    ``[sys.executable, "-m", "coverage", "run"]``); with ``[..., "-m", "coverage"]``
    and no manage.py, pass the coverage command as ARGS.
    """
    if python is None:
        command = [sys.executable, "manage.py", *args]
    elif python[-1] == "coverage":
        command = [*python, *args]
    else:
        command = [*python, "manage.py", *args]
    return ProjectProcess(command, cwd=PROJECTS / project, env=project_environment(env))


def finished(process: ProjectProcess, timeout: float) -> Result:
    """Return the Result of ``process``; whatever happens meanwhile (Ctrl-C), leave nothing of it running."""
    try:
        return process.finish(timeout)
    finally:
        process.stop()


def run_manage(
    project: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
    python: list[str] | None = None,
) -> Result:
    """Run ``python manage.py ARGS`` in ``tests/projects/PROJECT`` (see ``start_manage``); return its Result."""
    return finished(start_manage(project, *args, env=env, python=python), timeout)


def run_django_test(*args: str, cwd: Path, env: dict[str, str], timeout: float = RUN_TIMEOUT) -> Result:
    """Run ``python -m django test ARGS`` in ``cwd`` with the environment ``env`` as it is."""
    return finished(ProjectProcess([sys.executable, "-m", "django", "test", *args], cwd=cwd, env=env), timeout)


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
