#!/usr/bin/env python
"""
Run Django's own test suite under the stock runner and under MultiDBRunner, and compare.

MultiDBRunner claims to be a drop-in replacement for Django's DiscoverRunner:
what passes under stock must pass under it. Django's test suite is the
largest body of tests written against the stock runner, so this script runs
it twice on the same labels, with the same options:

1. with ``--settings test_sqlite`` (Django's example settings: two SQLite
   aliases, ``default`` and ``other``, stock ``DiscoverRunner``);
2. with a settings module that imports everything from ``test_sqlite`` and sets
   ``TEST_RUNNER = "multidb_runner.MultiDBRunner"``.

It then reads the FAIL:/ERROR: blocks of both summaries and prints the number
of tests run, the failures and errors of each run, and the tests that fail
under one runner only, each with the last line of its traceback.

The source of Django's tests comes from the sdist of the requested version
(``pip download --no-binary :all: django==VERSION``), unpacked into the work
folder. The tests run in the interpreter given by ``--python`` (default: this
one), which must have that version of Django and this package installed;
``--make-venv`` creates such a virtualenv in the work folder instead.

Usage (from a virtualenv with this package and Django installed)::

    python scripts/django_suite.py WORK_DIR [--django-version 5.2.19]
        [--labels multiple_database test_utils ... | --exclude unmanaged_models ...]
        [--parallel 2] [--python PATH | --make-venv] [--recheck]
        [--runner-settings MODULE] [--reuse-stock] [--timeout SECONDS]

For example, the apps that use several databases most, serially, then the
whole suite on two processes less an app that cannot run yet::

    python scripts/django_suite.py /tmp/djsuite --parallel 1 --labels multiple_database test_utils transactions
    python scripts/django_suite.py /tmp/djsuite --exclude unmanaged_models --recheck

``--labels`` restricts both runs to some test apps, classes or tests (default:
the whole suite); ``--exclude`` leaves apps out. ``--recheck`` runs the tests
that failed under one runner only again, alone, under both runners, to tell
a difference that reproduces from a flaky or order-dependent one.
``--runner-settings`` runs the runner's side with another settings module
(say, one that also sets ``MULTIDB_RUNNER``). ``--reuse-stock`` takes the
stock run from the logs of an earlier run with the same version, labels and
``--parallel``.

Exit status: 0 when every test that fails under the runner only is in
ALLOWED_DIFFERENCES below; 1 when some other test does; 2 when a run did not
finish with a test summary (it crashed or timed out) or the setup failed.
The output of every run is kept in WORK_DIR/logs/. Run as root, a few tests
that expect a permission error fail under both runners; they are listed
under "Fail under both", not as differences.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from suite_comparison import Problem, Sides, download_sdist, print_differences, print_side_by_side, run_logged

REPOSITORY = Path(__file__).resolve().parent.parent

#: The settings module written into Django's tests folder for the runner's run.
RUNNER_SETTINGS = "test_sqlite_multidb_runner"
RUNNER_SETTINGS_SOURCE = '''\
"""Django's test_sqlite settings, run by multidb_runner (written by scripts/django_suite.py)."""

from test_sqlite import *  # noqa: F403

