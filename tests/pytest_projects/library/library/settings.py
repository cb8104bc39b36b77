"""
A multi-database project tested the pytest-django way.

``default`` with a read replica ``replica`` (TEST['MIRROR']), ``other`` a
second primary, ``legacy`` a database of unmanaged models the router never
migrates. MULTIDB_TEST_BACKEND chooses the backend as the runner's own test
settings do: sqlite (files in PYPLUG_DB_DIR), sqlite-memory, postgresql or
mariadb (servers from the PG_* / MYSQL_* environment variables).
"""

import os
from pathlib import Path

BACKEND = os.environ.get("MULTIDB_TEST_BACKEND", "sqlite")
DB_DIR = Path(os.environ.get("PYPLUG_DB_DIR", Path(__file__).resolve().parent.parent / "db"))
#: Server database names start with this, so that they never clash with other work.
PREFIX = os.environ.get("PYPLUG_PREFIX", "pyplug")

SECRET_KEY = "library"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "books", "archive"]
DATABASE_ROUTERS = ["library.routers.LibraryRouter"]


def server(engine, name):
    prefix = "PG" if "postgresql" in engine else "MYSQL"
    return {
        "ENGINE": engine,
        "NAME": name,
        "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{prefix}_PORT", ""),
        "USER": os.environ.get(f"{prefix}_USER", ""),
        "PASSWORD": os.environ.get(f"{prefix}_PASSWORD", ""),
    }


if BACKEND in ("sqlite", "sqlite-memory"):
    DB_DIR.mkdir(parents=True, exist_ok=True)

    def database(alias):
        settings = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_DIR / f"{alias}.sqlite3")}
        if BACKEND == "sqlite":
            settings["TEST"] = {"NAME": str(DB_DIR / f"test_{alias}.sqlite3")}
        return settings

elif BACKEND in ("postgresql", "mariadb"):
    ENGINE = "django.db.backends.postgresql" if BACKEND == "postgresql" else "django.db.backends.mysql"

    def database(alias):
        return server(ENGINE, f"{PREFIX}_{alias}")

else:
    raise RuntimeError(f"MULTIDB_TEST_BACKEND={BACKEND!r} is not one of sqlite, sqlite-memory, postgresql, mariadb.")

if BACKEND == "postgresql":
    # As most PostgreSQL projects: its connection_created receiver looks every alias up.
    INSTALLED_APPS.append("django.contrib.postgres")
# A receiver of the project's own that looks every alias up too.
import library.receivers  # noqa: E402, F401

DATABASES = {
    "default": database("default"),
    # A read replica: reads of books go there; in tests it must see the test's writes.
    "replica": {**database("replica"), "TEST": {"MIRROR": "default"}},
    "other": database("other"),
    "legacy": database("legacy"),
}

if os.environ.get("PYPLUG_MULTIDB_RUNNER"):
    import json

    MULTIDB_RUNNER = json.loads(os.environ["PYPLUG_MULTIDB_RUNNER"])

if os.environ.get("PYPLUG_CLOBBER") == "1":
    # A mistake seen in the wild: the test database of 'other' is the real 'default'.
    DATABASES["other"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}
