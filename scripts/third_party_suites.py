#!/usr/bin/env python
"""
Run third-party projects' pytest-django suites with and without the pytest plugin, and compare.

``multidb_runner.pytest_plugin`` replaces pytest-django's ``django_db_setup``
and changes what the runner changes; everything else must behave as under
plain pytest-django. The projects in PROJECTS below test with pytest-django
and use several databases or PostgreSQL-specific features (triggers,
``django.contrib.postgres``, partitioned tables, schemas). For each one this
script:

1. exports the pinned commit of its repository from a local git copy (a
   clone, or a bare mirror) into WORK_DIR/src/;
2. makes a virtualenv in WORK_DIR/venv-NAME with the project's test
   requirements (pinned as its own lock file pins them), Django, and this
   package with its ``pytest`` extra (editable: a change to the package is
   picked up by the next run);
3. runs each of the project's suites twice, as its own CI runs them: stock
   (plain pytest-django), then with ``-p multidb_runner.pytest_plugin``;
4. reads both runs' JUnit XML and prints the counts, the tests collected by
   one run only, and the tests that fail (or error) in one run only.

The sources are not downloaded: give each project a git copy with
``--source NAME=PATH`` (a clone's folder, its ``.git``, or a bare mirror), or
``--sources-dir DIR`` holding clones named after the repositories
(``DIR/django-pgtrigger``, ...). A project without one is skipped with a
message saying how to get it. The commit must be in that copy.

The PostgreSQL server comes from the environment variables PG_HOST, PG_PORT,
PG_USER and PG_PASSWORD (those of ``.ci/servers.sh``'s env file); the user
must be allowed to create databases. Each project gets them in the variables
its settings read. Nothing is printed of them but their names.

Usage::

    python scripts/third_party_suites.py WORK_DIR --source pgtrigger=PATH ... | --sources-dir DIR
        [--projects pgtrigger pghistory ...] [--xdist N] [--python PATH] [--timeout SECONDS]

Exit status: 0 when every test that fails with the plugin only is in its
project's allowed differences; 1 when some other test does, or a test is
collected by one run only; 2 when a run crashed or timed out (no JUnit XML,
or pytest's exit status says it did not finish), a setup step failed, or no
project could run. The output of every run is kept in WORK_DIR/logs/.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from suite_comparison import print_side_by_side, run_logged

REPOSITORY = Path(__file__).resolve().parent.parent

PLUGIN = "multidb_runner.pytest_plugin"

#: The Django the projects are tested with.
DJANGO = "Django>=5.2,<5.3"

#: pytest's exit statuses of a session that ran to its end: all passed, some failed.
FINISHED = {0, 1}


@dataclass(frozen=True)
class AllowedDifference:
    """Tests that may fail with the plugin only, and why."""

    #: An fnmatch pattern of test ids (``module.Class::test_name[params]``).
    pattern: str
    #: Why the plugin makes them fail, by design: a sentence a user would accept.
    reason: str

    def allows(self, test_id: str) -> bool:
        """Return True if ``test_id`` is this by-design difference."""
        return fnmatch.fnmatchcase(test_id, self.pattern)


@dataclass(frozen=True)
class Suite:
    """One pytest invocation of a project, as its CI runs it."""

    name: str
    #: Arguments after ``python -m pytest`` (the project's configuration adds its own).
    pytest_args: tuple[str, ...] = ()
    #: Environment variables of this suite only (templates, see Project.environment).
    environment: Mapping[str, str] = field(default_factory=dict)
    #: False for a suite whose tests cannot run under pytest-xdist (--xdist leaves it serial).
    xdist: bool = True


@dataclass(frozen=True)
class Project:
    """A third-party project whose pytest-django suite is compared."""

    #: Short name, for --projects and --source.
    name: str
    #: owner/name of its GitHub repository.
    repository: str
    commit: str
    #: pip requirements besides Django and this package: the test requirements, pinned.
    requirements: tuple[str, ...]
    #: The suites to run, each stock and with the plugin.
    suites: tuple[Suite, ...]
    #: Environment variables of every suite; ``{pg_host}``, ``{pg_port}``, ``{pg_user}``,
    #: ``{pg_password}`` and ``{pg_url}`` (``postgres://user:password@host:port``) are the server's.
    environment: Mapping[str, str] = field(default_factory=dict)
    #: Install the exported tree into the virtualenv (``pip install --no-deps -e``): needed when the
    #: code reads its own distribution's metadata.
    install_project: bool = False
    #: Plugins from SHIMS loaded in both runs (``-p NAME``).
    shims: tuple[str, ...] = ()
    #: Tests that may fail with the plugin only.
    allowed: tuple[AllowedDifference, ...] = ()

    @property
    def repository_name(self) -> str:
        """Return the repository's name without its owner."""
        return self.repository.rpartition("/")[2]


