"""Where the plugin keeps its per-session state: on pytest's config, not in a module global."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .session import PytestRun

#: The session's run, set in ``pytest_configure`` once Django is configured.
#: This module imports no Django: the plugin's hooks look the key up in
#: sessions without settings too.
RUN_KEY: pytest.StashKey[PytestRun] = pytest.StashKey()
