"""
The runner's options as pytest command-line and ini options.

Each comes from the runner's own table (``multidb_runner.options.OPTIONS``),
with the same flag and help; ``runner_options()`` maps what pytest parsed
onto ``MultiDBRunner``'s keyword arguments. A flag overrides the ini option,
which overrides the ``MULTIDB_RUNNER`` setting (read by the runner itself).
"""

from __future__ import annotations

from typing import Any

import pytest

from ..options import OPTIONS, Option

#: The runner's options that mean something under pytest. The others have
#: pytest's own counterpart (``--junit-xml``, pytest-xdist for parallel runs,
#: pytest-cov for coverage) or select tests, which is pytest's job.
PYTEST_OPTIONS = (
    "databases",
    "managed_legacy",
    "db_suffix",
    "selective_flush",
    "lazy_transactions",
    "lazy_setup",
    "schema_copies",
    "snapshots",
    "report_db_usage",
    "read_only_mirrors",
)

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def pytest_options() -> list[Option]:
    """Return the runner's options offered under pytest, in the runner's order."""
    return [option for option in OPTIONS if option.dest in PYTEST_OPTIONS]


def dest(option: Option) -> str:
    """Return where pytest keeps ``option``: namespaced, so no other plugin's option is shadowed."""
    return f"multidb_{option.dest}"


def ini_name(option: Option) -> str:
    """Return the ini option of ``option``: ``multidb_managed_legacy``."""
    return f"multidb_{option.dest}"


def add_options(parser: pytest.Parser) -> None:
    """Add the runner's flags and ini options to pytest."""
    group = parser.getgroup("multidb_runner", "multi-database test runs (multidb_runner)")
    for option in pytest_options():
        if option.boolean:
            group.addoption(option.flag, dest=dest(option), action="store_true", default=None, help=option.help)
            group.addoption(
                "--no-" + option.flag[2:],
                dest=dest(option),
                action="store_false",
                default=None,
                help=f"The opposite of {option.flag}.",
            )
        else:
            group.addoption(option.flag, dest=dest(option), metavar=option.metavar, default=None, help=option.help)
        kind = "true or false" if option.boolean else "a value"
        parser.addini(ini_name(option), help=f"{option.setting_help} ({kind}; {option.flag} overrides it)")


def boolean_from_ini(value: str, name: str) -> bool:
    """Read an ini switch, refusing anything but the usual words for true and false."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    from ..errors import ConfigurationError  # imports Django: only once settings are configured

    raise ConfigurationError(f"The ini option {name} = {value!r} is not valid: use true or false.")


def runner_options(config: pytest.Config) -> dict[str, Any]:
    """Return ``MultiDBRunner``'s keyword arguments for the options given to pytest (None: not given)."""
    kwargs: dict[str, Any] = {}
    for option in pytest_options():
        value = config.getoption(dest(option))
        if value is None:
            ini_value = str(config.getini(ini_name(option)) or "").strip()
            if ini_value:
                value = boolean_from_ini(ini_value, ini_name(option)) if option.boolean else ini_value
        kwargs[option.dest] = value
    return kwargs
