"""
End-to-end fault injection: no fault, at any phase, harms a real database or leaves a trace.

Each test runs ``manage.py test`` of ``tests/projects/faults`` with a fault
injected (``FAULTS_AT``, see ``faults/injection.py``): an exception, SIGINT,
SIGTERM or SIGHUP while the test databases are created, migrated, given
their legacy tables, cloned for parallel workers, serialized, while tests
run, or while the databases are destroyed; a test database left by an
earlier run and a "no" at Django's prompt; two runs at once; a worker
killed. Before each run the real databases are created with a table
``precious`` of a few rows (and, for ``--parallel``, real databases named
like the clones of the real ones, ``<NAME>_1``); afterwards every real
database must still hold its rows, the exit code and message must say
what happened, and nothing the run created may be left. Where stock
Django's runner keeps the real rows too, it runs on the same fault first,
so that the runner can never do worse than stock.

Signals go to the run's main process, as ``kill`` or a CI job's timeout
would send them (at the ``tests`` phase of a parallel run, from the worker
that runs the test).

Opt-in, with MULTIDB_FAULT_SUITE=1, because each test runs the project a
few times. Runs the faults on MULTIDB_TEST_BACKEND's backend: SQLite files,
or the PostgreSQL or MariaDB server of PG_* / MYSQL_* (HOST, PORT, USER,
PASSWORD); every database it creates there has a random token in its name
and is dropped when the test ends. For example:

    MULTIDB_FAULT_SUITE=1 MULTIDB_TEST_BACKEND=postgresql python runtests.py tests.test_faults
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import unittest
from dataclasses import dataclass

from django.db import connections
from django.test import SimpleTestCase

from multidb_runner.setup.addresses import LocalMachine
from multidb_runner.setup.test_names import clone_name

from .e2e import BACKEND, STOCK_RUNNER, make_temp_dir
from .faults_support import (
    PRECIOUS_ROWS,
    REAL_DATABASES,
    SERVERS,
    Sandbox,
    restart_unavailable,
    server_unavailable,
)

FAULT_SUITE = os.environ.get("MULTIDB_FAULT_SUITE") == "1"
PROMPT = "Type 'yes' if you would like to try deleting the test database"
EXIT_CODES = {"sigint": 130, "sigterm": 143, "sighup": 129}
MESSAGES = {
    "sigint": "The test run was interrupted (Ctrl-C); it is reported as failed.",
    "sigterm": "The test run was stopped by SIGTERM; it is reported as failed.",
    "sighup": "stopped by SIGHUP",
}
PASSED = re.compile(r"\nOK( \(.*\))?\n")
ENGINES = {"postgresql": "django.db.backends.postgresql", "mariadb": "django.db.backends.mysql"}
#: The sentence the real-database check adds when the servers themselves said they are one.
ASKED = "by the servers' own account."
WORKER_DIED = "A parallel test worker died while running"
#: The phases of a serial run that happen while 'other' is set up on its first use.
FIRST_USE_PHASES = ("creating", "migrating", "serializing")

VENDORS = {"sqlite": "sqlite", "postgresql": "postgresql", "mariadb": "mysql"}
#: The orders faultapp.tests.HoldsItsDatabases commits.
HELD_ROWS = 3


@dataclass(frozen=True)
class Scenario:
    """A fault at one phase of a run of the whole faults project (``--noinput``)."""

    phase: str
    action: str
    parallel: bool = False
    #: Run stock Django's runner on the same fault first: it keeps the real rows, so must we.
    stock: bool = False

    @property
    def method_name(self) -> str:
        return f"test_{self.phase}_{self.action}_{'parallel' if self.parallel else 'serial'}"

    @property
    def description(self) -> str:
        return f"FAULTS_AT={self.phase}:{self.action}" + (" with --parallel 2" if self.parallel else "")


def phase_scenarios() -> list[Scenario]:
    """Every phase × raise, sigint, sigterm, serial and --parallel 2, and one SIGHUP."""
    scenarios = []
    for phase in ("creating", "migrating", "legacy", "cloning", "serializing", "tests", "teardown"):
        for action in ("raise", "sigint", "sigterm"):
            if phase == "teardown" and action == "raise":
                # Not a fault the runner can recover from: the database is not destroyed.
                continue
            for parallel in (False, True):
                if phase == "cloning" and not parallel:
                    continue
                # An exception in setup stops stock Django without destroying
                # anything. (Stock has no legacy phase, and its first Ctrl-C
                # during setup is swallowed by unittest's handler.)
                stock = action == "raise" and phase in ("creating", "migrating", "cloning", "serializing")
                scenarios.append(Scenario(phase, action, parallel, stock))
    scenarios.append(Scenario("migrating", "sighup"))
    return scenarios


@unittest.skipUnless(FAULT_SUITE, "the fault-injection suite runs only with MULTIDB_FAULT_SUITE=1 (slow)")
class FaultsTestCase(SimpleTestCase):
    """Run the faults project on the suite's backend, each run with real databases of its own."""

    def setUp(self):
        reason = server_unavailable(BACKEND)
        if reason:
            self.skipTest(reason)

    def sandbox(self, decoys: bool = False) -> Sandbox:
        """Return a new Sandbox, its real databases created (with their clone-named decoys)."""
        sandbox = Sandbox(BACKEND, self)
        sandbox.create_real_databases(decoys=decoys)
        return sandbox

    def run_stock(self, sandbox: Sandbox, *args: str, **env: str):
        return sandbox.run(*args, FAULTS_RUNNER=STOCK_RUNNER, FAULTS_DECLARE="1", **env)

    # Assertions -----------------------------------------------------------

    def assertRealRowsKept(self, sandbox, result, runner="the runner"):
        """Every real database, decoys included, still holds its PRECIOUS_ROWS rows."""
        harmed = {name: rows for name, rows in sandbox.precious_counts().items() if rows != PRECIOUS_ROWS}
        self.assertEqual(harmed, {}, f"{runner} harmed real databases (rows of 'precious' left)\n{result!r}")

    def assertNothingLeft(self, sandbox, result, allowed=()):
        """No test database, clone, journal or lock file left (but ``allowed``); no process either."""
        left = [name for name in sandbox.leftovers() if name not in allowed]
        self.assertEqual(left, [], f"left behind\n{result!r}")
        self.assertEqual(result.stragglers, [], f"processes of the run outlived it\n{result!r}")

    def assertStoppedBy(self, result, action):
        """The exit code and message of ``action``, and no traceback."""
        self.assertEqual(result.returncode, EXIT_CODES[action], result)
        self.assertIn(MESSAGES[action], result.stderr, result)
        self.assertNotIn("Traceback", result.output, result)

    def assertFailedWith(self, result, error):
        """A failed run (not killed by a signal) that shows ``error``."""
        self.assertGreater(result.returncode, 0, result)
        self.assertIn(error, result.output, result)

    def assertFired(self, sandbox, phase, result):
        """The run reached the phase where the fault was injected."""
        self.assertTrue(sandbox.marker(f"fired-{phase}").exists(), f"the fault at {phase} never fired\n{result!r}")

    def assertPassed(self, result, tests):
        self.assertEqual(result.returncode, 0, result)
        self.assertRegex(result.stderr, PASSED, result)
        self.assertIn(f"Ran {tests} test", result.stderr, result)


