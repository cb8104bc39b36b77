"""
Support for ``test_faults``: real databases to protect, and runs of the faults project.

A ``Sandbox`` is what one run of ``tests/projects/faults`` may touch: real
databases named with a random token (on a server, ``f<token>_main``...; with
SQLite, files in a fresh folder), each holding a table ``precious`` of
PRECIOUS_ROWS rows, and a folder of marker files shared with the project.
It counts those rows after the run, lists what the run left behind, and
drops everything with its token when the test ends.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from multidb_runner.setup.lock_files import CLAIMS_FOLDER
from multidb_runner.setup.locks import lock_key, lock_name

from .e2e import (
    PROJECTS,
    REPO,
    ProjectProcess,
    Result,
    default_signal_handling,
    make_temp_dir,
    project_environment,
)

FAULTS_PROJECT = PROJECTS / "faults"
#: Safety net: a run that takes longer is stopped, workers and all, and fails the test.
RUN_TIMEOUT = 120
#: How long processes of a run may outlive its main process before they count as left behind.
ORPHAN_SECONDS = 10
#: Upper bound of every wait for the run to reach a point.
WAIT_SECONDS = 60
POLL_SECONDS = 0.05
PRECIOUS_ROWS = 3
#: The base names of the real databases: default, other, legacy (replica reads main).
REAL_DATABASES = ("main", "other", "legacy")
#: Environment variables of the suite's own run that must not reach the project.
PRIVATE_PREFIXES = ("DJANGO_", "FAULTS_", "MULTIDB_RUNNER_", "MULTIDB_TEST_")
MISSING = "missing"
NO_TABLE = "no table"
#: The folder of the runner's claim files, shared by every run on the machine.
CLAIMS = Path(tempfile.gettempdir(), CLAIMS_FOLDER)


def claim_files(token: str) -> set[str]:
    """Return the runner's claim files whose names contain ``token``."""
    if not CLAIMS.is_dir():
        return set()
    return {f"{CLAIMS_FOLDER}/{entry}" for entry in os.listdir(CLAIMS) if token in entry}


class SQLiteFolder:
    """SQLite files in one folder: a database is a file name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def name(self, base: str, prefix: str) -> str:
        return f"{base}.sqlite3"

    def settings(self, prefix: str) -> dict[str, str]:
        return {"FAULTS_BACKEND": "sqlite", "FAULTS_DB_DIR": str(self.folder)}

    def create(self, name: str, rows: int | None) -> None:
        if rows is None:
            # An empty file, as ``touch`` makes.
            (self.folder / name).touch()
            return
        connection = sqlite3.connect(self.folder / name)
        try:
            create_precious(connection, rows, "?")
        finally:
            connection.close()

    def query(self, name: str, sql: str) -> list[tuple]:
        path = self.folder / name
        if not path.exists():
            raise FileNotFoundError(f"no SQLite file {path}")
        # Read-only: connecting must not create (or change) the file.
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    def count_precious(self, name: str) -> int | str:
        if not (self.folder / name).exists():
            return MISSING
        try:
            return self.query(name, "SELECT COUNT(*) FROM precious")[0][0]
        except sqlite3.OperationalError:
            return NO_TABLE

    def existing(self, token: str) -> set[str]:
        """Every file in the folder (databases, journals, lock files), and the runner's claim files on them."""
        return {path.name for path in self.folder.iterdir()} | claim_files(self.folder.name)

    def cut_locks(self, sessions: list[str]) -> int:
        """
        Remove the lock files beside the test databases, as ``rm *.lock`` would; return how many.

        The SQLite counterpart of ending a run's sessions: what made the
        lock is gone while the run goes on.
        """
        lock_files = list(self.folder.glob("test_*.lock"))
        for path in lock_files:
            path.unlink()
        return len(lock_files)

    def drop_all(self, token: str) -> None:
        """Remove the claim files a killed run left; the folder is removed with the test."""
        for name in claim_files(self.folder.name):
            Path(tempfile.gettempdir(), name).unlink(missing_ok=True)


