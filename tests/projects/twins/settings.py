"""
Unmanaged twins without a router, as in Django's own ``unmanaged_models`` tests.

Two aliases and no DATABASE_ROUTERS: Django's model checks report two
managed models over one table as an error (models.E028), so the checks must
see the unmanaged twin as written. TWINS_DB_DIR holds the SQLite files.
"""

import os
from pathlib import Path

DB_DIR = Path(os.environ["TWINS_DB_DIR"])
SECRET_KEY = "twins"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["twins"]
TEST_RUNNER = "multidb_runner.MultiDBRunner"
DATABASES = {
    alias: {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DB_DIR / f"{alias}.sqlite3"),
        "TEST": {"NAME": str(DB_DIR / f"test_{alias}.sqlite3")},
    }
    for alias in ("default", "other")
}