class PhaseFaultTests(FaultsTestCase):
    """
    A fault at each phase of a run: the real rows stay, the run says why it failed, nothing is left.

    One test method per Scenario, generated below: ``test_<phase>_<action>_<serial|parallel>``.
    """

    def check_fault(self, scenario: Scenario):
        args = ("test", "faultapp", "--noinput", *(("--parallel", "2") if scenario.parallel else ()))
        fault = f"{scenario.phase}:{scenario.action}"
        if scenario.stock:
            sandbox = self.sandbox(decoys=scenario.parallel)
            stock = self.run_stock(sandbox, *args, FAULTS_AT=fault)
            self.assertFired(sandbox, scenario.phase, stock)
            self.assertNotEqual(stock.returncode, 0, stock)
            self.assertRealRowsKept(sandbox, stock, runner="stock Django")

        sandbox = self.sandbox(decoys=scenario.parallel)
        result = sandbox.run(*args, FAULTS_AT=fault)
        self.assertFired(sandbox, scenario.phase, result)
        if scenario.action == "raise":
            self.assertFailedWith(result, f"RuntimeError: injected fault at {scenario.phase}")
        else:
            self.assertStoppedBy(result, scenario.action)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result)
        if not scenario.parallel and scenario.phase in FIRST_USE_PHASES:
            # No class of the project declares 'other': it is set up on first use.
            outcome = "failed" if scenario.action == "raise" else "interrupted"
            self.assertRegex(result.stdout, rf"\nother\s+\S+\s+set-up on first use {outcome}\s", result)