class DatabaseServer:
    """A PostgreSQL or MariaDB server reached with the credentials in the environment."""

    backend = ""
    env_prefix = ""
    #: Lists the databases whose names match a LIKE pattern.
    list_query = ""

    def __init__(self) -> None:
        self.host = os.environ[f"{self.env_prefix}_HOST"]
        self.port = os.environ.get(f"{self.env_prefix}_PORT", "")
        self.user = os.environ[f"{self.env_prefix}_USER"]
        self.password = os.environ.get(f"{self.env_prefix}_PASSWORD", "")

    def name(self, base: str, prefix: str) -> str:
        return f"{prefix}_{base}"

    def settings(self, prefix: str) -> dict[str, str]:
        return {"FAULTS_BACKEND": self.backend, "FAULTS_PREFIX": prefix}

    def connect(self, name: str | None = None):
        raise NotImplementedError

    def quote(self, name: str) -> str:
        raise NotImplementedError

    def execute(self, statement: str, name: str | None = None) -> None:
        connection = self.connect(name)
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()

    def create(self, name: str, rows: int | None) -> None:
        self.execute(f"CREATE DATABASE {self.quote(name)}")
        if rows is not None:
            connection = self.connect(name)
            try:
                create_precious(connection, rows, "%s")
            finally:
                connection.close()

    def query(self, name: str, sql: str) -> list[tuple]:
        connection = self.connect(name)
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            connection.close()

    def count_precious(self, name: str) -> int | str:
        if name not in self.databases(name):
            return MISSING
        try:
            return self.query(name, "SELECT COUNT(*) FROM precious")[0][0]
        except Exception as exc:
            if "precious" in str(exc):
                return NO_TABLE
            raise

    def databases(self, token: str) -> set[str]:
        """Return the databases whose names contain ``token``."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(self.list_query, [f"%{token}%"])
            return {row[0] for row in cursor.fetchall()}
        finally:
            connection.close()

    @staticmethod
    def lock_files(token: str) -> set[str]:
        """Return the files in the temporary folder (and claim files) named after a database with ``token``."""
        return {entry for entry in os.listdir(tempfile.gettempdir()) if token in entry} | claim_files(token)

    def existing(self, token: str) -> set[str]:
        """The databases whose names contain ``token``, and lock files named after them."""
        return self.databases(token) | self.lock_files(token)

    def hold_open(self, name: str):
        """Return an open connection to database ``name``, as another user's session would be."""
        connection = self.connect(name)
        connection.cursor().execute("SELECT 1")
        return connection

    def drop_all(self, token: str) -> None:
        for name in self.databases(token):
            self.drop(name)
        for name in self.lock_files(token):
            Path(tempfile.gettempdir(), name).unlink(missing_ok=True)

    def cut_locks(self, sessions: list[str]) -> int:
        """
        End the server sessions ``sessions`` of a run, as ``wait_timeout`` or an administrator would.

        Wait until the server no longer lists them; return how many were
        still there to end.
        """
        connection = self.connect()
        try:
            cursor = connection.cursor()
            ended = [session for session in map(int, sessions) if self.end_session(cursor, session)]
            deadline = time.monotonic() + WAIT_SECONDS
            while ended:
                listed = self.listed(cursor, ended)
                if not listed:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"sessions {listed} still listed {WAIT_SECONDS} s after they were ended")
                time.sleep(POLL_SECONDS)
            return len(ended)
        finally:
            connection.close()

    def end_session(self, cursor, session: int) -> bool:
        """End ``session``; return False if it had ended already."""
        raise NotImplementedError

    def listed(self, cursor, sessions: list[int]) -> list[int]:
        """Return those of ``sessions`` that the server still lists."""
        raise NotImplementedError

    def take_lock(self, test_name: str):
        """Take the runner's server lock on ``test_name`` as a run on another machine would; return its connection."""
        raise NotImplementedError

    def restart(self) -> None:
        """Restart the server (of .ci/servers.sh), keeping its data; the run's sessions all end."""
        folder = os.environ["MULTIDB_SERVERS_DIR"]
        subprocess.run(
            ["bash", str(REPO / ".ci" / "servers.sh"), f"restart-{self.backend}", folder],
            check=True,
            capture_output=True,
            timeout=RUN_TIMEOUT,
            # The server outlives this test: not in its process group.
            start_new_session=True,
        )

    def drop(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {self.quote(name)}")


class PostgreSQLServer(DatabaseServer):
    backend = "postgresql"
    env_prefix = "PG"
    list_query = "SELECT datname FROM pg_database WHERE datname LIKE %s"

    def listed(self, cursor, sessions: list[int]) -> list[int]:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [sessions])
        return [row[0] for row in cursor.fetchall()]

    def end_session(self, cursor, session: int) -> bool:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s", [session])
        return bool(cursor.fetchall())

    def take_lock(self, test_name: str):
        connection = self.connect()
        connection.execute("SELECT pg_advisory_lock(%s)", [lock_key(test_name)])
        return connection

    def connect(self, name: str | None = None):
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port or None,
            user=self.user,
            password=self.password,
            dbname=name or "postgres",
            autocommit=True,
        )

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def drop(self, name: str) -> None:
        """
        Drop ``name``, ending the sessions a killed run left open on it.

        A session of another role (the server's own, on a loaded machine)
        cannot be ended by this user: then wait for it to go, up to WAIT_SECONDS.
        """
        import psycopg

        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                self.execute(f"DROP DATABASE IF EXISTS {self.quote(name)} WITH (FORCE)")
                return
            except psycopg.errors.InsufficientPrivilege:
                if time.monotonic() > deadline:
                    raise
            time.sleep(POLL_SECONDS)


