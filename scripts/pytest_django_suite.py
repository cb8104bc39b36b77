#!/usr/bin/env python
"""
Run pytest-django's own test suite without and with multidb_runner's pytest plugin, and compare.

``multidb_runner.pytest_plugin`` replaces pytest-django's ``django_db_setup``
and changes what tests may do with the databases; what passes under plain
pytest-django must pass under it, or differ for a reason a user would
accept. pytest-django's own suite is the largest body of tests written
against pytest-django, so this script runs it twice with the same options:

1. stock: pytest-django alone;
2. with ``PYTEST_PLUGINS=multidb_runner.pytest_plugin`` in the environment.

Most of pytest-django's tests run an inner pytest in a subprocess (its
``django_pytester`` fixture); that fixture removes ``PYTEST_ADDOPTS``, but
``PYTEST_PLUGINS`` reaches the inner runs, so the plugin is loaded in the
outer run and in every inner one. Before each side, a sanity test written
into the suite's ``tests`` folder runs an inner pytest and records which
``pytest_django`` it imported and whether the plugin's fixtures were
registered; the script stops (exit status 2) unless the plugin is active in
the plugin's side only, and both sides run the downloaded pytest-django.

The suite comes from the sdist of the requested version (``pip download
--no-binary :all: pytest-django==VERSION``), unpacked into the work folder.
Its source folder goes first on ``PYTHONPATH``, so that the outer run and
every inner run import that version's ``pytest_django`` whatever version is
installed (an installed pytest-django is still needed: pytest loads the
plugin through its entry point). The default version is 4.11.1, the oldest
the plugin supports. The tests run in the interpreter given by ``--python``
(default: this one), which must have pytest, pytest-django, pytest-xdist,
Django and this package installed (``pip install -e '.[pytest]'``).

The backend is chosen as pytest-django's tox.ini chooses it, by its settings
module: ``--backend sqlite`` (the default, ``settings_sqlite_file``: SQLite
files, as pytest-django's own configuration), ``sqlite-memory``
(``settings_sqlite``), ``postgresql`` (``settings_postgres``) and
``mysql`` (``settings_mysql``). The last two read the server from the
variables of ``.ci/servers.sh``'s env file (``PG_HOST``, ``PG_PORT``,
``PG_USER``, ``PG_PASSWORD``; ``MYSQL_HOST``, ``MYSQL_PORT``,
``MYSQL_USER``, ``MYSQL_PASSWORD``), handed to pytest-django's settings as
the ``TEST_DB_HOST``, ``TEST_DB_USER`` and ``TEST_DB_PASSWORD`` they read,
and to the client libraries and command-line clients as ``PGPORT`` or
``MYSQL_TCP_PORT`` (pytest-django's settings name no port).

On a server, the suite runs serially by default (``-n 0``): the inner runs
of ``django_pytester`` name their test databases after the outer run's
real ones, whatever the xdist worker, so two outer workers' inner runs
would create, use and drop the same ``test_pytest_django_tests_default_inner``
at once (stock pytest-django then fails at random; the plugin refuses the
second run's set-up, the database being in use by another run). On SQLite
files each outer worker's settings module makes names of its own
(``tempfile.mkstemp``), so ``-n 2`` is safe there.

Usage (from a virtualenv with this package and its ``pytest`` extra)::

    python scripts/pytest_django_suite.py WORK_DIR [--pytest-django-version 4.11.1]
        [--backend sqlite|sqlite-memory|postgresql|mysql] [-n WORKERS] [--python PATH]
        [--labels tests/test_database.py ...] [-k EXPRESSION] [--recheck] [--timeout SECONDS]

For example, the whole suite on SQLite files on two pytest-xdist workers,
then the database tests alone on PostgreSQL::

    python scripts/pytest_django_suite.py /tmp/pdsuite -n 2 --recheck
    source /tmp/servers/env
    python scripts/pytest_django_suite.py /tmp/pdsuite --backend postgresql --labels tests/test_database.py

The script compares the outcome of every test id (from pytest's JUnit XML
report) and prints the counts of both runs, then the tests that fail with
the plugin only (allowed by design or not), those that fail without it
only, and the number that fail in both. ``--recheck`` runs the tests that
fail in one run only again, alone and serially, on both sides, to tell a
difference that reproduces from a flaky or order-dependent one.

Exit status: 0 when every test that fails with the plugin only is in
ALLOWED_DIFFERENCES below; 1 when some other test does; 2 when a run did not
finish (pytest crashed, was interrupted, selected no test or timed out), the
sanity check failed, or the setup failed. The output of every run is kept in
WORK_DIR/logs/.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from suite_comparison import Problem, Sides, download_sdist, print_differences, print_side_by_side, run_logged

PLUGIN = "multidb_runner.pytest_plugin"
#: The oldest pytest-django the plugin supports (PYTEST_DJANGO_MINIMUM).
DEFAULT_VERSION = "4.11.1"

SIDES = Sides(stock="without the plugin", other="with the plugin", both="in both")

#: pytest-django's settings module for each backend (its tox.ini's factors).
SETTINGS = {
    "sqlite": "pytest_django_test.settings_sqlite_file",
    "sqlite-memory": "pytest_django_test.settings_sqlite",
    "postgresql": "pytest_django_test.settings_postgres",
    "mysql": "pytest_django_test.settings_mysql",
}
#: For a server backend: the variable of .ci/servers.sh's env file with its address, user and password,
#: and the one its clients read the port from.
SERVER_VARIABLES = {
    "postgresql": ("PG", "PGPORT"),
    "mysql": ("MYSQL", "MYSQL_TCP_PORT"),
}

#: pytest's exit statuses of a session that ran its tests to the end (all passed; some failed).
FINISHED_EXIT_CODES = {0, 1}

#: Written into the suite's tests folder: which pytest_django and which plugins an inner run gets.
SANITY_MODULE = "test_multidb_runner_sanity.py"
SANITY_TEST = f"tests/{SANITY_MODULE}::test_inner_run"
SANITY_SOURCE = '''\
"""What an inner pytest run imports (written by multidb_runner's scripts/pytest_django_suite.py)."""

import json

import pytest_django

# Imported while the tests are collected, before any test: it reads the
# outer run's database names for django_pytester's inner settings, and once
# a test set up the test databases, settings name those (pytest-django's own
# test_db_setup.py imports it at collection too, so the whole suite does it).
import pytest_django_test.db_helpers  # noqa: F401

INNER_TEST = """
import json

import pytest_django


def test_report(request):
    loaded = request.config.pluginmanager.has_plugin("multidb_runner.pytest_plugin.fixtures")
    print("MULTIDB_SANITY " + json.dumps({"pytest_django": pytest_django.__file__, "plugin": loaded}))
"""


def test_inner_run(django_pytester, record_property, request):
    django_pytester.create_test_module(INNER_TEST)
    result = django_pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    reports = [line.split("MULTIDB_SANITY ", 1)[1] for line in result.stdout.lines if "MULTIDB_SANITY " in line]
    assert len(reports) == 1, result.stdout.str()
    record_property("inner", reports[0])
    loaded = request.config.pluginmanager.has_plugin("multidb_runner.pytest_plugin.fixtures")
    record_property("outer", json.dumps({"pytest_django": pytest_django.__file__, "plugin": loaded}))
'''

#: How much of the output of a run that did not finish to print.
CRASH_LINES = 15


@dataclass(frozen=True)
class AllowedDifference:
    """Why tests may fail with the plugin only, by design."""

    reason: str
    #: A regular expression the failure's message must match (None: any failure).
    message: str | None = None

    def allows(self, problem: Problem) -> bool:
        """Return True if ``problem``'s failure is the one this difference explains."""
        return self.message is None or re.search(self.message, problem.message) is not None


#: Tests (pytest node ids, or fnmatch patterns of them) that fail with the
#: plugin only, by design, each with the reason (docs/pytest.rst says both).
ALLOWED_DIFFERENCES: dict[str, AllowedDifference] = {
    # @pytest.mark.django_db(databases=["replica"]) then Item.objects.count(),
    # expecting "not allowed" for 'default'.
    "tests/test_database.py::TestDatabaseMarker::test_replica_database_not_allowed": AllowedDifference(
        "a test that names a mirror (TEST['MIRROR']) gets the mirror's primary too, since a mirror reads its "
        "primary's test database: the test expects a query to 'default' to be refused",
        r"DID NOT RAISE",
    ),
    # Item.objects.using("replica").create() with databases=["default", "replica"].
    "tests/test_database.py::TestDatabaseMarker::test_replica_mirrors_default_database": AllowedDifference(
        "a write sent through a mirror is refused, as the read replica it stands for would refuse it "
        "(TEST['READ_ONLY'] = False or --no-read-only-mirrors allows it): the test writes through 'replica'",
        r"ReadOnlyMirrorError",
    ),
}


def allowed_reason(problem: Problem) -> str | None:
    """Return why ``problem`` is an allowed difference, or None if it is not one."""
    for pattern, allowed in ALLOWED_DIFFERENCES.items():
        if fnmatch.fnmatchcase(problem.test_id, pattern) and allowed.allows(problem):
            return allowed.reason
    return None


@dataclass
class RunResult:
    """The outcome of one pytest run of the suite."""

    name: str
    exit_code: int | None
    seconds: float
    #: Every test id with its outcome: passed, failed, error or skipped.
    outcomes: dict[str, str] = field(default_factory=dict)
    #: The tests that failed or errored, by test id.
    problems: dict[str, Problem] = field(default_factory=dict)
    #: The properties tests recorded (record_property), by test id.
    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The end of the output of a run that did not finish.
    crash: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Return True if pytest ran the selected tests to the end."""
        return self.exit_code in FINISHED_EXIT_CODES and bool(self.outcomes)

    def count(self, outcome: str) -> int:
        """Return how many tests ended with ``outcome``."""
        return sum(1 for value in self.outcomes.values() if value == outcome)


#: The worse of two outcomes of one test id (a test that fails and errors in its teardown is reported twice).
OUTCOME_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def node_id(testcase: ET.Element) -> str:
    """Return the pytest node id of a JUnit XML ``testcase`` (xunit1: it has the ``file`` attribute)."""
    classname = testcase.get("classname", "")
    name = testcase.get("name", "")
    path = testcase.get("file", "")
    module = path[: -len(".py")].replace("/", ".") if path.endswith(".py") else ""
    if module and (classname == module or classname.startswith(module + ".")):
        classes = classname[len(module) :].lstrip(".")
        return "::".join(part for part in (path, *classes.split("."), name) if part)
    return f"{classname}::{name}"


def first_line(text: str | None) -> str:
    """Return the first non-empty line of a failure message."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def parse_junit(name: str, path: Path, exit_code: int | None, seconds: float, output: str) -> RunResult:
    """Read a run's JUnit XML report into a RunResult."""
    result = RunResult(name, exit_code, seconds)
    with contextlib.suppress(FileNotFoundError, ET.ParseError):
        for testcase in ET.parse(path).iter("testcase"):
            test_id = node_id(testcase)
            outcome, problem = "passed", None
            for child in testcase:
                if child.tag in {"failure", "error"}:
                    kind = "failed" if child.tag == "failure" else "error"
                    outcome, problem = kind, Problem(kind.upper(), test_id, first_line(child.get("message")))
                elif child.tag == "skipped":
                    outcome = "skipped"
                elif child.tag == "properties":
                    result.properties.setdefault(test_id, {}).update(
                        {prop.get("name", ""): prop.get("value", "") for prop in child.iter("property")}
                    )
            if OUTCOME_RANK[outcome] >= OUTCOME_RANK[result.outcomes.get(test_id, "passed")]:
                result.outcomes[test_id] = outcome
                if problem is not None:
                    result.problems[test_id] = problem
    if not result.finished:
        result.crash = output.splitlines()[-CRASH_LINES:]
    return result


def installed_version(python: str, distribution: str) -> str | None:
    """Return the version of ``distribution`` installed for ``python``, or None."""
    completed = subprocess.run(
        [python, "-c", f"from importlib import metadata; print(metadata.version({distribution!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() if completed.returncode == 0 else None


def download_pytest_django(version: str, work_dir: Path) -> Path:
    """Download and unpack pytest-django's sdist for ``version`` into ``work_dir``; return its folder."""
    return download_sdist("pytest-django", version, work_dir, work_dir / "downloads")


def backend_environment(backend: str) -> dict[str, str]:
    """Return the variables that point pytest-django's settings for ``backend`` at our server."""
    environment = {"DJANGO_SETTINGS_MODULE": SETTINGS[backend]}
    if backend not in SERVER_VARIABLES:
        return environment
    prefix, port_variable = SERVER_VARIABLES[backend]
    missing = [f"{prefix}_{key}" for key in ("HOST", "PORT", "USER", "PASSWORD") if f"{prefix}_{key}" not in os.environ]
    if missing:
        raise SystemExit(f"--backend {backend} needs {', '.join(missing)} (source .ci/servers.sh's env file).")
    environment.update(
        TEST_DB_HOST=os.environ[f"{prefix}_HOST"],
        TEST_DB_USER=os.environ[f"{prefix}_USER"],
        TEST_DB_PASSWORD=os.environ[f"{prefix}_PASSWORD"],
    )
    environment[port_variable] = os.environ[f"{prefix}_PORT"]
    return environment


@dataclass
class Suite:
    """Where and how pytest runs the suite, and where its output goes."""

    python: str
    source_dir: Path
    backend: str
    log_prefix: Path
    timeout: float | None

    def log(self, name: str, suffix: str) -> Path:
        """Return the path of one of run ``name``'s log files."""
        return self.log_prefix.with_name(f"{self.log_prefix.name}-{name}.{suffix}")

    def environment(self, plugin: bool) -> dict[str, str]:
        """Return the environment of one side's runs: the same but for PYTEST_PLUGINS."""
        environment = {
            key: value for key, value in os.environ.items() if key not in {"PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
        }
        environment.update(backend_environment(self.backend))
        # The sdist's pytest_django first, in the outer run and (through django_pytester) the inner ones.
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.source_dir), os.environ.get("PYTHONPATH")]))
        if plugin:
            environment["PYTEST_PLUGINS"] = PLUGIN
        return environment

    def run(self, name: str, plugin: bool, arguments: list[str]) -> RunResult:
        """Run pytest once on one side, keeping its output in log files, and read its report."""
        report = self.log(name, "xml")
        report.unlink(missing_ok=True)
        command = [
            *(self.python, "-m", "pytest", "-p", "no:cacheprovider", "-o", "junit_family=xunit1"),
            *("--junit-xml", str(report), "-rfE", *arguments),
        ]
        shown = (
            " ".join(command) if len(command) < 40 else " ".join([*command[:14], f"... ({len(arguments)} arguments)"])
        )
        print(f"Running {name}{' (PYTEST_PLUGINS=' + PLUGIN + ')' if plugin else ''}: {shown}", flush=True)
        with self.log(name, "out").open("w") as out:
            exit_code, seconds = run_logged(
                command, self.source_dir, out, subprocess.STDOUT, self.timeout, env=self.environment(plugin)
            )
        self.log(name, "json").write_text(json.dumps({"exit_code": exit_code, "seconds": seconds}))
        output = self.log(name, "out").read_text(errors="replace")
        return parse_junit(name, report, exit_code, seconds, output)

    def sanity_check(self, plugin: bool) -> list[str]:
        """Run the sanity test on one side; return what is wrong (nothing when the plugin is where it should be)."""
        (self.source_dir / "tests" / SANITY_MODULE).write_text(SANITY_SOURCE)
        side = "plugin" if plugin else "stock"
        result = self.run(f"sanity-{side}", plugin, [SANITY_TEST])
        properties = result.properties.get(SANITY_TEST)
        if result.outcomes.get(SANITY_TEST) != "passed" or properties is None:
            return [f"the sanity test failed on the {side} side (see {self.log(f'sanity-{side}', 'out')})"]
        problems = []
        for run in ("outer", "inner"):
            seen = json.loads(properties[run])
            if seen["plugin"] != plugin:
                state = "not loaded" if plugin else "loaded"
                problems.append(f"the plugin is {state} in the {side} side's {run} run")
            if not Path(seen["pytest_django"]).resolve().is_relative_to(self.source_dir.resolve()):
                problems.append(f"the {side} side's {run} run imported pytest_django from {seen['pytest_django']}")
        return problems


def recheck(suite: Suite, problems: list[Problem]) -> dict[str, str]:
    """Run ``problems``' tests again, alone and serially, on both sides; return a verdict per test id."""
    test_ids = sorted({problem.test_id for problem in problems if "::" in problem.test_id})
    if not test_ids:
        return {}
    stock = suite.run("recheck-stock", False, ["-n", "0", *test_ids])
    plugin = suite.run("recheck-plugin", True, ["-n", "0", *test_ids])
    if not (stock.finished and plugin.finished):
        return {problem.test_id: "the recheck did not finish" for problem in problems}
    verdicts = SIDES.verdicts()
    return {
        problem.test_id: verdicts[problem.test_id in stock.problems, problem.test_id in plugin.problems]
        for problem in problems
    }


def print_counts(stock: RunResult, plugin: RunResult) -> None:
    """Print the tests run, their outcomes and the time of both runs side by side."""

    def count(run: RunResult, outcome: str) -> object:
        return run.count(outcome) if run.finished else "-"

    rows: list[tuple[str, object, object]] = [
        ("tests run", len(stock.outcomes) if stock.finished else "-", len(plugin.outcomes) if plugin.finished else "-")
    ]
    rows += [(outcome, count(stock, outcome), count(plugin, outcome)) for outcome in OUTCOME_RANK]
    print_side_by_side(rows, stock, plugin, "with plugin")


def report(stock: RunResult, plugin: RunResult, suite: Suite | None = None) -> int:
    """Print the comparison of both runs (with ``suite``: recheck the differences); return the exit status."""
    print_counts(stock, plugin)
    for run in (stock, plugin):
        if not run.finished:
            reason = "it timed out" if run.exit_code is None else f"pytest exited with status {run.exit_code}"
            print(f"\nThe {run.name} run did not finish: {reason}.")
            for line in run.crash:
                print(f"    {line}")
    if not (stock.finished and plugin.finished):
        return 2
    if stock.outcomes.keys() != plugin.outcomes.keys():
        only_stock = sorted(stock.outcomes.keys() - plugin.outcomes.keys())
        only_plugin = sorted(plugin.outcomes.keys() - stock.outcomes.keys())
        print(f"\nThe runs ran different tests: {len(only_stock)} stock only, {len(only_plugin)} with the plugin only.")
        for test_id in only_stock[:10] + only_plugin[:10]:
            print(f"  {test_id}")

    return print_differences(
        stock.problems,
        plugin.problems,
        allowed_reason,
        SIDES,
        (lambda problems: recheck(suite, problems)) if suite is not None else None,
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0].strip())
    parser.add_argument("work_dir", type=Path, help="Folder for the sdist and the logs.")
    parser.add_argument(
        "--pytest-django-version",
        default=DEFAULT_VERSION,
        help=f"Exact pytest-django version whose test suite to run (default: {DEFAULT_VERSION}).",
    )
    parser.add_argument(
        "--backend", choices=sorted(SETTINGS), default="sqlite", help="Database backend (default: sqlite, files)."
    )
    parser.add_argument(
        "-n",
        dest="workers",
        help="pytest-xdist's -n for both runs (default: 2 on SQLite, 0 (serially) on a server: see above).",
    )
    parser.add_argument(
        "--labels",
        nargs="+",
        default=["tests"],
        metavar="PATH",
        help="Test files or node ids of the suite, relative to its folder (default: tests).",
    )
    parser.add_argument("-k", dest="keyword", metavar="EXPRESSION", help="pytest's -k for both runs.")
    parser.add_argument("--python", default=sys.executable, help="Interpreter that runs the tests (default: this one).")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="Run the tests that failed in one run only again, alone and serially, on both sides.",
    )
    parser.add_argument("--timeout", type=float, default=None, help="Seconds after which a run is stopped.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite on both sides and compare."""
    options = parse_arguments(argv)
    work_dir = options.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    missing = [
        name
        for name in ("pytest-django", "pytest-xdist", "multidb-runner")
        if not installed_version(options.python, name)
    ]
    if missing:
        print(f"{options.python} lacks {', '.join(missing)}: pip install -e '.[pytest]'.", file=sys.stderr)
        return 2
    version = options.pytest_django_version
    source_dir = download_pytest_django(version, work_dir)
    workers = options.workers or ("0" if options.backend in SERVER_VARIABLES else "2")
    if workers != "0" and options.backend in SERVER_VARIABLES:
        print(f"Note: -n {workers} on {options.backend}: the workers' inner runs share their test databases.")
    pytest_options = ["-n", workers]
    if options.keyword:
        pytest_options += ["-k", options.keyword]
    key = hashlib.sha1(" ".join([*options.labels, *pytest_options]).encode()).hexdigest()[:8]
    (work_dir / "logs").mkdir(exist_ok=True)
    suite = Suite(
        python=options.python,
        source_dir=source_dir,
        backend=options.backend,
        log_prefix=work_dir / "logs" / f"pytest-django-{version}-{options.backend}-{key}",
        timeout=options.timeout,
    )
    print(f"pytest-django {version}'s suite ({source_dir}), {options.backend}, {' '.join(options.labels)}")
    print(f"Logs: {suite.log_prefix}-*.{{out,xml}}")

    insane = suite.sanity_check(plugin=False) + suite.sanity_check(plugin=True)
    if insane:
        print("\nSanity check failed:")
        for line in insane:
            print(f"  {line}")
        return 2
    print("Sanity check: the plugin is active in the outer and inner runs of the plugin's side only.")
    # The sanity module is collected (not run) in both runs: see its import of db_helpers.
    arguments = [*pytest_options, *options.labels, f"tests/{SANITY_MODULE}", "--deselect", SANITY_TEST]
    stock = suite.run("stock", False, arguments)
    plugin = suite.run("plugin", True, arguments)
    return report(stock, plugin, suite if options.recheck else None)


if __name__ == "__main__":
    sys.exit(main())
