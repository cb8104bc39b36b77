"""multidb_runner: a Django test runner for projects with several databases."""

from __future__ import annotations

from .errors import ConfigurationError
from .isolation.read_only import ReadOnlyMirrorError
from .options import DEFAULTS
from .runner import MultiDBRunner

__version__ = "0.1.0"

__all__ = ["DEFAULTS", "ConfigurationError", "MultiDBRunner", "ReadOnlyMirrorError", "__version__"]
