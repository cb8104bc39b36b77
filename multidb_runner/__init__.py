"""multidb_runner: a Django test runner for projects with several databases."""

from __future__ import annotations

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