#: Small pytest plugins that let a project's suite run on this machine, the same in both runs,
#: with the reason each is needed.
SHIMS: dict[str, tuple[str, str]] = {
    "thirdparty_no_browser_download": (
        "def pytest_configure(config):\n    config._did_install_playwright = True\n",
        "django-polymorphic's conftest downloads a browser for its UI tests as soon as one is collected, "
        "before -m deselects them; the runs here deselect them and download nothing",
    ),
}

POSTGRES_ENVIRONMENT = {
    "POSTGRES_HOST": "{pg_host}",
    "POSTGRES_PORT": "{pg_port}",
    "POSTGRES_USER": "{pg_user}",
    "POSTGRES_PASSWORD": "{pg_password}",
}

PROJECTS: tuple[Project, ...] = (
    # PostgreSQL triggers. Five aliases: 'default' (the psqlextra backend), 'other' (a second
    # PostgreSQL database), 'order' and 'receipt' ('default''s database under another search_path,
    # so that Django's test setup makes them its test mirrors), and 'sqlite'. A router, schemas made
    # in a pre_migrate hook, a conftest that wraps django_db_setup to migrate 'order' and 'receipt',
    # tests that name databases and tests that name none. Its tox runs two sessions: the suite,
    # then the tests marked 'independent' (they make models at run time).
    Project(
        name="pgtrigger",
        repository="AmbitionEng/django-pgtrigger",
        commit="98f763d130ea8512a0196879e055a9e834de25e9",  # 4.17.0
        requirements=(
            # [tool.poetry.dev-dependencies] of its pyproject.toml, those the tests import.
            "pytest==9.0.1",
            "pytest-django==4.11.1",
            "pytest-mock==3.14.0",
            "pytest-order==1.1.0",
            "pytest-dotenv==0.5.2",
            "django-postgres-extra==2.0.4",
            "dj-database-url==3.0.1",
            "psycopg2-binary==2.9.11",
            "django-dynamic-fixture==4.0.1",
            "django-pgbulk==3.2.2",
            "typing-extensions==4.15.0",
        ),
        environment={"DATABASE_URL": "{pg_url}/tp_pgtrigger"},
        install_project=True,  # pgtrigger.version reads its distribution's metadata.
        suites=(
            Suite("suite", ("--create-db",)),
            # Its options' --reuse-db alone, as a developer runs it: the databases the suite kept.
            Suite("reuse-db"),
            # Both write migration files into the source tree: under pytest-xdist they race.
            Suite("independent", ("--create-db", "-m", "independent"), xdist=False),
        ),
    ),
    # History tables filled by PostgreSQL triggers (it uses pgtrigger), its admin, a middleware that
    # sets a PostgreSQL session variable, async tests. One alias.
    Project(
        name="pghistory",
        repository="AmbitionEng/django-pghistory",
        commit="629ace9eed6461b160f55ba3a5cab2b339dd8e5b",  # 3.9.2
        requirements=(
            "django-pgtrigger==4.15.4",  # as its poetry.lock pins it
            "beautifulsoup4==4.11.1",
            "django-extensions==3.1.3",
            "pillow==12.0.0",
            "pytest==9.0.1",
            "pytest-django==4.11.1",
            "pytest-mock==3.6.1",
            "pytest-dotenv==0.5.2",
            "pytest-asyncio==1.3.0",
            "dj-database-url==3.0.1",
            "psycopg2-binary==2.9.11",
            "django-dynamic-fixture==4.0.1",
            "typing-extensions==4.15.0",
        ),
        environment={"DATABASE_URL": "{pg_url}/tp_pghistory"},
        install_project=True,  # pghistory.version reads its distribution's metadata.
        suites=(Suite("suite", ("--create-db",)), Suite("reuse-db")),
    ),
    # Two aliases, 'default' and 'secondary', on PostgreSQL or SQLite (in memory): a TestCase with
    # databases = ["default", "secondary"], content types and polymorphic queries on the second
    # database, migration tests (django-test-migrations), admin tests. Its CI runs it on every
    # backend; the UI tests need a browser and the integration tests other packages: both are left
    # out, as its default options leave the integration tests out.
    Project(
        name="polymorphic",
        repository="jazzband/django-polymorphic",
        commit="aa79885c711110995f76b09119028653eb6cdf84",  # 4.11.3 and later
        requirements=(
            # The 'test' dependency group, as its uv.lock pins it (pytest-playwright: the tests import it).
            "django-test-migrations==1.5.0",
            "pytest==9.0.3",
            "pytest-django==4.12.0",
            "pytest-mock==3.15.1",
            "pytest-playwright==0.7.2",
            "playwright==1.59.0",
            "psycopg[binary]==3.3.9",
        ),
        install_project=True,
        shims=("thirdparty_no_browser_download",),
        suites=(
            Suite(
                "postgresql",
                ("-m", "not integration and not ui"),
                {"RDBMS": "postgres", **POSTGRES_ENVIRONMENT},
            ),
            Suite("sqlite", ("-m", "not integration and not ui"), {"RDBMS": "sqlite"}),
        ),
    ),
    # Model mixins and fields (field tracker, soft delete, status, inheritance manager) tested on
    # PostgreSQL, its CI's database. One alias.
    Project(
        name="model-utils",
        repository="jazzband/django-model-utils",
        commit="66734d6f7fa4ef1f7348cecb158064e49452e340",  # 5.0.0 and later
        requirements=(
            # requirements-test.txt and tox.ini's deps (unpinned there: the versions current when checked).
            "pytest==9.2.0",
            "pytest-django==4.14.0",
            "psycopg2-binary==2.9.13",
            "psycopg[binary]==3.3.9",
            "time-machine==3.6.0",
        ),
        environment={**POSTGRES_ENVIRONMENT, "POSTGRES_DB": "tp_model_utils"},
        suites=(Suite("suite"),),
    ),
)


