"""Where the plugin keeps its per-session state: on pytest's config, not in a module global."""

from __future__ import annotations

import pytest

from .session import PytestRun

RUN_KEY = pytest.StashKey[PytestRun]()
