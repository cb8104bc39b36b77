"""
Settings for multidb_runner's own test suite.

The backend comes from MULTIDB_TEST_BACKEND: "sqlite" (files, the default),
"sqlite-memory", "postgresql" or "mariadb". Every backend has the same
aliases: ``default``, ``replica`` (a TEST['MIRROR'] of default), ``other``
(an independent database) and ``legacy`` (unmanaged models that the router
never migrates).
"""

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
BACKEND = os.environ.get("MULTIDB_TEST_BACKEND", "sqlite")
if not os.environ.get("MULTIDB_TEST_DATA_DIR"):
    # A folder of this run's own, so that two runs on one machine never share
    # (and clobber) SQLite test databases; workers and subprocesses inherit it.
    os.environ["MULTIDB_TEST_DATA_DIR"] = tempfile.mkdtemp(prefix="multidb_runner_run_")
DATA_DIR = Path(os.environ["MULTIDB_TEST_DATA_DIR"]) / "multidb_runner_tests"

SECRET_KEY = "multidb-runner-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tests.testapp",
    "tests.legacyapp",
    "tests.isolationapp",
    "tests.twinapp",
]
DATABASE_ROUTERS = ["tests.routers.LegacyRouter"]
TEST_RUNNER = "multidb_runner.MultiDBRunner"
# tests.twinapp's unmanaged twins share a managed model's table on purpose.
SILENCED_SYSTEM_CHECKS = ["models.W035"]
ALIASES = ("default", "replica", "replica2", "other", "legacy")


def server_database(engine: str, name: str, read_only: bool = False, **extra: object) -> dict[str, object]:
    """Settings for a database on the server that .ci/servers.sh starts."""
    prefix = "PG" if "postgresql" in engine else "MYSQL"
    user = os.environ.get(f"{prefix}_RO_USER" if read_only else f"{prefix}_USER", "")
    return {
        "ENGINE": engine,
        "NAME": name,
        "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{prefix}_PORT", ""),
        "USER": user,
        "PASSWORD": os.environ.get(f"{prefix}_PASSWORD", ""),
        **extra,
    }


if BACKEND in ("sqlite", "sqlite-memory"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)

    def sqlite(name: str) -> dict[str, object]:
        # A path object, as startproject writes it.
        database: dict[str, object] = {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / f"{name}.sqlite3"}
        if BACKEND == "sqlite":
            database["TEST"] = {"NAME": str(DATA_DIR / f"test_{name}.sqlite3")}
        return database

    DATABASES = {alias: sqlite(alias) for alias in ("default", "other", "legacy")}
    DATABASES["replica"] = {**sqlite("replica"), "TEST": {"MIRROR": "default"}}
    # A replica of the replica: a chain of mirrors that ends at default, and
    # writable (TEST['READ_ONLY'] = False), where "replica" refuses writes.
    DATABASES["replica2"] = {**sqlite("replica2"), "TEST": {"MIRROR": "replica", "READ_ONLY": False}}
elif BACKEND in ("postgresql", "mariadb"):
    engine = "django.db.backends.postgresql" if BACKEND == "postgresql" else "django.db.backends.mysql"
    DATABASES = {alias: server_database(engine, f"multidb_{alias}") for alias in ("default", "other", "legacy")}
    # A replica reached with a read-only user, as in production: in tests it
    # must use the primary's credentials.
    DATABASES["replica"] = server_database(engine, "multidb_replica", read_only=True, TEST={"MIRROR": "default"})
    DATABASES["replica2"] = server_database(
        engine, "multidb_replica2", read_only=True, TEST={"MIRROR": "replica", "READ_ONLY": False}
    )
else:
    raise RuntimeError(f"MULTIDB_TEST_BACKEND={BACKEND!r} is not one of sqlite, sqlite-memory, postgresql, mariadb.")

DATABASES = {alias: DATABASES[alias] for alias in ALIASES}

if BACKEND in ("postgresql", "mariadb") and os.environ.get("LAZY_UNREACHABLE_ALIAS"):
    # Credentials the server refuses (test_lazy_setup): the runner cannot connect for that alias.
    DATABASES[os.environ["LAZY_UNREACHABLE_ALIAS"]].update(USER="nobody_multidb", PASSWORD="wrong-secret-4711")

if BACKEND == "postgresql":
    # As most PostgreSQL projects: its connection_created receiver looks every alias up.
    INSTALLED_APPS.append("django.contrib.postgres")
# A receiver of the project's own that looks every alias up too.
import tests.connection_receivers  # noqa: E402, F401