class MariaDBServer(DatabaseServer):
    backend = "mariadb"
    env_prefix = "MYSQL"
    list_query = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s"

    def listed(self, cursor, sessions: list[int]) -> list[int]:
        # MySQLdb renders a tuple as a parenthesised list of values.
        cursor.execute("SELECT id FROM information_schema.processlist WHERE id IN %s", [tuple(sessions)])
        return [row[0] for row in cursor.fetchall()]

    def end_session(self, cursor, session: int) -> bool:
        import MySQLdb

        try:
            cursor.execute(f"KILL {session}")
        except MySQLdb.OperationalError:  # Unknown thread id: it ended already
            return False
        return True

    def take_lock(self, test_name: str):
        connection = self.connect()
        cursor = connection.cursor()
        cursor.execute("SELECT GET_LOCK(%s, 10)", [lock_name(test_name)])
        if cursor.fetchone()[0] != 1:
            raise AssertionError(f"could not take the lock of {test_name!r}")
        return connection

    def connect(self, name: str | None = None):
        import MySQLdb

        options = {"host": self.host, "user": self.user, "password": self.password, "autocommit": True}
        if self.port:
            options["port"] = int(self.port)
        if name:
            options["database"] = name
        return MySQLdb.connect(**options)

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"


SERVERS = {"postgresql": PostgreSQLServer, "mariadb": MariaDBServer}


def server_unavailable(backend: str) -> str | None:
    """Return why the faults cannot run on ``backend`` here, or None if they can."""
    if backend not in ("sqlite", *SERVERS):
        return f"no fault runs for MULTIDB_TEST_BACKEND={backend!r} (sqlite, postgresql, mariadb only)"
    if backend == "sqlite":
        return None
    variables = [f"{SERVERS[backend].env_prefix}_{key}" for key in ("HOST", "USER")]
    missing = [variable for variable in variables if not os.environ.get(variable)]
    if missing:
        return f"{', '.join(missing)} not set: no {backend} server to inject faults on"
    return None