@dataclass
class TestResult:
    """One test's outcome in one run."""

    #: passed, failed, error or skipped.
    outcome: str
    #: The first line of the failure's or error's message.
    message: str = ""

    @property
    def failed(self) -> bool:
        """Return True for a failure or an error."""
        return self.outcome in {"failed", "error"}


@dataclass
class RunResult:
    """One pytest session of one suite."""

    name: str
    exit_code: int | None
    seconds: float
    tests: dict[str, TestResult]
    #: False when the session did not run to its end (crash, usage error, timeout, no JUnit XML).
    finished: bool
    log: Path

    def count(self, outcome: str) -> int:
        """Return how many tests had ``outcome``."""
        return sum(1 for result in self.tests.values() if result.outcome == outcome)


def read_junit(path: Path) -> dict[str, TestResult]:
    """Return the outcome of every test case of pytest's JUnit XML file at ``path``."""
    results: dict[str, TestResult] = {}
    for case in ElementTree.parse(path).iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        result = TestResult("passed")
        # A test that fails and then errors in its teardown has both elements: the error counts.
        for tag, outcome in (("skipped", "skipped"), ("failure", "failed"), ("error", "error")):
            element = case.find(tag)
            if element is not None:
                lines = (element.get("message") or element.text or "").strip().splitlines()
                result = TestResult(outcome, lines[0] if lines else "")
        results[test_id] = result
    return results


def server_values() -> dict[str, str]:
    """Return the PostgreSQL server's values for the environment templates (empty without PG_HOST)."""
    if "PG_HOST" not in os.environ:
        return {}
    values = {key.lower(): os.environ.get(key, "") for key in ("PG_HOST", "PG_PORT", "PG_USER", "PG_PASSWORD")}
    credentials = urllib.parse.quote(values["pg_user"], safe="")
    if values["pg_password"]:
        credentials += ":" + urllib.parse.quote(values["pg_password"], safe="")
    values["pg_url"] = f"postgres://{credentials}@{values['pg_host']}:{values['pg_port'] or 5432}"
    return values