def add_scenario_tests(cls, scenarios):
    """Give ``cls`` one test method per scenario, named after it."""
    for scenario in scenarios:

        def test(self, scenario=scenario):
            self.check_fault(scenario)

        test.__name__ = scenario.method_name
        test.__qualname__ = f"{cls.__name__}.{scenario.method_name}"
        test.__doc__ = scenario.description
        setattr(cls, scenario.method_name, test)


add_scenario_tests(PhaseFaultTests, phase_scenarios())


class PromptTests(FaultsTestCase):
    """
    A test database left by an earlier run, without --noinput: Django asks whether to delete it.

    Whatever the answer, the real database keeps its rows (stock Django never
    touches it); the leftover test database may stay, as with stock.
    """

    def run_to_prompt(self, sandbox, answer, **env):
        """Run until the prompt and answer it: text on stdin, "" for end of file, or "ctrl-c"."""
        if answer != "ctrl-c":
            return sandbox.run("test", "faultapp", stdin=answer, **env)
        process = sandbox.start("test", "faultapp", stdin=None, **env)
        process.wait_for_output(PROMPT)
        process.send_signal(signal.SIGINT)
        return process.finish()

    def check_answer(self, answer):
        if answer != "ctrl-c":
            # (unittest's handler swallows stock Django's first Ctrl-C at the prompt.)
            stock_sandbox = self.sandbox()
            stock_sandbox.create_leftover_test_database("other")
            stock = self.run_to_prompt(stock_sandbox, answer, FAULTS_RUNNER=STOCK_RUNNER, FAULTS_DECLARE="1")
            self.assertIn(PROMPT, stock.stdout, stock)
            self.assertNotEqual(stock.returncode, 0, stock)
            self.assertRealRowsKept(stock_sandbox, stock, runner="stock Django")

        sandbox = self.sandbox()
        leftover = sandbox.create_leftover_test_database("other")
        result = self.run_to_prompt(sandbox, answer)
        self.assertIn(PROMPT, result.stdout, result)
        if answer == "ctrl-c":
            self.assertStoppedBy(result, "sigint")
        else:
            self.assertGreater(result.returncode, 0, result)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result, allowed=[leftover])

    def test_answer_no(self):
        self.check_answer("no\n")

    def test_end_of_input(self):
        self.check_answer("")

    def test_ctrl_c_at_the_prompt(self):
        self.check_answer("ctrl-c")


@unittest.skipUnless(BACKEND == "postgresql", "PostgreSQL refuses to drop a database in use")
class LeftoverInUseTests(FaultsTestCase):
    """--noinput, and the leftover test database cannot be dropped: another connection uses it."""

    def check_in_use(self, sandbox, runner="the runner", **env):
        leftover = sandbox.create_leftover_test_database("other")
        holder = sandbox.server.hold_open(leftover)
        try:
            result = sandbox.run("test", "faultapp", "--noinput", **env)
        finally:
            holder.close()
        self.assertIn("is being accessed by other users", result.output, result)
        self.assertGreater(result.returncode, 0, result)
        self.assertRealRowsKept(sandbox, result, runner)
        return result, leftover

    def test_real_database_untouched(self):
        self.check_in_use(self.sandbox(), "stock Django", FAULTS_RUNNER=STOCK_RUNNER, FAULTS_DECLARE="1")
        sandbox = self.sandbox()
        result, leftover = self.check_in_use(sandbox)
        self.assertNothingLeft(sandbox, result, allowed=[leftover])