TEST_RUNNER = "multidb_runner.MultiDBRunner"
'''

SIDES = Sides(stock="under stock", other="under the runner", both="under both")

#: The counts in unittest's closing "FAILED (...)" or "OK (...)" line.
SUMMARY_COUNTS = ("failures", "errors", "skipped", "expected failures", "unexpected successes")

#: How much of the exception that ended a crashed run to print.
CRASH_LINES = 15

SEPARATOR = "=" * 70
DASHES = "-" * 70
HEADER = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (.*)$")
RAN = re.compile(r"^Ran (\d+) tests? in ([\d.]+)s$")
OUTCOME = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$")
# "test_x (module.Class.test_x)" on Python 3.11+, "test_x (module.Class)" before;
# a subtest adds " [message] (params)"; a class fixture is "setUpClass (module.Class)".
DESCRIPTION = re.compile(r"^(\S+) \(([^()\s]+)\)(.*)$")


@dataclass(frozen=True)
class AllowedDifference:
    """Tests that may fail under MultiDBRunner only, and why."""

    #: A test id (``module.Class.method``) or an fnmatch pattern of test ids.
    pattern: str
    #: Why the runner makes them fail, by design.
    reason: str
    #: A regular expression the failure's last traceback line must match (None: any failure).
    message: str | None = None

    def allows(self, problem: Problem) -> bool:
        """Return True if ``problem`` is this by-design difference."""
        base = problem.test_id.split(" ", 1)[0]  # without a subtest's parameters
        if not fnmatch.fnmatchcase(base, self.pattern):
            return False
        return self.message is None or re.match(self.message, problem.message) is not None


#: A model check under ``databases=self.databases`` reporting its problem once per alias.
DUPLICATED_CHECK_MESSAGES = r"AssertionError: (Lists differ|Element counts were not equal)"
CHECKS_ON_EVERY_ALIAS = (
    "keeps the default databases and runs Model.check(databases=self.databases): with every alias "
    "injected, the database-dependent check runs on 'other' too and reports the problem twice"
)

#: Tests that fail under MultiDBRunner only, by design: the runner lets test
#: classes that keep Django's default ``databases`` use every alias, and that
#: is visible in ``cls.databases``; and it manages unmanaged models' tables
#: for the run, which is visible in ``_meta.managed``.
ALLOWED_DIFFERENCES: tuple[AllowedDifference, ...] = (
    # Asserts that a TestCase keeping the default databases may not open a connection to 'other'.
    AllowedDifference(
        "test_utils.test_testcase.TestTestCase.test_disallowed_database_connection",
        "asserts that a TestCase keeping the default databases may not connect to 'other'",
    ),
    # Asserts that a TestCase keeping the default databases may not query 'other'.
    AllowedDifference(
        "test_utils.test_testcase.TestTestCase.test_disallowed_database_queries",
        "asserts that a TestCase keeping the default databases may not query 'other'",
    ),
    # Asserts that a TransactionTestCase keeping the default databases may not query 'other'.
    AllowedDifference(
        "test_utils.test_transactiontestcase.DisallowedDatabaseQueriesTests.test_disallowed_database_queries",
        "asserts that a TransactionTestCase keeping the default databases may not query 'other'",
    ),
    # The model checks of constraints (Meta.constraints) on every alias.
    AllowedDifference(
        "invalid_models_tests.test_models.ConstraintsTests.*", CHECKS_ON_EVERY_ALIAS, DUPLICATED_CHECK_MESSAGES
    ),
    # The model checks of indexes (Meta.indexes) on every alias.
    AllowedDifference(
        "invalid_models_tests.test_models.IndexesTests.*", CHECKS_ON_EVERY_ALIAS, DUPLICATED_CHECK_MESSAGES
    ),
    # The model check of Meta.db_table_comment on every alias.
    AllowedDifference(
        "invalid_models_tests.test_models.DbTableCommentTests.*", CHECKS_ON_EVERY_ALIAS, DUPLICATED_CHECK_MESSAGES
    ),
    # The field checks of db_default on every alias.
    AllowedDifference(
        "invalid_models_tests.test_ordinary_fields.InvalidDBDefaultTests.*",
        CHECKS_ON_EVERY_ALIAS,
        DUPLICATED_CHECK_MESSAGES,
    ),
    # The field check of db_comment on every alias.
    AllowedDifference(
        "invalid_models_tests.test_ordinary_fields.DbCommentTests.*", CHECKS_ON_EVERY_ALIAS, DUPLICATED_CHECK_MESSAGES
    ),
    # Mocks call_command and checks only its last call: the class keeps the
    # default databases, so its teardown flushes 'default', then 'other'.
    AllowedDifference(
        "test_utils.test_transactiontestcase.TestSerializedRollbackInhibitsPostMigrate.test",
        "keeps the default databases and checks the last call_command('flush', ...) of its teardown: "
        "with every alias injected, that call is for 'other'",
        r"AssertionError: expected call not found",
    ),
    # Asserts that an unmanaged through model's table is not Django's to manage:
    # the runner creates and flushes unmanaged models' tables, so during the
    # run they count as managed (--no-managed-legacy keeps stock behaviour).
    AllowedDifference(
        "introspection.tests.IntrospectionTests.test_unmanaged_through_model",
        "asserts django_table_names() leaves out an unmanaged model's table, which the runner manages for the run",
        r"AssertionError: 'introspection_articlereporter' unexpectedly found",
    ),
)


@dataclass
class RunResult:
    """What one run of runtests.py reported."""

    name: str
    exit_code: int | None
    seconds: float
    tests_run: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)
    #: The exception that ended a run that printed no summary (its first lines).
    crash: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Return True if the run printed a test summary."""
        return self.tests_run is not None


def test_id(description: str) -> str:
    """Return ``module.Class.method`` (plus any subtest suffix) for a unittest description line."""
    match = DESCRIPTION.match(description)
    if not match:
        return description.strip()
    name, dotted, rest = match.groups()
    identifier = dotted if dotted.endswith("." + name) else f"{dotted}.{name}"
    return f"{identifier} {rest.strip()}".strip()


def exception_lines(block: list[str]) -> list[str]:
    """Return the non-blank lines of the exception that ends a traceback block (or the last line)."""
    starts = [index for index, line in enumerate(block) if line.startswith("Traceback (most recent call last):")]
    if starts:
        rest = block[starts[-1] + 1 :]
        first = next((index for index, line in enumerate(rest) if line and not line[0].isspace()), None)
        if first is not None:
            return [line for line in rest[first:] if line.strip()]
    lines = [line for line in block if line.strip()]
    return lines[-1:]


def exception_line(block: list[str]) -> str:
    """Return the first line of the exception that ends a traceback block."""
    lines = exception_lines(block)
    return lines[0] if lines else ""


def parse_summary(name: str, text: str, exit_code: int | None, seconds: float) -> RunResult:
    """Read the error list and the closing lines that unittest writes at the end of a run."""
    result = RunResult(name=name, exit_code=exit_code, seconds=seconds)
    lines = text.splitlines()
    ran_at = None
    for index, line in enumerate(lines):
        if match := RAN.match(line):
            ran_at = index
            result.tests_run = int(match.group(1))
    if ran_at is None:
        result.crash = exception_lines(lines)[:CRASH_LINES]
        return result
    for line in lines[ran_at + 1 :]:
        if match := OUTCOME.match(line.strip()):
            for part in (match.group(2) or "").split(", "):
                if "=" in part:
                    key, value = part.split("=", 1)
                    result.counts[key] = int(value)
            break
    # The error list runs from the first separator to the dashes before "Ran".
    end = ran_at - 1 if ran_at > 0 and lines[ran_at - 1] == DASHES else ran_at
    index = 0
    while index < end:
        match = HEADER.match(lines[index]) if index > 0 and lines[index - 1] == SEPARATOR else None
        if not match:
            index += 1
            continue
        kind, description = match.groups()
        block_end = index + 1
        while block_end < end and lines[block_end] != SEPARATOR:
            block_end += 1
        block = lines[index + 1 : block_end]
        if DASHES in block:
            block = block[block.index(DASHES) + 1 :]
        identifier = test_id(description)
        message = "unexpected success" if kind == "UNEXPECTED SUCCESS" else exception_line(block)
        result.problems[identifier] = Problem(kind=kind, test_id=identifier, message=message)
        index = block_end
    return result


def allowed_reason(problem: Problem) -> str | None:
    """Return why ``problem`` may happen under the runner only, or None if it may not."""
    for allowed in ALLOWED_DIFFERENCES:
        if allowed.allows(problem):
            return allowed.reason
    return None


def installed_django_version(python: str) -> str:
    """Return the version of Django that ``python`` imports."""
    completed = subprocess.run(
        [python, "-c", "import django; print(django.__version__)"], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"{python} cannot import Django:\n{completed.stderr}")
    return completed.stdout.strip()


def download_django(version: str, work_dir: Path) -> Path:
    """Download and unpack the sdist of Django ``version`` (exact) unless done before; return its tests folder."""
    return download_sdist("django", version, work_dir, work_dir / "sdist") / "tests"


def make_venv(version: str, work_dir: Path, tests_dir: Path) -> str:
    """Create a virtualenv with this package, Django ``version`` and the test requirements that install."""
    venv = work_dir / f"venv-django-{version}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", str(REPOSITORY), f"Django=={version}"], check=True)
        requirements = tests_dir / "requirements" / "py3.txt"
        for line in requirements.read_text().splitlines():
            requirement = line.split("#", 1)[0].strip()
            if not requirement:
                continue
            # One at a time: a requirement that does not build here only
            # skips the tests that need it.
            completed = subprocess.run([*pip, requirement], capture_output=True, text=True, check=False)
            print(f"  {'installed' if completed.returncode == 0 else 'skipped  '} {requirement}")
    return str(python)


def test_modules(tests_dir: Path) -> list[str]:
    """
    Return the test apps runtests.py runs when given no label.

    Derived from get_test_modules() in Django's tests/runtests.py, for a
    database without GIS (gis_tests is skipped, as runtests.py does then).
    """
    skipped = {"import_error_package", "test_runner_apps", "gis_tests"}
    return sorted(
        entry.name
        for entry in tests_dir.iterdir()
        if "." not in entry.name and entry.name not in skipped and entry.is_dir() and (entry / "__init__.py").exists()
    )


def selected_labels(tests_dir: Path, labels: list[str], excluded: list[str]) -> list[str]:
    """Return ``labels`` (default: every test app) without the ``excluded`` apps or labels."""
    if not excluded:
        return labels
    return [
        label
        for label in labels or test_modules(tests_dir)
        if not any(label == name or label.startswith(name + ".") for name in excluded)
    ]


@dataclass
class Suite:
    """Where and how runtests.py runs, and where its output goes."""

    python: str
    tests_dir: Path
    log_prefix: Path
    parallel: str
    timeout: float | None
    #: The settings module of the runner's runs.
    runner_settings: str = RUNNER_SETTINGS

    @property
    def runner_name(self) -> str:
        """Name the runner's run in log file names (after its settings when not the default ones)."""
        return "runner" if self.runner_settings == RUNNER_SETTINGS else f"runner-{self.runner_settings}"

    def log(self, name: str, suffix: str) -> Path:
        """Return the path of one of run ``name``'s log files."""
        return self.log_prefix.with_name(f"{self.log_prefix.name}-{name}.{suffix}")

    def run(self, name: str, settings: str, labels: list[str]) -> RunResult:
        """Run runtests.py once, keeping its output in log files, and parse the summary."""
        command = [
            *(self.python, "runtests.py", "--settings", settings, "--noinput"),
            *("--parallel", self.parallel, *labels),
        ]
        shown = " ".join(command) if len(command) < 40 else " ".join([*command[:12], f"... ({len(labels)} labels)"])
        print(f"Running {name}: {shown}", flush=True)
        with self.log(name, "out").open("w") as out, self.log(name, "err").open("w") as err:
            exit_code, seconds = run_logged(command, self.tests_dir, out, err, self.timeout)
        self.log(name, "json").write_text(json.dumps({"exit_code": exit_code, "seconds": seconds}))
        return parse_summary(name, self.log(name, "err").read_text(errors="replace"), exit_code, seconds)

    def reused(self, name: str) -> RunResult | None:
        """Return the finished run ``name`` of an earlier invocation with the same logs, if any."""
        if not (self.log(name, "err").exists() and self.log(name, "json").exists()):
            return None
        meta = json.loads(self.log(name, "json").read_text())
        text = self.log(name, "err").read_text(errors="replace")
        result = parse_summary(name, text, meta["exit_code"], meta["seconds"])
        return result if result.finished else None


def recheck_label(identifier: str) -> str | None:
    """Return the runtests.py label that runs the test (or class, for a class fixture) ``identifier``."""
    base = identifier.split(" ", 1)[0]
    if base.startswith("unittest."):  # A module that failed to import.
        return None
    owner, _, name = base.rpartition(".")
    return owner if name in {"setUpClass", "tearDownClass", "setUpModule", "tearDownModule"} else base


def recheck(suite: Suite, problems: list[Problem]) -> dict[str, str]:
    """Run ``problems``' tests again, alone, under both runners; return a verdict per test id."""
    labels = sorted({label for problem in problems if (label := recheck_label(problem.test_id))})
    if not labels:
        return {}
    stock = suite.run("recheck-stock", "test_sqlite", labels)
    runner = suite.run(f"recheck-{suite.runner_name}", suite.runner_settings, labels)
    if not (stock.finished and runner.finished):
        return {problem.test_id: "the recheck did not finish" for problem in problems}
    verdicts = SIDES.verdicts()
    return {
        problem.test_id: verdicts[problem.test_id in stock.problems, problem.test_id in runner.problems]
        for problem in problems
    }


def print_counts(stock: RunResult, runner: RunResult) -> None:
    """Print the tests run, the failures, errors and skips, and the time of both runs side by side."""

    def count(run: RunResult, key: str) -> object:
        return run.counts.get(key, 0) if run.finished else "-"

    def tests_run(run: RunResult) -> object:
        return run.tests_run if run.finished else "-"

    rows: list[tuple[str, object, object]] = [("tests run", tests_run(stock), tests_run(runner))]
    rows += [(key, count(stock, key), count(runner, key)) for key in SUMMARY_COUNTS]
    print_side_by_side(rows, stock, runner, "MultiDBRunner")


def report(stock: RunResult, runner: RunResult, suite: Suite | None = None) -> int:
    """Print the comparison of both runs (with ``suite``: recheck the differences); return the exit status."""
    print_counts(stock, runner)
    for run in (stock, runner):
        if not run.finished:
            if run.exit_code is None:
                print(f"\nThe {run.name} run printed no test summary: it timed out.")
                continue
            print(f"\nThe {run.name} run printed no test summary: it crashed.")
            for line in run.crash:
                print(f"    {line}")
    if not (stock.finished and runner.finished):
        return 2
    if stock.tests_run != runner.tests_run:
        print("\nThe runs ran different numbers of tests (a class fixture error skips its class's tests).")

    return print_differences(
        stock.problems,
        runner.problems,
        allowed_reason,
        SIDES,
        (lambda problems: recheck(suite, problems)) if suite is not None else None,
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0].strip())
    parser.add_argument("work_dir", type=Path, help="Folder for the sdist, the logs and any virtualenv.")
    parser.add_argument(
        "--django-version", help="Exact Django version whose test suite to run. Defaults to the installed one."
    )
    parser.add_argument(
        "--labels", nargs="+", default=[], metavar="LABEL", help="Test labels for runtests.py (default: all)."
    )
    parser.add_argument(
        "--exclude",
        nargs="+",
        default=[],
        metavar="LABEL",
        help="Test apps (or labels) to leave out of --labels, or of the whole suite.",
    )
    parser.add_argument("--parallel", default="2", help="runtests.py --parallel value (default: 2).")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--python", default=sys.executable, help="Interpreter that runs the tests (default: this one).")
    group.add_argument(
        "--make-venv",
        action="store_true",
        help="Create WORK_DIR/venv-django-VERSION with this package, Django and its test requirements.",
    )
    parser.add_argument(
        "--runner-settings",
        default=RUNNER_SETTINGS,
        metavar="MODULE",
        help=(
            "Settings module of the runner's runs, importable from Django's tests folder or PYTHONPATH, "
            f"to try a variant (default: {RUNNER_SETTINGS}, written by this script)."
        ),
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="Run the tests that failed under one runner only again, alone, under both runners.",
    )
    parser.add_argument(
        "--reuse-stock",
        action="store_true",
        help="Reuse the stock run's logs from an earlier run with the same version, labels and --parallel.",
    )
    parser.add_argument("--timeout", type=float, default=None, help="Seconds after which a run is stopped.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run both suites and compare them."""
    options = parse_arguments(argv)
    work_dir = options.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    version = options.django_version or installed_django_version(options.python)
    if not options.make_venv and (installed := installed_django_version(options.python)) != version:
        print(f"{options.python} has Django {installed}, not {version}: use --make-venv or --python.", file=sys.stderr)
        return 2
    tests_dir = download_django(version, work_dir)
    python = make_venv(version, work_dir, tests_dir) if options.make_venv else options.python
    (tests_dir / f"{RUNNER_SETTINGS}.py").write_text(RUNNER_SETTINGS_SOURCE)

    labels = selected_labels(tests_dir, options.labels, options.exclude)
    if options.labels:
        shown = " ".join(labels)
    else:
        shown = "the whole suite" + (f" less {' '.join(options.exclude)}" if options.exclude else "")
    labels_key = hashlib.sha1(" ".join(labels).encode()).hexdigest()[:8] if labels else "all"
    (work_dir / "logs").mkdir(exist_ok=True)
    suite = Suite(
        python=python,
        tests_dir=tests_dir,
        log_prefix=work_dir / "logs" / f"django-{version}-parallel{options.parallel}-{labels_key}",
        parallel=options.parallel,
        timeout=options.timeout,
        runner_settings=options.runner_settings,
    )
    print(f"Django {version} ({tests_dir}), labels: {shown}, --parallel {options.parallel}")
    print(f"Logs: {suite.log_prefix}-*.{{out,err}}")

    stock = suite.reused("stock") if options.reuse_stock else None
    if stock is not None:
        print("Reusing the stock run's logs.")
    else:
        stock = suite.run("stock", "test_sqlite", labels)
    runner = suite.run(suite.runner_name, suite.runner_settings, labels)
    return report(stock, runner, suite if options.recheck else None)


if __name__ == "__main__":
    sys.exit(main())