def restart_unavailable(backend: str) -> str | None:
    """Return why ``backend``'s server cannot be restarted from here, or None if it can."""
    if backend not in SERVERS:
        return f"no server to restart for MULTIDB_TEST_BACKEND={backend!r}"
    folder = os.environ.get("MULTIDB_SERVERS_DIR")
    if not folder:
        return "MULTIDB_SERVERS_DIR not set: no server of .ci/servers.sh to restart"
    data = Path(folder, "pg" if backend == "postgresql" else "mysql", "data")
    if not data.is_dir():
        return f"no data folder {data}: the server was not started by .ci/servers.sh"
    return None


def create_precious(connection, rows: int, placeholder: str) -> None:
    """Create the table ``precious`` with ``rows`` rows in an open DB-API connection."""
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE precious (id INTEGER PRIMARY KEY, label VARCHAR(50))")
    for number in range(1, rows + 1):
        cursor.execute(
            f"INSERT INTO precious (id, label) VALUES ({placeholder}, {placeholder})", [number, f"row {number}"]
        )
    connection.commit()


def group_members(group: int) -> list[int]:
    """Return the live processes of process group ``group`` other than its leader (Linux /proc)."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == group:
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry))
    return members


class FaultsResult(Result):
    """The outcome of one run, and the processes of it that outlived its main process."""

    def __init__(self, completed: subprocess.CompletedProcess[str], stragglers: list[int]) -> None:
        super().__init__(completed)
        self.stragglers = stragglers

    def __repr__(self) -> str:
        stragglers = f"\n--- processes left running (killed): {self.stragglers}" if self.stragglers else ""
        return super().__repr__() + stragglers


class FaultsProcess(ProjectProcess):
    """``manage.py ARGS`` of the faults project, in a session of its own, output in files."""

    counter = 0

    def __init__(self, args: tuple[str, ...], env: dict[str, str], output_dir: Path, stdin: str | None) -> None:
        """``stdin``: text to send then close, "" for an empty stdin, None to keep it open."""
        FaultsProcess.counter += 1
        self.stdout_path = output_dir / f"stdout-{FaultsProcess.counter}.txt"
        self.stderr_path = output_dir / f"stderr-{FaultsProcess.counter}.txt"
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=FAULTS_PROJECT,
                env=env,
                stdin=subprocess.DEVNULL if stdin == "" else subprocess.PIPE,
                stdout=stdout,
                stderr=stderr,
                text=True,
                start_new_session=True,
                preexec_fn=default_signal_handling,
            )
        self.pid = self.process.pid
        if stdin:
            self.process.stdin.write(stdin)
            self.process.stdin.close()

    def output(self) -> str:
        """Return what the run printed so far, stdout then stderr."""
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def has_ended(self) -> bool:
        """Return whether the main process ended (left unreaped, so that its group id stays ours)."""
        if self.process.returncode is not None:
            return True
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def wait_until(self, condition, what: str) -> None:
        """Poll ``condition`` while the run goes on; fail if the run ends first or after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if self.has_ended():
                raise AssertionError(f"the run ended before {what}.\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {WAIT_SECONDS} s.\n{self.output()}")
            time.sleep(POLL_SECONDS)

    def wait_for_output(self, text: str) -> None:
        self.wait_until(lambda: text in self.output(), f"{text!r} in the output")

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def finish(self, timeout: float = RUN_TIMEOUT) -> FaultsResult:
        """
        Wait for the run to end and return its Result; fail if it takes longer than ``timeout``.

        ``result.stragglers`` lists the processes of the run (workers) still
        running ORPHAN_SECONDS after the main process ended; they are killed.
        """
        deadline = time.monotonic() + timeout
        timed_out = False
        while not self.has_ended():
            if time.monotonic() > deadline:
                timed_out = True
                self.kill_group()
                break
            time.sleep(POLL_SECONDS)
        stragglers = self.wait_for_group(ORPHAN_SECONDS)
        if stragglers:
            self.kill_group()
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait()
        stdout = self.stdout_path.read_text(errors="replace")
        stderr = self.stderr_path.read_text(errors="replace")
        if timed_out:
            raise AssertionError(
                f"manage.py did not finish within {timeout} s; stopped it.\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
            )
        completed = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
        return FaultsResult(completed, stragglers)

    def wait_for_group(self, seconds: float) -> list[int]:
        """Wait up to ``seconds`` for the rest of the run's process group to end; return who is left."""
        deadline = time.monotonic() + seconds
        while (members := group_members(self.pid)) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        return members

    def stop(self) -> None:
        """Make sure nothing of the run is left running (a test cleanup)."""
        if self.process.returncode is None:
            self.kill_group()
            self.process.wait()
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()


