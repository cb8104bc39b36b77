"""
Tenants that share one schema: the runner migrates one and copies the others.

``default`` holds the ``catalog`` app; ``tenant_1`` to ``tenant_3`` hold
``ledger``, whose migrations include a data migration; ``archive`` holds
``ledger`` too, but the router keeps one of its models out (another schema).

- TENANCY_BACKEND: sqlite (files, default), sqlite-memory, postgresql
  (credentials from PG_HOST, PG_PORT, PG_USER, PG_PASSWORD) or mariadb
  (from MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD).
- TENANCY_DB_DIR: the folder of the SQLite files; TENANCY_PREFIX: the prefix
  of the server database names (test databases get Django's ``test_``).
- TENANCY_MIGRATIONS: ``canonical`` (default: the data migration uses the
  alias it is given), ``names_alias`` (it treats ``tenant_1`` apart),
  ``writes_elsewhere`` (it writes to ``default`` through the router) or
  ``extended`` (one more migration, as on another branch).
- TENANCY_POST_MIGRATE_LOG: a file; ``catalog`` then connects a
  ``post_migrate`` receiver that appends each migrated alias to it.
- TENANCY_STRAY_WRITE: set, a TestCase's thread commits a row to
  ``archive`` (``checks.tests.ThreadWriteTests``).
- TENANCY_ROUTER: ``plain`` (default) or ``querying`` (the router queries
  the alias's database before it answers ``allow_migrate``).
"""

import os
from pathlib import Path

BACKEND = os.environ.get("TENANCY_BACKEND", "sqlite")
DB_DIR = Path(os.environ.get("TENANCY_DB_DIR", Path(__file__).resolve().parent.parent / "db"))
PREFIX = os.environ.get("TENANCY_PREFIX", "tenancy")
MIGRATIONS = os.environ.get("TENANCY_MIGRATIONS", "canonical")
ROUTER = os.environ.get("TENANCY_ROUTER", "plain")

SECRET_KEY = "tenancy"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "catalog", "ledger", "checks"]
DATABASE_ROUTERS = [
    "tenancy.routers.QueryingTenancyRouter" if ROUTER == "querying" else "tenancy.routers.TenancyRouter"
]
TEST_RUNNER = "multidb_runner.MultiDBRunner"
if MIGRATIONS != "canonical":
    MIGRATION_MODULES = {"ledger": f"ledger.migrations_{MIGRATIONS}"}


def database(name):
    if BACKEND in ("sqlite", "sqlite-memory"):
        DB_DIR.mkdir(parents=True, exist_ok=True)
        settings = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_DIR / f"{name}.sqlite3")}
        if BACKEND == "sqlite":
            settings["TEST"] = {"NAME": str(DB_DIR / f"test_{name}.sqlite3")}
        return settings
    if BACKEND == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": f"{PREFIX}_{name}",
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", ""),
            "USER": os.environ.get("MYSQL_USER", ""),
            "PASSWORD": os.environ.get("MYSQL_PASSWORD", ""),
        }
    if BACKEND != "postgresql":
        raise RuntimeError(f"TENANCY_BACKEND={BACKEND!r} is not one of sqlite, sqlite-memory, postgresql, mariadb.")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": f"{PREFIX}_{name}",
        "HOST": os.environ.get("PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("PG_PORT", ""),
        "USER": os.environ.get("PG_USER", ""),
        "PASSWORD": os.environ.get("PG_PASSWORD", ""),
    }


DATABASES = {
    "default": database("default"),
    "tenant_1": database("tenant_1"),
    "tenant_2": database("tenant_2"),
    "tenant_3": database("tenant_3"),
    "archive": database("archive"),
}
