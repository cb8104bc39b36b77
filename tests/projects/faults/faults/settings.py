"""
A small multi-database project to inject faults into, at every phase of a test run.

``default`` holds the shop's orders, with a read replica ``replica``
(TEST['MIRROR']); ``other`` is an independent database of its own app;
``legacy`` holds ``managed = False`` tables that the router never migrates.

The environment decides the rest:

- FAULTS_BACKEND: sqlite (default), postgresql or mariadb.
- FAULTS_DB_DIR: the folder of the SQLite files (``main.sqlite3`` and
  ``test_main.sqlite3``...). FAULTS_PREFIX: the prefix of the server
  database names (``<prefix>_main``...; test databases get Django's ``test_``).
  Credentials: PG_* or MYSQL_* (HOST, PORT, USER, PASSWORD).
- FAULTS_RUNNER: the test runner (MultiDBRunner unless stock is compared).
- FAULTS_DECLARE=1: test classes declare the databases they use, as stock
  Django needs.
- FAULTS_REAL_VIA: JSON settings (``HOST``, ``PORT``, ``OPTIONS``...) that
  replace how the real aliases reach the server; FAULTS_EXTRA_DATABASES:
  JSON ``{alias: settings}`` of more aliases (with their ``TEST``), declared
  by ``Writes`` under FAULTS_DECLARE=1.
- FAULTS_AT="<phase>:<action>[:<alias>]": the fault to inject (see
  ``faults.injection``); FAULTS_MARKER_DIR: where the project leaves marker
  files for the harness.
"""

import json
import os
from pathlib import Path

BACKEND = os.environ.get("FAULTS_BACKEND", "sqlite")
DB_DIR = Path(os.environ.get("FAULTS_DB_DIR", Path(__file__).resolve().parent.parent / "db"))
PREFIX = os.environ.get("FAULTS_PREFIX", "faults")

SECRET_KEY = "faults"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["faults", "faultapp", "otherapp", "legacyapp"]
DATABASE_ROUTERS = ["faults.routers.FaultsRouter"]
TEST_RUNNER = os.environ.get("FAULTS_RUNNER", "multidb_runner.MultiDBRunner")


def database(name):
    """Settings of the real database ``name``; its test database is Django's ``test_`` + name."""
    if BACKEND == "sqlite":
        DB_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DB_DIR / f"{name}.sqlite3"),
            "TEST": {"NAME": str(DB_DIR / f"test_{name}.sqlite3")},
        }
    if BACKEND == "postgresql":
        engine, prefix = "django.db.backends.postgresql", "PG"
    elif BACKEND == "mariadb":
        engine, prefix = "django.db.backends.mysql", "MYSQL"
    else:
        raise RuntimeError(f"FAULTS_BACKEND={BACKEND!r} is not one of sqlite, postgresql, mariadb.")
    return {
        "ENGINE": engine,
        "NAME": f"{PREFIX}_{name}",
        "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{prefix}_PORT", ""),
        "USER": os.environ.get(f"{prefix}_USER", ""),
        "PASSWORD": os.environ.get(f"{prefix}_PASSWORD", ""),
        **json.loads(os.environ.get("FAULTS_REAL_VIA", "{}")),
    }


DATABASES = {
    "default": database("main"),
    "other": database("other"),
    # In production another host; in tests it reads default's test database.
    "replica": {**database("main"), "TEST": {"MIRROR": "default"}},
    "legacy": database("legacy"),
}
DATABASES.update(json.loads(os.environ.get("FAULTS_EXTRA_DATABASES", "{}")))