class Sandbox:
    """The real databases of one run of the faults project, and what the run leaves behind."""

    def __init__(self, backend: str, test_case) -> None:
        self.token = secrets.token_hex(4)
        self.prefix = f"f{self.token}"
        self.marker_dir = make_temp_dir(test_case)
        if backend == "sqlite":
            self.server = SQLiteFolder(make_temp_dir(test_case))
        else:
            self.server = SERVERS[backend]()
        self.test_case = test_case
        #: What existed before the run (created by the sandbox), to tell what the run left.
        self.baseline: set[str] = set()
        #: Every real database, decoys included: each must keep its rows.
        self.real: list[str] = []
        test_case.addCleanup(self.server.drop_all, self.token)

    def name(self, base: str) -> str:
        """Return the name of the real database ``base`` (main, other, legacy)."""
        return self.server.name(base, self.prefix)

    def test_name(self, base: str) -> str:
        """Return the name of the test database of real database ``base``: Django's ``test_`` + NAME."""
        return f"test_{self.name(base)}"

    def create_real_databases(self, decoys: bool = False) -> None:
        """
        Create the real databases, PRECIOUS_ROWS rows each.

        ``decoys``: also real databases named like the workers' clones of
        the real ones (``<NAME>_1``): what a clone destroyed under the wrong
        NAME would hit.
        """
        for base in REAL_DATABASES:
            names = [self.name(base)]
            if decoys:
                names.append(self.name(f"{base}_1"))
            for name in names:
                self.server.create(name, PRECIOUS_ROWS)
                self.real.append(name)
        self.take_baseline()

    def create_leftover_test_database(self, base: str) -> str:
        """Create an empty test database of ``base``, as an earlier run could have left it."""
        name = self.test_name(base)
        self.server.create(name, None)
        self.take_baseline()
        return name

    def take_baseline(self) -> None:
        self.baseline = self.server.existing(self.token)

    def precious_counts(self) -> dict[str, int | str]:
        """Return the rows of ``precious`` in every real database (or MISSING, NO_TABLE)."""
        return {name: self.server.count_precious(name) for name in self.real}

    def leftovers(self) -> list[str]:
        """Return what exists now and did not before the run: databases, clones, journals, lock files."""
        return sorted(self.server.existing(self.token) - self.baseline)

    def query(self, name: str, sql: str) -> list[tuple]:
        return self.server.query(name, sql)

    def env(self, **extra: str) -> dict[str, str]:
        return project_environment(
            {**self.server.settings(self.prefix), "FAULTS_MARKER_DIR": str(self.marker_dir), **extra},
            drop=PRIVATE_PREFIXES,
        )

    def start(self, *args: str, stdin: str | None = "", **env: str) -> FaultsProcess:
        """Start ``manage.py ARGS``; ``env`` adds FAULTS_* variables."""
        process = FaultsProcess(args, self.env(**env), self.marker_dir, stdin)
        self.test_case.addCleanup(process.stop)
        return process

    def run(self, *args: str, stdin: str = "", **env: str) -> FaultsResult:
        return self.start(*args, stdin=stdin, **env).finish()

    def marker(self, name: str) -> Path:
        return self.marker_dir / name

    def cut_locks(self) -> int:
        """
        Take away what the run's locks live on: end every server session it recorded; return how many.

        The run records its sessions with FAULTS_RECORD_SESSIONS=1 (marker
        ``sessions``). With SQLite, the lock files beside its test
        databases are removed instead.
        """
        path = self.marker("sessions")
        sessions = path.read_text().split() if path.exists() else []
        return self.server.cut_locks(sessions)
