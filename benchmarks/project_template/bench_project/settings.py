"""
Settings of the generated benchmark project.

The aliases and apps come from ``shape.py``, written by the generator (an
app on one alias each, and apps whose schema several aliases share); the
backend from ``BENCH_BACKEND`` ("sqlite", "postgresql" or "mariadb"), so that
one generated project serves every backend. Server databases are named
``mdbbench_*`` so that a run never touches any other database; the server
comes from the same PG_* and MYSQL_* variables as the package's own tests
(``bash .ci/servers.sh start DIR`` writes them to ``DIR/env``).
"""

from __future__ import annotations

import os
from itertools import chain
from pathlib import Path

from .shape import APP_ALIASES, MIRRORS, SHARED_SCHEMAS

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "data"
BACKEND = os.environ.get("BENCH_BACKEND", "sqlite")

SECRET_KEY = "multidb-runner-benchmark"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [*APP_ALIASES, *SHARED_SCHEMAS]
DATABASE_ROUTERS = ["bench_project.routers.AppPerAliasRouter"]
# MariaDB's advice to enable strict mode is noise in every run's output.
SILENCED_SYSTEM_CHECKS = ["mysql.W002"]
# Aliases in the order of their apps: "default" first, then those sharing a schema.
ALIASES = list(dict.fromkeys(chain(APP_ALIASES.values(), *SHARED_SCHEMAS.values())))


def server_database(engine: str, prefix: str, alias: str) -> dict[str, object]:
    """Return the settings of ``alias`` on the server described by the ``PREFIX_*`` variables."""
    return {
        "ENGINE": engine,
        "NAME": f"mdbbench_{alias}",
        "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{prefix}_PORT", ""),
        "USER": os.environ.get(f"{prefix}_USER", ""),
        "PASSWORD": os.environ.get(f"{prefix}_PASSWORD", ""),
        "TEST": {"NAME": f"mdbbench_test_{alias}"},
    }


def sqlite_database(alias: str) -> dict[str, object]:
    """Return the settings of ``alias`` as SQLite files: test databases on disk, as in most projects."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / f"{alias}.sqlite3",
        "TEST": {"NAME": str(DATA_DIR / f"test_{alias}.sqlite3")},
    }


if BACKEND == "sqlite":
    DATA_DIR.mkdir(exist_ok=True)
    DATABASES = {alias: sqlite_database(alias) for alias in ALIASES}
elif BACKEND == "postgresql":
    DATABASES = {alias: server_database("django.db.backends.postgresql", "PG", alias) for alias in ALIASES}
elif BACKEND == "mariadb":
    DATABASES = {alias: server_database("django.db.backends.mysql", "MYSQL", alias) for alias in ALIASES}
else:
    raise RuntimeError(f"BENCH_BACKEND={BACKEND!r} is not one of sqlite, postgresql, mariadb.")

# Read replicas, as multi-database projects often have: in tests, mirrors of
# their primary ("replica" of "default" in the multi-database projects). No
# test uses them; they are there so that the times show what a mirror alias
# costs (stock Django creates no database for it, and neither may the runner).
for mirror, primary in MIRRORS.items():
    DATABASES[mirror] = {**DATABASES[primary], "TEST": {"MIRROR": primary}}

# Tenants: stock Django sets up a database after the ones in its
# TEST["DEPENDENCIES"], ``default`` unless told otherwise, and refuses
# ("Circular dependency") to set up a tenant without ``default``, as for a
# class that uses the tenants only. Tenants depend on no other database.
for alias in chain.from_iterable(SHARED_SCHEMAS.values()):
    DATABASES[alias]["TEST"] = {**DATABASES[alias]["TEST"], "DEPENDENCIES": []}  # type: ignore[dict-item]
