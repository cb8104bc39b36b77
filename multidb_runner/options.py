"""
The runner's options: each defined once, with its flag, setting key, default and help.

``MultiDBRunner.add_arguments`` adds the flags from this table, the
``MULTIDB_RUNNER`` setting takes its keys and defaults from it
(``DEFAULTS``), and a test checks that the README and the configuration
page name every flag and key.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The environment variables that override a setting (the flag overrides both).
DB_SUFFIX_ENVIRONMENT = "MULTIDB_RUNNER_DB_SUFFIX"
SHARD_ENVIRONMENT = "MULTIDB_RUNNER_SHARD"


@dataclass(frozen=True)
class Option:
    """One option of the runner: a flag of ``manage.py test`` and a key of ``MULTIDB_RUNNER``."""

    #: The runner's keyword argument and the flag's destination: ``managed_legacy``.
    dest: str
    #: The key in ``settings.MULTIDB_RUNNER``: ``MANAGED_LEGACY``.
    setting: str
    default: Any
    #: What the setting means, in a line (as the README's example shows it).
    setting_help: str
    #: The flag's help, in Django's voice.
    help: str
    metavar: str | None = None
    #: A switch: ``--flag`` / ``--no-flag``.
    boolean: bool = False
    #: An environment variable that overrides the setting (the flag overrides both).
    environment: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add this option's flag to ``parser``."""
        if self.boolean:
            parser.add_argument(
                self.flag, dest=self.dest, action=argparse.BooleanOptionalAction, default=None, help=self.help
            )
        else:
            parser.add_argument(self.flag, dest=self.dest, metavar=self.metavar, help=self.help)


