"""
Pure logic over alias names: which aliases a selection means, what mirrors what.

Nothing here touches a connection; every function takes plain data so that it
can be tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from ..errors import ConfigurationError


def configured_list(configured: Iterable[str]) -> str:
    """Format the configured aliases for an error message."""
    return ", ".join(sorted(configured)) or "(none)"


DUMMY_ENGINE = "django.db.backends.dummy"


def usable_aliases(databases: Mapping[str, Mapping[str, object]]) -> list[str]:
    """
    Return the aliases that name a real database, in settings order.

    An alias left empty (Django fills in the dummy backend, as for a
    ``default = {}`` in projects that route everything elsewhere) cannot hold
    a test database, so it is never injected by default.
    """
    return [alias for alias, settings_dict in databases.items() if settings_dict.get("ENGINE") != DUMMY_ENGINE]


def select_aliases(patterns: Iterable[str] | None, configured: Iterable[str], source: str = "--databases") -> list[str]:
    """
    Return the configured aliases matched by ``patterns``, in settings order.

    Each pattern is an alias or a shell-style pattern (``tenant_*``). A pattern
    that matches nothing is a mistake, not an empty selection: it is reported
    with the list of configured aliases, naming ``source`` (the flag or the
    setting the patterns came from). None selects every alias.
    """
    configured = list(configured)
    if patterns is None:
        return configured
    selected: set[str] = set()
    for pattern in patterns:
        matches = [alias for alias in configured if fnmatchcase(alias, pattern)]
        if not matches:
            kind = "pattern" if any(c in pattern for c in "*?[") else "alias"
            raise ConfigurationError(
                f"{source}: the {kind} {pattern!r} matches no alias in "
                f"settings.DATABASES. Configured aliases: {configured_list(configured)}."
            )
        selected.update(matches)
    return [alias for alias in configured if alias in selected]


def resolve_mirrors(mirror_settings: Mapping[str, str | None]) -> dict[str, str]:
    """
    Map every mirror alias to the final primary it reads from.

    ``mirror_settings`` maps each configured alias to its ``TEST['MIRROR']``
    (or None). A mirror of a mirror resolves to the last alias of the chain.
    A MIRROR naming a missing alias, the alias itself, or forming a cycle
    is reported before anything is created.
    """
    resolved: dict[str, str] = {}
    for alias, target in mirror_settings.items():
        if not target:
            continue
        chain = [alias]
        current: str = alias
        next_target: str | None = target
        while next_target:
            if next_target not in mirror_settings:
                raise ConfigurationError(
                    f"DATABASES[{current!r}]['TEST']['MIRROR'] = {next_target!r} names "
                    "an alias that is not in settings.DATABASES. Configured aliases: "
                    f"{configured_list(mirror_settings)}."
                )
            if next_target == current:
                raise ConfigurationError(
                    f"DATABASES[{current!r}]['TEST']['MIRROR'] names the alias itself; "
                    "a mirror must name another alias in settings.DATABASES."
                )
            if next_target in chain:
                cycle = " -> ".join([*chain[chain.index(next_target) :], next_target])
                raise ConfigurationError(
                    f"TEST['MIRROR'] settings form a cycle ({cycle}); every chain of "
                    "mirrors must end at an alias without TEST['MIRROR']."
                )
            chain.append(next_target)
            current, next_target = next_target, mirror_settings[next_target]
        resolved[alias] = current
    return resolved


def with_primaries(aliases: Iterable[str], mirrors: Mapping[str, str]) -> set[str]:
    """
    Add to ``aliases`` the primary of every mirror among them.

    A mirror shares its primary's connection during tests, so a test that may
    use a mirror must be allowed to use (and isolate) its primary.
    """
    result = set(aliases)
    result.update(mirrors[alias] for alias in list(result) if alias in mirrors)
    return result
