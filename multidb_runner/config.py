"""Read and validate the ``MULTIDB_RUNNER`` setting and the command-line flags."""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .errors import ConfigurationError
from .options import BOOLEAN_SETTINGS, DB_SUFFIX_ENVIRONMENT, DEFAULTS, SHARD_ENVIRONMENT
from .planning.suffixes import auto_token

SETTING_NAME = "MULTIDB_RUNNER"

# A letter first: a token of digits alone would look like a worker's clone.
TOKEN_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


@dataclass(frozen=True)
class RunnerConfig:
    """The runner's options once settings and flags are merged and checked."""

    database_patterns: tuple[str, ...] | None
    managed_legacy: bool
    #: Where database_patterns came from, for error messages.
    database_source: str = "--databases"
    worker_timeout: float | None = DEFAULTS["WORKER_TIMEOUT"]
    start_method: str | None = None
    db_suffix: str | None = None
    #: (index, total), 1-based, or None to run everything.
    shard: tuple[int, int] | None = None
    durations_file: str | None = None
    junit_xml: str | None = None
    coverage: bool = False
    selective_flush: bool = True
    lazy_transactions: bool = True
    lazy_setup: bool = True
    schema_copies: bool = True
    #: None: with --keepdb only (see ``setup/snapshots.py``).
    snapshots: bool | None = None
    report_db_usage: bool = False
    read_only_mirrors: bool = True


def split_alias_list(value: str) -> tuple[str, ...]:
    """Split ``"a, b,c"`` into ``("a", "b", "c")``, refusing empty items."""
    items = tuple(item.strip() for item in value.split(","))
    if not value.strip() or any(not item for item in items):
        raise ConfigurationError(
            f"--databases {value!r} is not a valid alias list: give one or more "
            "aliases or shell-style patterns separated by commas, for example "
            "--databases default,tenant_*."
        )
    return items


def read_setting() -> dict[str, Any]:
    """
    Return the ``MULTIDB_RUNNER`` setting merged over ``DEFAULTS``.

    The setting is read on every call, never cached, so that
    ``override_settings(MULTIDB_RUNNER=...)`` takes effect.
    """
    value = getattr(settings, SETTING_NAME, None)
    if value is None:
        return dict(DEFAULTS)
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"settings.{SETTING_NAME} must be a dict, not {type(value).__name__}. "
            f"Valid keys: {', '.join(sorted(DEFAULTS))}."
        )
    unknown = sorted(str(key) for key in value if key not in DEFAULTS)
    if unknown:
        raise ConfigurationError(
            f"settings.{SETTING_NAME} has unknown key(s) {', '.join(map(repr, unknown))}. "
            f"Valid keys: {', '.join(sorted(DEFAULTS))}."
        )
    return {**DEFAULTS, **value}


def database_patterns_from_setting(value: Any) -> tuple[str, ...] | None:
    """Validate ``MULTIDB_RUNNER["DATABASES"]``: None, or a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return split_alias_list(value)
    if isinstance(value, Sequence) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ConfigurationError(
        f"settings.{SETTING_NAME}['DATABASES'] = {value!r} is not valid: use None "
        "(every alias) or a non-empty list of aliases or shell-style patterns, "
        "for example ['default', 'tenant_*']."
    )


def worker_timeout_from(value: Any, source: str) -> float | None:
    """Validate a worker timeout: None, or a positive number of seconds."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if isinstance(value, bool) or not seconds > 0:
        raise ConfigurationError(
            f"{source} = {value!r} is not valid: give a positive number of seconds "
            "(or None in the setting to wait forever)."
        )
    return seconds


