"""A project whose ``default`` is left empty: every model is routed elsewhere."""

import os
from pathlib import Path

DB_DIR = Path(os.environ["NODEFAULT_DB_DIR"])
SECRET_KEY = "nodefault"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["accounts"]
TEST_RUNNER = "multidb_runner.MultiDBRunner"
DATABASE_ROUTERS = ["routers.UsersRouter"]
DATABASES = {
    "default": {},
    "users": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_DIR / "users.sqlite3",
        "TEST": {"NAME": DB_DIR / "test_users.sqlite3"},
    },
    "events": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_DIR / "events.sqlite3",
        "TEST": {"NAME": DB_DIR / "test_events.sqlite3"},
    },
}