def redact(text: str) -> str:
    """Return ``text`` without the server's password (a traceback may show a connection string)."""
    password = os.environ.get("PG_PASSWORD", "")
    return text.replace(password, "********") if password else text


def needs_server(project: Project, suite: Suite) -> bool:
    """Return True if ``suite``'s environment names the PostgreSQL server."""
    templates = [*project.environment.values(), *suite.environment.values()]
    return any("{pg_" in template for template in templates)


class SetupError(Exception):
    """A step before the runs failed: no source, a commit missing, an install that failed."""


def git_dir(path: Path) -> Path | None:
    """Return the git directory of the clone or bare repository at ``path``, or None."""
    completed = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--absolute-git-dir"], capture_output=True, text=True, check=False
    )
    return Path(completed.stdout.strip()) if completed.returncode == 0 else None


def export_tree(project: Project, repository: Path, destination: Path) -> None:
    """Write the files of ``project.commit`` from the git repository ``repository`` into ``destination``."""
    if destination.exists():
        shutil.rmtree(destination)  # A tree left by an earlier run may hold files its tests wrote.
    destination.mkdir(parents=True)
    archive = subprocess.run(
        ["git", f"--git-dir={repository}", "archive", "--format=tar", project.commit],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip()
        raise SetupError(f"commit {project.commit} of {project.repository} is not in {repository}: {message}")
    archive_path = destination.with_suffix(".tar")
    archive_path.write_bytes(archive.stdout)
    with tarfile.open(archive_path) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, filter="data")
        else:  # A Python without the extraction filters (before 3.10.12 and 3.11.4).
            tar.extractall(destination)
    archive_path.unlink()


def make_venv(project: Project, work_dir: Path, tree: Path, python: str) -> str:
    """Create (or bring up to date) the project's virtualenv; return its interpreter."""
    venv = work_dir / f"venv-{project.name}"
    venv_python = venv / "bin" / "python"
    requirements = [DJANGO, *project.requirements, "-e", f"{REPOSITORY}[pytest]"]
    stamp = venv / "third_party_suites.json"
    wanted = json.dumps({"python": python, "requirements": requirements, "tree": str(tree)})
    if venv_python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return str(venv_python)
    print(f"  making {venv}", flush=True)
    if venv.exists():
        shutil.rmtree(venv)
    steps = [
        [python, "-m", "venv", str(venv)],
        [str(venv_python), "-m", "pip", "install", "--quiet", *requirements],
    ]
    if project.install_project:
        steps.append([str(venv_python), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(tree)])
    for command in steps:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise SetupError(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
    stamp.write_text(wanted)
    return str(venv_python)


def write_shims(work_dir: Path) -> Path:
    """Write the SHIMS plugins into WORK_DIR/shims; return the folder."""
    folder = work_dir / "shims"
    folder.mkdir(exist_ok=True)
    for name, (source, _reason) in SHIMS.items():
        (folder / f"{name}.py").write_text(source)
    return folder


@dataclass
class Runner:
    """Runs one project's suites: where, with what, and where the output goes."""

    project: Project
    python: str
    tree: Path
    logs: Path
    shims: Path
    server: dict[str, str]
    xdist: int | None
    timeout: float | None

    def environment(self, suite: Suite) -> dict[str, str]:
        """Return the environment of ``suite``'s runs."""
        environment = dict(os.environ)
        # A settings module from the caller's environment must not replace the project's own.
        environment.pop("DJANGO_SETTINGS_MODULE", None)
        environment.pop("PYTEST_ADDOPTS", None)
        environment.pop("PYTEST_PLUGINS", None)
        for key, template in {**self.project.environment, **suite.environment}.items():
            environment[key] = template.format(**self.server)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.shims), os.environ.get("PYTHONPATH")]))
        return environment

    def run(self, suite: Suite, with_plugin: bool) -> RunResult:
        """Run ``suite`` once, stock or with the plugin; keep its output and JUnit XML in the logs."""
        name = f"{self.project.name}-{suite.name}-{'plugin' if with_plugin else 'stock'}"
        junit = self.logs / f"{name}.xml"
        log = self.logs / f"{name}.log"
        junit.unlink(missing_ok=True)
        command = [self.python, "-m", "pytest", "-p", "no:cacheprovider", f"--junit-xml={junit}", "-rfE"]
        for shim in self.project.shims:
            command += ["-p", shim]
        if self.xdist and suite.xdist:
            command += ["-n", str(self.xdist)]
        if with_plugin:
            command += ["-p", PLUGIN]
        command += suite.pytest_args
        variables = sorted({*self.project.environment, *suite.environment})
        print(f"  {name}: {shlex.join(command[1:])}  (env: {', '.join(variables) or 'none'})", flush=True)
        with log.open("w") as output:
            exit_code, seconds = run_logged(
                command, self.tree, output, subprocess.STDOUT, self.timeout, env=self.environment(suite)
            )
        tests = read_junit(junit) if junit.exists() else {}
        finished = exit_code in FINISHED and junit.exists()
        return RunResult(name, exit_code, seconds, tests, finished, log)