OPTIONS: tuple[Option, ...] = (
    Option(
        "databases",
        "DATABASES",
        None,
        setting_help=(
            "Aliases (or shell-style patterns) injected into test classes that keep Django's "
            "default ``databases``. None means every configured alias."
        ),
        help=(
            "Database aliases that test classes without their own 'databases' may use "
            "(shell-style patterns such as tenant_* allowed). Defaults to every alias in "
            "settings.DATABASES."
        ),
        metavar="ALIAS[,ALIAS...]",
    ),
    Option(
        "managed_legacy",
        "MANAGED_LEGACY",
        True,
        setting_help=("Create and flush tables of ``managed = False`` models during the run."),
        help=(
            "Create and flush tables of managed = False models in the test databases "
            "(default), or leave them alone with --no-managed-legacy."
        ),
        boolean=True,
    ),
    Option(
        "worker_timeout",
        "WORKER_TIMEOUT",
        3600,
        setting_help=(
            "Seconds one test class may run in a parallel worker before the run is stopped as hung. None waits forever."
        ),
        help=(
            "With --parallel, the seconds one test class may run in a worker before the run "
            "is stopped as hung (default: 3600)."
        ),
        metavar="SECONDS",
    ),
    Option(
        "db_suffix",
        "DB_SUFFIX",
        None,
        setting_help=(
            "A token appended to every test database name, so that concurrent runs can share "
            'one database server; "auto" derives it from the CI environment. The environment '
            "variable MULTIDB_RUNNER_DB_SUFFIX overrides the setting; --db-suffix overrides "
            "both."
        ),
        help=(
            "Append TOKEN to every test database name so that concurrent runs can share a "
            "database server; 'auto' derives it from the CI environment. Also "
            "MULTIDB_RUNNER_DB_SUFFIX."
        ),
        metavar="TOKEN",
        environment=DB_SUFFIX_ENVIRONMENT,
    ),
    Option(
        "shard",
        "SHARD",
        None,
        setting_help=(
            '"K/N": run only shard K of N (1-based), or "auto" to read the CI environment. '
            "The environment variable MULTIDB_RUNNER_SHARD overrides the setting; --shard "
            "overrides both."
        ),
        help=(
            "Run only shard K of N (1-based): a deterministic share of the test classes, so "
            "that N CI jobs together run every test once. 'auto' reads GitLab's "
            "CI_NODE_INDEX/CI_NODE_TOTAL or CircleCI's CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL. "
            "Also MULTIDB_RUNNER_SHARD."
        ),
        metavar="K/N",
        environment=SHARD_ENVIRONMENT,
    ),
    Option(
        "durations_file",
        "DURATIONS_FILE",
        None,
        setting_help=(
            "A JSON file of test class durations: read to balance shards, updated by every run that names it."
        ),
        help=("A JSON file of test class durations: read to balance --shard, and updated with this run's durations."),
        metavar="PATH",
    ),
    Option(
        "coverage",
        "COVERAGE",
        False,
        setting_help=(
            "Measure coverage in the main process and every parallel worker, then combine and "
            "report it with the project's coverage configuration."
        ),
        help=(
            "Measure coverage in the main process and in every parallel worker, then combine "
            "and report it with the project's coverage configuration."
        ),
        boolean=True,
    ),
    Option(
        "junit_xml",
        "JUNIT_XML",
        None,
        setting_help=("Where to write a JUnit XML report of the run."),
        help=("Write a JUnit XML report of the run to PATH."),
        metavar="PATH",
    ),
    Option(
        "selective_flush",
        "SELECTIVE_FLUSH",
        True,
        setting_help=(
            "After a TransactionTestCase test, flush only the tables written since the last "
            "flush (False: every table, as stock Django does)."
        ),
        help=(
            "After each TransactionTestCase test, flush only the tables written since the "
            "last flush (default), or every table with --no-selective-flush."
        ),
        boolean=True,
    ),
    Option(
        "lazy_setup",
        "LAZY_SETUP",
        True,
        setting_help=(
            "In a serial run, create before the tests what stock Django would, and any other "
            "test database when a test first uses it (False: create every database before the tests)."
        ),
        help=(
            "In a serial run, create a test database that stock Django would not create only "
            "when a test first uses it (default), or every database before the tests with --no-lazy-setup."
        ),
        boolean=True,
    ),
    Option(
        "schema_copies",
        "SCHEMA_COPIES",
        True,
        setting_help=(
            "Migrate once the test databases that get the same schema from the same migrations, "
            "and make the others as copies (False: migrate each, as stock Django does)."
        ),
        help=(
            "Migrate once the test databases of the same schema and copy the others (default), "
            "or migrate each with --no-schema-copies."
        ),
        boolean=True,
    ),
    Option(
        "snapshots",
        "SNAPSHOTS",
        None,
        setting_help=(
            "Reuse snapshots of migrated test databases across runs (None: with --keepdb only; "
            "True: in fresh runs too; False: never, and remove them)."
        ),
        help=(
            "Make test databases from snapshots of earlier runs when their migrations did not change, "
            "in fresh runs too, or never with --no-snapshots, which also removes them. Default: with "
            "--keepdb only."
        ),
        boolean=True,
    ),
    Option(
        "lazy_transactions",
        "LAZY_TRANSACTIONS",
        True,
        setting_help=(
            "Open a TestCase's transaction on an alias only when the alias is first used "
            "(False: on every alias, as stock Django does)."
        ),
        help=(
            "Open a TestCase's transaction on a database only when it is first used "
            "(default), or on every database with --no-lazy-transactions."
        ),
        boolean=True,
    ),
    Option(
        "report_db_usage",
        "REPORT_DB_USAGE",
        False,
        setting_help=("After the run, report which aliases each test class was given and used."),
        help=(
            "After the run, list the databases each test class was given and those it used, "
            "and the declared ones it never used."
        ),
        boolean=True,
    ),
    Option(
        "read_only_mirrors",
        "READ_ONLY_MIRRORS",
        True,
        setting_help=(
            "Refuse writes sent through a TEST['MIRROR'] alias, as its read replica "
            "would in production (False: let them reach the primary)."
        ),
        help=(
            "Refuse writes sent through a TEST['MIRROR'] alias, as a read replica "
            "would (default), or let them reach the primary with --no-read-only-mirrors."
        ),
        boolean=True,
    ),
    Option(
        "start_method",
        "START_METHOD",
        None,
        setting_help=(
            'How parallel workers start: "fork", "spawn" or "forkserver". None keeps '
            "Python's default for the platform."
        ),
        help=(
            "With --parallel, how workers start: fork, spawn or forkserver (default: Python's "
            "default for the platform)."
        ),
        metavar="METHOD",
    ),
)

#: Every key of the ``MULTIDB_RUNNER`` setting, with its default.
DEFAULTS: dict[str, Any] = {option.setting: option.default for option in OPTIONS}
#: The settings that are plain booleans, with their flags' destinations.
BOOLEAN_SETTINGS: dict[str, str] = {option.setting: option.dest for option in OPTIONS if option.boolean}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option's flag to ``manage.py test``'s parser."""
    for option in OPTIONS:
        option.add_to(parser)


#: Options of Django's test command on some supported Python only (``--durations``
#: needs 3.12). Where missing, argparse would read them as an abbreviation of
#: one of the runner's options (``--durations=10`` as ``--durations-file=10``).
STOCK_OPTIONS_ON_SOME_PYTHONS = ("--durations",)


class UnrecognizedOption(argparse.Action):
    """Refuse an option this Python's Django lacks, as argparse refuses any unknown option."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None) -> None:
        given = f"{option_string}={values}" if values is not None else str(option_string)
        parser.error(f"unrecognized arguments: {given}")


def reject_missing_stock_options(parser: argparse.ArgumentParser) -> None:
    """Keep the stock options this Python lacks from being taken for abbreviations of the runner's."""
    known = {option for action in parser._actions for option in action.option_strings}
    for option in STOCK_OPTIONS_ON_SOME_PYTHONS:
        if option not in known:
            parser.add_argument(option, action=UnrecognizedOption)