class ConcurrentRunsTests(FaultsTestCase):
    """Two runs at once without --db-suffix: the second refuses, and the first is unharmed."""

    def test_second_run_refuses_before_touching_anything(self):
        sandbox = self.sandbox()
        labels = ("faultapp.tests.WaitsForRelease", "faultapp.tests.Writes")
        first = sandbox.start("test", *labels, "--noinput", FAULTS_WAIT="1")
        first.wait_until(sandbox.marker("waiting").exists, "the marker 'waiting'")

        second = sandbox.run("test", "faultapp.tests.Writes", "--noinput")
        self.assertEqual(second.returncode, 1, second)
        self.assertIn("is in use by another test run", second.stderr, second)
        self.assertIn("--db-suffix", second.stderr, second)

        sandbox.marker("release").touch()
        result = first.finish()
        # WaitsForRelease checks that its rows are still there.
        self.assertPassed(result, tests=2)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result)


class KeptDatabaseTests(FaultsTestCase):
    """
    --keepdb, and the run stops while a TransactionTestCase has committed rows.

    The kept test databases must not keep those rows: the next --keepdb run
    starts from empty tables, as after a test that ended normally.
    """

    def check_stopped_test(self, action):
        sandbox = self.sandbox()
        labels = ("faultapp.tests.Writes", "faultapp.tests.FaultInTest")
        result = sandbox.run("test", *labels, "--keepdb", FAULTS_AT=f"tests:{action}")
        self.assertFired(sandbox, "tests", result)
        self.assertStoppedBy(result, action)
        orders = sandbox.query(sandbox.test_name("main"), "SELECT reference FROM faultapp_order")
        entries = sandbox.query(sandbox.test_name("other"), "SELECT label FROM otherapp_ledgerentry")
        self.assertEqual((orders, entries), ([], []), f"rows of the stopped test were kept\n{result!r}")

        # Writes checks that every table starts empty.
        again = sandbox.run("test", "faultapp.tests.Writes", "--keepdb")
        self.assertPassed(again, tests=1)
        self.assertRealRowsKept(sandbox, again)
        kept = [sandbox.test_name(base) for base in REAL_DATABASES]
        self.assertNothingLeft(sandbox, again, allowed=kept)

    def test_ctrl_c(self):
        self.check_stopped_test("sigint")

    def test_sigterm(self):
        self.check_stopped_test("sigterm")


class DeadWorkerTests(FaultsTestCase):
    """A parallel worker is killed (kill -9) in a test: only that test's class is blamed."""

    def test_worker_killed(self):
        sandbox = self.sandbox(decoys=True)
        labels = ("faultapp.tests.WorkerDies", "faultapp.tests.Partner", "faultapp.tests.Writes")
        result = sandbox.run("test", *labels, "--noinput", "--parallel", "2", FAULTS_KILL_WORKER="1")
        self.assertEqual(result.returncode, 1, result)
        died = [line for line in result.stderr.splitlines() if line.startswith(WORKER_DIED)]
        self.assertEqual(len(died), 1, f"expected one line starting {WORKER_DIED!r}\n{result!r}")
        self.assertIn("faultapp.tests.WorkerDies.test_dies", died[0], result)
        self.assertIn("exit code -9", died[0], result)
        self.assertRegex(died[0], r"\b\d+ tests? did not run", result)
        # Partner was running in the other worker, Writes waited: neither failed.
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
        for innocent in ("faultapp.tests.Partner", "faultapp.tests.Writes"):
            self.assertEqual([line for line in errors if innocent in line], [], result)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result)