def allowed_reason(project: Project, test_id: str) -> str | None:
    """Return why ``test_id`` may fail with the plugin only, or None if it may not."""
    return next((allowed.reason for allowed in project.allowed if allowed.allows(test_id)), None)


def print_counts(stock: RunResult, plugin: RunResult) -> None:
    """Print both runs' counts side by side."""
    rows: list[tuple[str, object, object]] = [("tests", len(stock.tests), len(plugin.tests))]
    rows += [(outcome, stock.count(outcome), plugin.count(outcome)) for outcome in ("passed", "failed", "error")]
    rows += [("skipped", stock.count("skipped"), plugin.count("skipped"))]
    print_side_by_side(rows, stock, plugin, "plugin", indent="    ", widths=(18, 10, 10))


def compare(project: Project, stock: RunResult, plugin: RunResult) -> int:
    """Print the comparison of one suite's runs; return its exit status."""
    print_counts(stock, plugin)
    for run in (stock, plugin):
        if not run.finished:
            state = "timed out" if run.exit_code is None else f"did not finish (exit status {run.exit_code})"
            print(f"    The {run.name} run {state}; its output: {run.log}")
            for line in run.log.read_text(errors="replace").splitlines()[-15:]:
                print(f"        {redact(line)}")
    if not (stock.finished and plugin.finished):
        return 2
    status = 0
    for one, other in ((stock, plugin), (plugin, stock)):
        missing = sorted(one.tests.keys() - other.tests.keys())
        if missing:
            status = 1
            print(f"    Collected by the {one.name} run only ({len(missing)}):")
            for test_id in missing:
                print(f"      {test_id}")
    both = stock.tests.keys() & plugin.tests.keys()
    plugin_only = sorted(key for key in both if plugin.tests[key].failed and not stock.tests[key].failed)
    stock_only = sorted(key for key in both if stock.tests[key].failed and not plugin.tests[key].failed)
    unexpected = [key for key in plugin_only if allowed_reason(project, key) is None]
    allowed = [key for key in plugin_only if allowed_reason(project, key) is not None]
    skips = sorted(
        key for key in both if (stock.tests[key].outcome == "skipped") != (plugin.tests[key].outcome == "skipped")
    )
    runs = (stock, plugin)
    sections = (
        ("Fail with the plugin only, not allowed", unexpected),
        ("Fail with the plugin only, allowed by design", allowed),
        ("Fail under stock only", stock_only),
        ("Skipped in one run only", skips),
    )
    for title, keys in sections:
        print(f"    {title}: {len(keys)}")
        # Tests that differ in the same way (a set-up error fails every test alike) are listed once.
        by_outcomes: dict[tuple[str, ...], list[str]] = {}
        for key in keys:
            outcomes = tuple(f"{run.name}: {run.tests[key].outcome} {run.tests[key].message}".rstrip() for run in runs)
            reason = allowed_reason(project, key) if key in allowed else None
            by_outcomes.setdefault((*outcomes, f"allowed: {reason}" if reason else ""), []).append(key)
        for lines, group in by_outcomes.items():
            for key in group:
                print(f"      {key}")
            for line in filter(None, lines):
                print(f"          {redact(line)}")
    failing_in_both = sum(1 for key in both if stock.tests[key].failed and plugin.tests[key].failed)
    print(f"    Fail in both: {failing_in_both}")
    return max(status, 1 if unexpected else 0)


