"""
multidb_runner: a Django test runner for projects with several databases.

The public names are imported on first access (PEP 562), not with the
package: ``import multidb_runner`` or ``-p multidb_runner.pytest_plugin``
must import no Django before a project's settings are configured (pytest
imports the plugin before pytest-django reads ``DJANGO_SETTINGS_MODULE``,
and ``pytest --help`` works without settings). ``TEST_RUNNER =
"multidb_runner.MultiDBRunner"`` and ``from multidb_runner import
MultiDBRunner`` work as with eager imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import ConfigurationError
    from .isolation.read_only import ReadOnlyMirrorError
    from .options import DEFAULTS
    from .runner import MultiDBRunner
    from .setup.lazy import TestDatabaseSetupError

__version__ = "0.1.0"

__all__ = [
    "DEFAULTS",
    "ConfigurationError",
    "MultiDBRunner",
    "ReadOnlyMirrorError",
    "TestDatabaseSetupError",
    "__version__",
]

#: Where each public name lives, imported when it is first asked for.
PUBLIC_NAMES = {
    "DEFAULTS": ".options",
    "ConfigurationError": ".errors",
    "MultiDBRunner": ".runner",
    "ReadOnlyMirrorError": ".isolation.read_only",
    "TestDatabaseSetupError": ".setup.lazy",
}


def __getattr__(name: str) -> Any:
    try:
        module = PUBLIC_NAMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
