"""
End-to-end: test databases of the same schema are migrated once and copied (``tests/projects/tenancy``).

Three tenants share one schema (with a data migration), ``archive`` has
another, ``default`` a third. Each run is a real ``manage.py test`` in a
subprocess, on SQLite files, in-memory SQLite or PostgreSQL (the suite's
backend), serial and parallel; the real databases hold precious rows,
counted after every run, and no test database or template may be left.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.test import SimpleTestCase

from .e2e import BACKEND, make_temp_dir, only_with_backend, run_manage
from .faults_support import SERVERS, SQLiteFolder

#: Printed once per migrated test database at ``-v 2`` (the router leaves the tables out where it says no).
LEDGER_MIGRATED = "Applying ledger.0001_initial... OK"
#: default, tenant_1 and archive migrate; tenant_2 and tenant_3 are copies.
MIGRATED_WITH_COPIES = 3
MIGRATED_EACH = 5
PRECIOUS_ROWS = 3


@only_with_backend("sqlite", "sqlite-memory", "postgresql")
class SchemaCopiesTests(SimpleTestCase):
    def setUp(self):
        self.folder = make_temp_dir(self)
        self.prefix = f"tenancy{uuid.uuid4().hex[:8]}"
        if BACKEND == "postgresql":
            self.server = SERVERS["postgresql"]()
            self.addCleanup(self.drop_all)
            self.real = {alias: f"{self.prefix}_{alias}" for alias in ("tenant_1", "tenant_2")}
        else:
            self.server = SQLiteFolder(self.folder)
            self.real = {alias: f"{alias}.sqlite3" for alias in ("tenant_1", "tenant_2")}
        # Production data in the real databases of the template's source and of a copy.
        for name in self.real.values():
            self.server.create(name, PRECIOUS_ROWS)

    def drop_all(self):
        for name in self.server.databases(self.prefix):
            self.server.drop(name)

    def manage(self, *args, kept=False, **env):
        environment = {
            "TENANCY_BACKEND": BACKEND,
            "TENANCY_DB_DIR": str(self.folder),
            "TENANCY_PREFIX": self.prefix,
            **env,
        }
        result = run_manage("tenancy", "test", "--noinput", "-v", "2", *args, env=environment)
        for alias, name in self.real.items():
            self.assertEqual(self.server.count_precious(name), PRECIOUS_ROWS, f"real {alias}")
        left = self.left_behind()
        if kept:
            # The kept test databases, and never a template.
            self.assertEqual({name for name in left if "mdbtpl" in name}, set(), result)
        else:
            self.assertEqual(left, set(), result)
        return result

    def left_behind(self) -> set[str]:
        """Test databases and templates left after a run (SQLite: files beside the real ones)."""
        if BACKEND == "postgresql":
            return {name for name in self.server.databases(self.prefix) if name.startswith("test_")}
        return {path.name for path in Path(self.folder).iterdir() if path.name.startswith("test_")}

    def roles(self, result) -> dict[str, str]:
        plan = result.stdout[result.stdout.index("Database plan:") :]
        return {
            alias: re.search(rf"^{alias}\s+(\(in memory\)|\S+)\s+(.+?)\s{{2,}}", plan, re.MULTILINE).group(2)
            for alias in ("default", "tenant_1", "tenant_2", "tenant_3", "archive")
        }

    def assertPassed(self, result, tests=6):
        self.assertEqual(result.returncode, 0, result)
        self.assertIn(f"Ran {tests} tests", result.stderr)

    def test_same_schema_tenants_are_migrated_once_and_copied(self):
        for extra in ((), ("--parallel", "2")):
            with self.subTest(extra=extra):
                result = self.manage(*extra)
                self.assertPassed(result)
                self.assertEqual(result.stdout.count(LEDGER_MIGRATED), MIGRATED_WITH_COPIES, result)
                roles = self.roles(result)
                on_first_use = "" if extra else "on first use, "
                self.assertEqual(roles["tenant_2"], f"created {on_first_use}as a copy of tenant_1")
                self.assertEqual(roles["tenant_3"], f"created {on_first_use}as a copy of tenant_1")
                self.assertNotIn("copy", roles["archive"])
                self.assertNotIn("copy", roles["default"])
                # Stock Django's lines, one per test database.
                for alias in ("tenant_1", "tenant_2", "tenant_3"):
                    self.assertIn(f"Creating test database for alias '{alias}'", result.stderr + result.stdout)

    def test_no_schema_copies_migrates_each(self):
        result = self.manage("--no-schema-copies")
        self.assertPassed(result)
        self.assertEqual(result.stdout.count(LEDGER_MIGRATED), MIGRATED_EACH, result)
        self.assertNotIn("copy of", result.stdout)

    def test_a_data_migration_that_names_an_alias_migrates_each(self):
        result = self.manage(TENANCY_MIGRATIONS="names_alias")
        self.assertPassed(result)
        self.assertEqual(result.stdout.count(LEDGER_MIGRATED), MIGRATED_EACH, result)
        self.assertNotIn("copy of", result.stdout)

    def test_a_data_migration_that_writes_elsewhere_migrates_each(self):
        # Serially: in a parallel run, default's clones are made before the tenants write to it.
        result = self.manage(TENANCY_MIGRATIONS="writes_elsewhere")
        self.assertPassed(result)
        self.assertEqual(result.stdout.count(LEDGER_MIGRATED), MIGRATED_EACH, result)
        self.assertNotIn("copy of", result.stdout)

    def test_a_router_that_queries_its_database_migrates_each(self):
        # The routers are asked before any test database exists: a query
        # there would reach the real databases (tenant_3's does not exist;
        # SQLite would create its file). Refused, the aliases are in doubt.
        result = self.manage(TENANCY_ROUTER="querying")
        self.assertPassed(result)
        self.assertEqual(result.stdout.count(LEDGER_MIGRATED), MIGRATED_EACH, result)
        self.assertNotIn("copy of", result.stdout)
        if BACKEND == "postgresql":
            self.assertNotIn(f"{self.prefix}_tenant_3", self.server.databases(self.prefix))
        else:
            self.assertFalse((Path(self.folder) / "tenant_3.sqlite3").exists())

    def test_keepdb_migrates_each_kept_database_in_place(self):
        result = self.manage("--keepdb", kept=True)
        self.assertPassed(result)
        self.assertNotIn("copy of", result.stdout)
        self.assertEqual(result.stdout.count(LEDGER_MIGRATED), MIGRATED_EACH, result)
