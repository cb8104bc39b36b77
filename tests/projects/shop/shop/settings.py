"""
A sample project in the shape of a multi-tenant production setup.

``default`` with a read replica ``default_RO`` (TEST['MIRROR']), ``crm`` a
legacy database of unmanaged models the router never migrates, and two
tenant databases. SHOP_DB_DIR says where the SQLite files live;
SHOP_IN_MEMORY=1 makes the test databases in-memory.
"""

import os
from pathlib import Path

DB_DIR = Path(os.environ.get("SHOP_DB_DIR", Path(__file__).resolve().parent.parent / "db"))
DB_DIR.mkdir(parents=True, exist_ok=True)
IN_MEMORY = os.environ.get("SHOP_IN_MEMORY") == "1"

SECRET_KEY = "shop"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["orders", "crm", "tenants", "checks", "parallel_checks"]
ROOT_URLCONF = "shop.urls"
STATIC_URL = "static/"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
if os.environ.get("SHOP_EXTRA_TABLE") == "1":
    # A schema change between two --keepdb runs: one more migrated table.
    INSTALLED_APPS.append("parallel_checks.extra.apps.ExtraConfig")
DATABASE_ROUTERS = ["shop.routers.ShopRouter"]
TEST_RUNNER = "multidb_runner.MultiDBRunner"


def sqlite(alias, **extra):
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_DIR / f"{alias}.sqlite3"), **extra}
    if not IN_MEMORY:
        database.setdefault("TEST", {})["NAME"] = str(DB_DIR / f"test_{alias}.sqlite3")
    return database


DATABASES = {
    "default": sqlite("default"),
    # A read replica: in production another host and a read-only user.
    "default_RO": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DB_DIR / "replica.sqlite3"),
        "OPTIONS": {"timeout": 3},
        "TEST": {"MIRROR": "default"},
    },
    "crm": sqlite("crm"),
    "tenant_a": sqlite("tenant_a"),
    "tenant_b": sqlite("tenant_b"),
}

if os.environ.get("SHOP_WRITABLE_REPLICA") == "1":
    # A replica that is writable in production: the runner lets writes through.
    DATABASES["default_RO"]["TEST"]["READ_ONLY"] = False

if os.environ.get("SHOP_CLOBBER") == "1":
    # A mistake seen in the wild: the test database of 'tenant_b' is the real 'crm'.
    DATABASES["tenant_b"]["TEST"] = {"NAME": DATABASES["crm"]["NAME"]}

if os.environ.get("SHOP_MULTIDB_RUNNER"):
    import json

    MULTIDB_RUNNER = json.loads(os.environ["SHOP_MULTIDB_RUNNER"])

if os.environ.get("SHOP_BAD_MIRROR"):
    DATABASES["default_RO"]["TEST"]["MIRROR"] = os.environ["SHOP_BAD_MIRROR"]
