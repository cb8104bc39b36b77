"""
Test database names: a per-run suffix, and names that fit the backend.

Several runs sharing one database server (CI jobs, developers) drop each
other's test databases unless every run uses names of its own. A suffix
token is appended to every test database name; names that would exceed the
backend's identifier limit, once a worker's clone suffix is added, are
shortened deterministically with a hash instead of being cut into
collisions.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

#: The longest database name each backend accepts.
IDENTIFIER_LIMITS = {"postgresql": 63, "mysql": 64, "oracle": 30}
#: Room kept for a worker's clone suffix (``_1`` ... ``_999``).
CLONE_SUFFIX_ROOM = 4


def sanitize(value: str) -> str:
    """Turn ``value`` into letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", value).strip("_")[:40] or "x"


def auto_token(environ: Mapping[str, str], pid: int | None = None) -> str:
    """
    Derive a suffix token from the CI environment, or from the process.

    GitLab: ``CI_JOB_ID``; GitHub Actions: ``GITHUB_RUN_ID`` and
    ``GITHUB_RUN_ATTEMPT``; CircleCI: ``CIRCLE_BUILD_NUM`` (and
    ``CIRCLE_NODE_INDEX``); Buildkite: ``BUILDKITE_JOB_ID``; Travis CI:
    ``TRAVIS_JOB_ID``; Jenkins: ``BUILD_TAG``. Elsewhere the process id.
    """
    if environ.get("CI_JOB_ID"):
        return sanitize(f"gl{environ['CI_JOB_ID']}")
    if environ.get("GITHUB_RUN_ID"):
        return sanitize(f"gh{environ['GITHUB_RUN_ID']}_{environ.get('GITHUB_RUN_ATTEMPT') or '1'}")
    if environ.get("CIRCLE_BUILD_NUM"):
        node = environ.get("CIRCLE_NODE_INDEX")
        return sanitize(f"cc{environ['CIRCLE_BUILD_NUM']}" + (f"_{node}" if node else ""))
    if environ.get("BUILDKITE_JOB_ID"):
        return "bk" + hashlib.sha1(environ["BUILDKITE_JOB_ID"].encode()).hexdigest()[:12]
    if environ.get("TRAVIS_JOB_ID"):
        return sanitize(f"tr{environ['TRAVIS_JOB_ID']}")
    if environ.get("BUILD_TAG"):
        return "jk" + hashlib.sha1(environ["BUILD_TAG"].encode()).hexdigest()[:12]
    return f"p{os.getpid() if pid is None else pid}"


def suffixed_test_name(vendor: str, test_name: str, token: str | None) -> str:
    """
    Return the test database name with ``token`` appended, fitting the backend.

    SQLite files get the token before the extension; in-memory SQLite
    databases are private to the run and keep their name. A name that would
    not fit the backend's identifier limit once a clone suffix is added is
    shortened deterministically: the start of the name, a hash of the whole
    name, then the token, so ``name_1`` and ``name_2`` never collide.
    """
    if vendor == "sqlite":
        if not token or not test_name or test_name == ":memory:" or "mode=memory" in test_name:
            return test_name
        root, ext = os.path.splitext(test_name)
        return f"{root}_{token}{ext}"
    name = f"{test_name}_{token}" if token else test_name
    limit = IDENTIFIER_LIMITS.get(vendor)
    if limit is None or len(name) + CLONE_SUFFIX_ROOM <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    room = limit - CLONE_SUFFIX_ROOM
    tail = f"_{digest}_{token}" if token else f"_{digest}"
    if len(tail) >= room:
        tail = f"_{digest}"
    return test_name[: room - len(tail)] + tail