@unittest.skipUnless(BACKEND in ENGINES, "a server reached two ways: PostgreSQL and MariaDB only")
class RealDatabaseReachedAnotherWayTests(FaultsTestCase):
    """
    A test database that is a real database of the same server, reached another way: refused, nothing created.

    The real aliases reach the server one way (FAULTS_REAL_VIA); an alias
    ``archive`` reaches it another way, and its TEST['NAME'] is the real
    database of ``default`` (and of its mirror ``replica``). Stock Django
    drops that database; the runner refuses before it creates anything,
    deciding by the spellings where they tell, else by asking the servers.
    """

    def socket_path(self) -> str:
        variable = "PG_SOCKET_DIR" if BACKEND == "postgresql" else "MYSQL_SOCKET"
        path = os.environ.get(variable)
        if not path:
            self.skipTest(f"{variable} not set: the server's Unix socket is unknown (.ci/servers.sh writes it)")
        return path

    def server(self):
        """The suite's server, as the sandboxes reach it (PG_* or MYSQL_*)."""
        return SERVERS[BACKEND]()

    def local_server(self):
        """The server, skipping the test unless it runs on this machine."""
        server = self.server()
        if not LocalMachine.here().is_local(server.host):
            self.skipTest(f"the {BACKEND} server is not on this machine")
        return server

    def socket_via(self) -> dict:
        """Settings that reach the server through its Unix socket."""
        if BACKEND == "postgresql":
            return {"HOST": self.socket_path()}
        return {"HOST": "localhost", "OPTIONS": {"unix_socket": self.socket_path()}}

    def alias(self, sandbox: Sandbox, name: str, via: dict, **test: str) -> dict:
        """Settings of an alias whose real database is ``name``, reached ``via`` those settings."""
        server = sandbox.server
        settings = {"HOST": server.host, "PORT": server.port, **via}
        return {
            "ENGINE": ENGINES[BACKEND],
            "NAME": name,
            "USER": server.user,
            "PASSWORD": server.password,
            **settings,
            "TEST": test,
        }

    @staticmethod
    def env(real_via: dict, extra: dict, **env: str) -> dict:
        """The run's environment: the real aliases reached ``real_via``, and the ``extra`` aliases."""
        return {"FAULTS_REAL_VIA": json.dumps(real_via), "FAULTS_EXTRA_DATABASES": json.dumps(extra), **env}

    def run_with_archive(self, sandbox: Sandbox, real_via: dict, archive_via: dict, stock: bool = False, **env: str):
        """Run Writes with ``archive``, reached ``archive_via``, whose test database is default's real one."""
        archive = self.alias(sandbox, sandbox.name("archive"), archive_via, NAME=sandbox.name("main"))
        env = self.env(real_via, {"archive": archive}, **env)
        if stock:
            return self.run_stock(sandbox, "test", "faultapp.tests.Writes", "--noinput", **env)
        return sandbox.run("test", "faultapp.tests.Writes", "--noinput", **env)

    def assertRefused(self, sandbox: Sandbox, result, message: str, asked: bool) -> None:
        """Refused with ``message``, decided as expected; the real rows kept, nothing created, no password shown."""
        self.assertEqual(result.returncode, 1, result)
        self.assertIn(f"ConfigurationError: Refusing to run: {message}", result.stderr, result)
        line = next(line for line in result.stderr.splitlines() if message in line)
        # Asked of the servers, or decided by the spellings alone (no sentence about servers).
        self.assertEqual(ASKED in line, asked, result)
        self.assertNotIn("could not ask", line, result)
        self.assertNotIn("Traceback", result.output, result)
        self.assertNotIn(sandbox.server.password, result.output, result)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result)

    def check_archive_refused(self, real_via: dict, archive_via: dict, asked: bool, stock: bool = False, **env: str):
        if stock:
            # Stock Django drops default's real database: the two spellings do reach one server.
            sandbox = self.sandbox()
            result = self.run_with_archive(sandbox, real_via, archive_via, stock=True, **env)
            rows = sandbox.precious_counts()[sandbox.name("main")]
            self.assertNotEqual(rows, PRECIOUS_ROWS, f"stock Django kept the rows\n{result!r}")
        sandbox = self.sandbox()
        result = self.run_with_archive(sandbox, real_via, archive_via, **env)
        main = sandbox.name("main")
        message = (
            f"the test database of alias 'archive' ({main!r}) is the real database of aliases 'default', 'replica'."
        )
        self.assertRefused(sandbox, result, message, asked)

    @unittest.skipUnless(BACKEND == "postgresql", "PostgreSQL's socket directory")
    def test_socket_directory_and_tcp(self):
        self.check_archive_refused({"HOST": self.socket_path()}, {"HOST": "127.0.0.1"}, asked=True, stock=True)

    @unittest.skipUnless(BACKEND == "postgresql", "the rules of libpq")
    def test_localhost_and_this_machines_name(self):
        self.local_server()
        self.check_archive_refused({"HOST": "localhost"}, {"HOST": socket.gethostname()}, asked=False)

    @unittest.skipUnless(BACKEND == "postgresql", "the rules of libpq")
    def test_omitted_host_and_port_from_the_environment_and_explicit_ones(self):
        server = self.local_server()
        self.check_archive_refused(
            {"HOST": "", "PORT": ""},
            {"HOST": "localhost", "PORT": server.port},
            asked=False,
            PGHOST=server.host,
            PGPORT=server.port,
        )

    @unittest.skipUnless(BACKEND == "postgresql", "PostgreSQL's connection services")
    def test_a_service(self):
        server = self.server()
        folder = make_temp_dir(self)
        service_file = folder / "pg_service.conf"
        service_file.write_text(f"[faults_identity]\nhost={server.host}\nport={server.port}\n")
        self.check_archive_refused(
            {},
            {"HOST": "", "PORT": "", "OPTIONS": {"service": "faults_identity"}},
            asked=True,
            PGSERVICEFILE=str(service_file),
        )

    @unittest.skipUnless(BACKEND == "mariadb", "MariaDB's unix_socket option")
    def test_unix_socket_and_tcp(self):
        self.check_archive_refused(
            {"HOST": "localhost", "OPTIONS": {"unix_socket": self.socket_path()}},
            {"HOST": "127.0.0.1"},
            asked=True,
            stock=True,
        )

    def test_a_workers_clone_that_is_a_real_database_reached_another_way(self):
        """With --parallel 2, worker 1's clone of 'snapshot' would be the real database of 'snapshot_copy'."""
        sandbox = self.sandbox()
        copy = sandbox.name("snap_1")
        sandbox.server.create(copy, PRECIOUS_ROWS)
        sandbox.real.append(copy)
        sandbox.take_baseline()
        extra = {
            "snapshot": self.alias(sandbox, sandbox.name("snapshot"), {}, NAME=sandbox.name("snap")),
            "snapshot_copy": self.alias(sandbox, copy, self.socket_via()),
        }
        labels = ("faultapp.tests.Writes", "faultapp.tests.SerializedRollback")
        result = sandbox.run("test", *labels, "--noinput", "--parallel", "2", **self.env({}, extra))
        message = (
            f"worker 1's clone of the test database of alias 'snapshot' would be {copy!r}, "
            "the real database of alias 'snapshot_copy'."
        )
        self.assertRefused(sandbox, result, message, asked=True)


