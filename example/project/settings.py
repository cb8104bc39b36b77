"""
Settings of the example project: the shape of a multi-tenant production setup.

``default`` holds the core app and ``default_RO`` is its read replica (its own
file here, as a replica would be its own server; in tests it is a
``TEST['MIRROR']`` of ``default``). ``legacy`` is a database Django did not
create, described by ``managed = False`` models. ``tenant_acme`` and
``tenant_globex`` hold one database per tenant.

Everything lives in SQLite files under ``db/`` so the example needs no server.
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DB_DIR = BASE_DIR / "db"
DB_DIR.mkdir(exist_ok=True)

SECRET_KEY = "multidb-runner-example-not-secret"
DEBUG = True
ALLOWED_HOSTS: list[str] = []
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "core",
    "legacy",
    "tenants",
]

TENANTS = ["acme", "globex"]


def sqlite_database(alias: str) -> dict:
    """Return the settings of ``alias``: a file for the data, a file for the tests."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_DIR / f"{alias}.sqlite3",
        "TEST": {"NAME": DB_DIR / f"test_{alias}.sqlite3"},
    }


DATABASES = {
    "default": sqlite_database("default"),
    "default_RO": {
        "ENGINE": "django.db.backends.sqlite3",
        # A real replica has its own connection settings; tests read default's data.
        "NAME": DB_DIR / "default_RO.sqlite3",
        "TEST": {"MIRROR": "default"},
    },
    "legacy": sqlite_database("legacy"),
}
for tenant in TENANTS:
    DATABASES[f"tenant_{tenant}"] = sqlite_database(f"tenant_{tenant}")

DATABASE_ROUTERS = ["project.routers.DBRouter"]

TEST_RUNNER = "multidb_runner.MultiDBRunner"