def find_source(project: Project, sources: dict[str, Path], sources_dir: Path | None) -> Path | None:
    """Return the git directory of the project's local copy, or None if it was given none."""
    if project.name in sources:
        candidate = sources[project.name]
    elif sources_dir is not None and (sources_dir / project.repository_name).exists():
        candidate = sources_dir / project.repository_name
    else:
        return None
    repository = git_dir(candidate)
    if repository is None:
        raise SetupError(f"{candidate} is not a git repository (a clone or a bare mirror)")
    return repository


def run_project(project: Project, options: argparse.Namespace, server: dict[str, str]) -> int | None:
    """Set up and run one project's suites; return its exit status, or None if it was skipped."""
    work_dir: Path = options.work_dir
    print(f"\n{project.name}: {project.repository} at {project.commit[:12]}", flush=True)
    repository = find_source(project, dict(options.source), options.sources_dir)
    if repository is None:
        print(
            f"  skipped: no local copy. Clone https://github.com/{project.repository} and give "
            f"--source {project.name}=PATH (or --sources-dir)."
        )
        return None
    suites = [suite for suite in project.suites if server or not needs_server(project, suite)]
    for suite in project.suites:
        if suite not in suites:
            print(f"  {suite.name}: skipped, it needs PostgreSQL: set PG_HOST, PG_PORT, PG_USER, PG_PASSWORD.")
    if not suites:
        return None
    for shim in project.shims:
        print(f"  with -p {shim} in both runs: {SHIMS[shim][1]}")
    tree = work_dir / "src" / f"{project.name}-{project.commit[:12]}"
    export_tree(project, repository, tree)
    runner = Runner(
        project=project,
        python=make_venv(project, work_dir, tree, options.python),
        tree=tree,
        logs=work_dir / "logs",
        shims=write_shims(work_dir),
        server=server,
        xdist=options.xdist,
        timeout=options.timeout,
    )
    status = 0
    for suite in suites:
        stock = runner.run(suite, with_plugin=False)
        plugin = runner.run(suite, with_plugin=True)
        print(f"\n  {project.name}, {suite.name}:", end="")
        status = max(status, compare(project, stock, plugin))
    return status


def parse_source(value: str) -> tuple[str, Path]:
    """Read a --source NAME=PATH value."""
    name, separator, path = value.partition("=")
    known = {project.name for project in PROJECTS}
    if not separator or name not in known:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH with NAME among {', '.join(sorted(known))}")
    return name, Path(path).expanduser().resolve()


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0].strip())
    parser.add_argument("work_dir", type=Path, help="Folder for the exported sources, the virtualenvs and the logs.")
    parser.add_argument(
        "--source",
        type=parse_source,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="A local git copy (clone or bare mirror) of project NAME's repository.",
    )
    parser.add_argument(
        "--sources-dir", type=Path, help="Folder of clones named after the repositories (DIR/django-pgtrigger, ...)."
    )
    parser.add_argument(
        "--projects",
        nargs="+",
        choices=[project.name for project in PROJECTS],
        help="Run these projects only (default: every project with a source).",
    )
    parser.add_argument("--xdist", type=int, metavar="N", help="Run both runs of every suite with pytest-xdist -n N.")
    parser.add_argument(
        "--python", default=sys.executable, help="Interpreter the virtualenvs are made with (default: this one)."
    )
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds after which a run is stopped.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every selected project's suites and compare them."""
    options = parse_arguments(argv)
    options.work_dir = options.work_dir.resolve()
    (options.work_dir / "logs").mkdir(parents=True, exist_ok=True)
    server = server_values()
    print(f"Logs: {options.work_dir / 'logs'}")
    statuses: dict[str, int | None] = {}
    for project in PROJECTS:
        if options.projects and project.name not in options.projects:
            continue
        try:
            statuses[project.name] = run_project(project, options, server)
        except SetupError as error:
            print(f"  setup failed: {error}")
            statuses[project.name] = 2
    print("\nSummary:")
    words = {None: "skipped", 0: "no difference but allowed ones", 1: "differences", 2: "did not run to its end"}
    for name, status in statuses.items():
        print(f"  {name:16}{words[status]}")
    ran = [status for status in statuses.values() if status is not None]
    return max(ran) if ran else 2


if __name__ == "__main__":
    sys.exit(main())
