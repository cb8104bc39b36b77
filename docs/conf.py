"""Sphinx configuration for the multidb_runner documentation."""

from __future__ import annotations

import re
from pathlib import Path

# Read the version from the package without importing it: importing
# multidb_runner imports Django, which the docs build does not need.
_init = (Path(__file__).resolve().parent.parent / "multidb_runner" / "__init__.py").read_text(encoding="utf-8")
release = re.search(r'^__version__ = "([^"]+)"', _init, re.MULTILINE).group(1)
version = ".".join(release.split(".")[:2])

project = "multidb_runner"
author = "multidb_runner contributors"
copyright = "multidb_runner contributors"

# No extension that needs the network (no intersphinx): the build must work offline.
extensions: list[str] = []

root_doc = "index"
exclude_patterns = ["_build"]
nitpicky = True
highlight_language = "python"
pygments_style = "sphinx"

html_theme = "alabaster"
html_title = f"multidb_runner {release}"
html_static_path: list[str] = []