def build_config(
    *,
    databases: str | Sequence[str] | None = None,
    managed_legacy: bool | None = None,
    worker_timeout: float | str | None = None,
    start_method: str | None = None,
    db_suffix: str | None = None,
    shard: str | None = None,
    durations_file: str | None = None,
    junit_xml: str | None = None,
    coverage: bool | None = None,
    selective_flush: bool | None = None,
    lazy_transactions: bool | None = None,
    lazy_setup: bool | None = None,
    schema_copies: bool | None = None,
    snapshots: bool | None = None,
    report_db_usage: bool | None = None,
    read_only_mirrors: bool | None = None,
) -> RunnerConfig:
    """Merge command-line options over the setting; flags win."""
    setting = read_setting()
    patterns = database_patterns_from_setting(setting["DATABASES"])
    if databases is None:
        pass
    elif isinstance(databases, str):
        patterns = split_alias_list(databases)
    else:
        patterns = database_patterns_from_setting(list(databases))
    # Every setting is checked, even where a flag overrides it.
    for key in BOOLEAN_SETTINGS:
        if setting[key] is None and DEFAULTS[key] is None:
            continue  # "decide for me", where the setting allows it
        if not isinstance(setting[key], bool):
            choices = "True, False or None" if DEFAULTS[key] is None else "True or False"
            raise ConfigurationError(
                f"settings.{SETTING_NAME}['{key}'] = {setting[key]!r} is not valid: use {choices}."
            )
    flags = {
        "managed_legacy": managed_legacy,
        "coverage": coverage,
        "selective_flush": selective_flush,
        "lazy_transactions": lazy_transactions,
        "lazy_setup": lazy_setup,
        "schema_copies": schema_copies,
        "snapshots": snapshots,
        "report_db_usage": report_db_usage,
        "read_only_mirrors": read_only_mirrors,
    }
    switches = {
        name: setting[key] if flags[name] is None else bool(flags[name]) for key, name in BOOLEAN_SETTINGS.items()
    }
    timeout = worker_timeout_from(setting["WORKER_TIMEOUT"], f"settings.{SETTING_NAME}['WORKER_TIMEOUT']")
    if worker_timeout is not None:
        timeout = worker_timeout_from(worker_timeout, "--worker-timeout")
    method = start_method_from(setting["START_METHOD"], f"settings.{SETTING_NAME}['START_METHOD']")
    if start_method is not None:
        method = start_method_from(start_method, "--start-method")
    token = None
    if setting["DB_SUFFIX"] is not None:
        token = validate_token(setting["DB_SUFFIX"], f"settings.{SETTING_NAME}['DB_SUFFIX']")
    if os.environ.get(DB_SUFFIX_ENVIRONMENT):
        token = validate_token(os.environ[DB_SUFFIX_ENVIRONMENT], DB_SUFFIX_ENVIRONMENT)
    if db_suffix is not None:
        token = validate_token(db_suffix, "--db-suffix")
    if token == "auto":
        token = auto_token(os.environ)
    return RunnerConfig(
        **switches,
        shard=shard_from(setting["SHARD"], shard),
        durations_file=path_from(setting["DURATIONS_FILE"], durations_file, "DURATIONS_FILE"),
        junit_xml=path_from(setting["JUNIT_XML"], junit_xml, "JUNIT_XML"),
        database_patterns=patterns,
        database_source=f"settings.{SETTING_NAME}['DATABASES']" if databases is None else "--databases",
        worker_timeout=timeout,
        start_method=method,
        db_suffix=token,
    )


def shard_from(setting: Any, flag: str | None) -> tuple[int, int] | None:
    """Return the shard to run from the flag, the environment or the setting (in that order)."""
    from .planning.sharding import auto_shard, parse_shard

    if flag is not None:
        value, source = flag, "--shard"
    elif os.environ.get(SHARD_ENVIRONMENT):
        value, source = os.environ[SHARD_ENVIRONMENT], SHARD_ENVIRONMENT
    elif setting is not None:
        value, source = setting, f"settings.{SETTING_NAME}['SHARD']"
    else:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{source} = {value!r} is not valid: use a string such as '2/4', or 'auto'.")
    if value.strip() == "auto":
        found = auto_shard(os.environ)
        return None if found is None else (found.index, found.total)
    parsed = parse_shard(value, source)
    return (parsed.index, parsed.total)


def path_from(setting: Any, flag: str | None, key: str) -> str | None:
    """Return a file path from the flag or the setting, in a folder that exists."""
    source = f"--{key.lower().replace('_', '-')}"
    if flag is not None:
        path = flag
    elif setting is None:
        return None
    elif not isinstance(setting, str | os.PathLike) or not os.fspath(setting):
        raise ConfigurationError(f"settings.{SETTING_NAME}['{key}'] = {setting!r} is not valid: give a file path.")
    else:
        path, source = os.fspath(setting), f"settings.{SETTING_NAME}['{key}']"
    folder = os.path.dirname(os.path.abspath(path))
    if not path or not os.path.isdir(folder):
        raise ConfigurationError(
            f"{source} = {path!r} is not valid: the folder {folder!r} does not exist. "
            "Give a file path in an existing folder."
        )
    return path


def validate_token(value: Any, source: str) -> str:
    """Return ``value`` if it is a usable suffix token, else explain what is valid."""
    if value == "auto" or (isinstance(value, str) and TOKEN_PATTERN.match(value)):
        return str(value)
    raise ConfigurationError(
        f"{source} = {value!r} is not valid: use 1 to 40 letters, digits and "
        "underscores starting with a letter (for example ci_1234), or 'auto' to "
        "derive it from the CI environment."
    )


def start_method_from(value: Any, source: str) -> str | None:
    """Validate a multiprocessing start method available on this platform."""
    if value is None:
        return None
    available = multiprocessing.get_all_start_methods()
    if value not in available:
        raise ConfigurationError(
            f"{source} = {value!r} is not valid: use one of {', '.join(available)} "
            "(the start methods of this platform)."
        )
    return str(value)
