"""multidb_runner: a Django test runner for projects with several databases."""

from __future__ import annotations

from .config import DEFAULTS
from .errors import ConfigurationError
from .runner import MultiDBRunner

__version__ = "0.1.0"

__all__ = ["DEFAULTS", "ConfigurationError", "MultiDBRunner", "__version__"]