class ClaimOutlivesItsConnectionsTests(FaultsTestCase):
    """
    A live run whose lock connections are cut, or whose server restarts, keeps its test databases.

    The first run commits rows in its test database, lets go of its
    connections and waits (``HoldsItsDatabases``). Then every server session
    it has is ended (SQLite: the lock files beside its test databases are
    removed), or the server is restarted, and a second run on the same
    names starts: it must refuse, the first run's rows must still be there,
    and the first run must pass, set up ``other`` on its first use and clean
    up as usual.
    """

    def start_holder(self, sandbox, *args):
        first = sandbox.start(
            "test", "faultapp.tests.HoldsItsDatabases", *args, "--noinput", FAULTS_HOLD="1", FAULTS_RECORD_SESSIONS="1"
        )
        first.wait_until(sandbox.marker("holding").exists, "the marker 'holding'")
        return first

    def held_rows(self, sandbox):
        return sandbox.query(sandbox.test_name("main"), "SELECT COUNT(*) FROM faultapp_order")[0][0]

    def check_second_run_refused(self, sandbox, first, tests=1):
        second = sandbox.run("test", "faultapp.tests.Writes", "--noinput")
        self.assertEqual(second.returncode, 1, second)
        self.assertIn("is in use by another test run", second.stderr, second)
        self.assertNotIn("Destroying old test database", second.output, second)
        self.assertEqual(self.held_rows(sandbox), HELD_ROWS, f"the first run's rows are gone\n{second!r}")
        sandbox.marker("release").touch()
        result = first.finish()
        self.assertPassed(result, tests=tests)
        self.assertNotIn("Lost the claim", result.output, result)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result)

    def test_connections_cut(self):
        sandbox = self.sandbox()
        first = self.start_holder(sandbox)
        self.assertEqual(self.held_rows(sandbox), HELD_ROWS)
        self.assertGreater(sandbox.cut_locks(), 0, "nothing of the first run's was cut")
        self.check_second_run_refused(sandbox, first)

    def test_connections_cut_parallel(self):
        sandbox = self.sandbox(decoys=True)
        first = self.start_holder(sandbox, "faultapp.tests.Writes", "--parallel", "2")
        # Writes, in the other worker, is over: only idle connections are cut.
        first.wait_until(sandbox.marker("wrote").exists, "the marker 'wrote'")
        clones = [clone_name(VENDORS[BACKEND], sandbox.test_name("main"), number) for number in (1, 2)]
        rows = {clone: sandbox.query(clone, "SELECT COUNT(*) FROM faultapp_order")[0][0] for clone in clones}
        self.assertEqual(sorted(rows.values()), [0, HELD_ROWS], rows)
        self.assertGreater(sandbox.cut_locks(), 0, "nothing of the first run's was cut")
        second = sandbox.run("test", "faultapp.tests.Writes", "--noinput")
        self.assertEqual(second.returncode, 1, second)
        self.assertIn("is in use by another test run", second.stderr, second)
        self.assertEqual(
            {clone: sandbox.query(clone, "SELECT COUNT(*) FROM faultapp_order")[0][0] for clone in clones}, rows
        )
        sandbox.marker("release").touch()
        result = first.finish()
        self.assertPassed(result, tests=2)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result)

    def test_server_restarted(self):
        reason = restart_unavailable(BACKEND)
        if reason:
            self.skipTest(reason)
        sandbox = self.sandbox()
        first = self.start_holder(sandbox)
        self.assertEqual(self.held_rows(sandbox), HELD_ROWS)
        sandbox.server.restart()
        # This suite's own connections ended with the server's sessions too.
        connections.close_all()
        self.check_second_run_refused(sandbox, first)

    @unittest.skipIf(BACKEND == "sqlite", "SQLite files have no server lock for a run elsewhere to take")
    def test_lock_taken_by_a_run_elsewhere(self):
        """
        After the cut, a run on another machine takes the server lock: the first run's claim is lost.

        It says so, sets nothing up on first use any more, and does not
        destroy the test database the other run holds now.
        """
        sandbox = self.sandbox()
        first = self.start_holder(sandbox)
        self.assertGreater(sandbox.cut_locks(), 0, "nothing of the first run's was cut")
        elsewhere = sandbox.server.take_lock(sandbox.test_name("main"))
        self.addCleanup(elsewhere.close)
        sandbox.marker("release").touch()
        result = first.finish()
        self.assertEqual(result.returncode, 1, result)
        lost = f"Lost the claim on the test database {sandbox.test_name('main')!r} of alias 'default'"
        self.assertIn(f"ClaimLost: {lost}", result.stderr, result)
        # ``other``'s set-up on first use was refused: nothing created under a lost claim.
        self.assertIn("Setting up the test database of alias 'other' on its first use failed: ClaimLost", result.stderr)
        self.assertNotIn("Traceback", result.stderr.split("FAILED (")[-1], result)
        # Still there (emptied by the test's own flush), not dropped.
        self.assertEqual(self.held_rows(sandbox), 0)
        self.assertRealRowsKept(sandbox, result)
        self.assertNothingLeft(sandbox, result, allowed=[sandbox.test_name("main")])
