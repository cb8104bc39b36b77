"""
End-to-end: test databases of the same schema are migrated once and copied (``tests/projects/tenancy``).

Three tenants share one schema (with a data migration), ``archive`` has
another, ``default`` a third. Each run is a real ``manage.py test`` in a
subprocess, on SQLite files, in-memory SQLite, PostgreSQL or MariaDB (the
suite's backend), serial and parallel; the real databases hold precious rows,
counted after every run, and no test database or template may be left.

Opt-in, with MULTIDB_SETUP_SUITE=1, as the fault suite is: each test runs
the project several times (CI runs it in one serial job per backend).
"""

from __future__ import annotations

import os
import re
import unittest
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


SETUP_SUITE = os.environ.get("MULTIDB_SETUP_SUITE") == "1"


@unittest.skipUnless(SETUP_SUITE, "the set-up suite runs only with MULTIDB_SETUP_SUITE=1 (slow)")
@only_with_backend("sqlite", "sqlite-memory", "postgresql", "mariadb")
class SchemaCopiesTests(SimpleTestCase):
    def setUp(self):
        self.folder = make_temp_dir(self)
        self.prefix = f"tenancy{uuid.uuid4().hex[:8]}"
        if BACKEND in SERVERS:
            self.server = SERVERS[BACKEND]()
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

    def manage(self, *args, kept=False, snapshots_left=False, **env):
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
        elif snapshots_left:
            self.assertEqual({name for name in left if not name.endswith("_mdbsnap")}, set(), result)
        else:
            self.assertEqual(left, set(), result)
        return result

    def left_behind(self) -> set[str]:
        """Test databases and templates left after a run (SQLite: files beside the real ones)."""
        if BACKEND in SERVERS:
            return {name for name in self.server.databases(self.prefix) if name.startswith("test_")}
        return {path.name for path in Path(self.folder).iterdir() if path.name.startswith("test_")}

    def roles(self, result) -> dict[str, str]:
        plan = result.stdout[result.stdout.index("Database plan:") :]
        return {
            alias: re.search(rf"^{alias}\s+(\(in memory\)|\S+)\s+(.+?)\s{{2,}}", plan, re.MULTILINE).group(2)
            for alias in ("default", "tenant_1", "tenant_2", "tenant_3", "archive")
        }

    def assertPassed(self, result, tests=8):
        self.assertEqual(result.returncode, 0, result)
        self.assertIn(f"Ran {tests} tests", result.stderr)

    def test_same_schema_tenants_are_migrated_once_and_copied(self):
        for extra in ((), ("--parallel", "2")):
            with self.subTest(extra=extra):
                # No snapshot: the second run migrates again.
                result = self.manage("--no-snapshots", *extra)
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
        result = self.manage("--no-schema-copies", "--no-snapshots")
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
        if BACKEND in SERVERS:
            self.assertNotIn(f"{self.prefix}_tenant_3", self.server.databases(self.prefix))
        else:
            self.assertFalse((Path(self.folder) / "tenant_3.sqlite3").exists())

    def test_a_router_that_queries_its_database_keeps_the_databases(self):
        # A --keepdb run reads each kept database's schema key, the routers' answers in it, before
        # any test database is connected to: the querying router is refused there, and the key stays
        # the same from one run to the next.
        for run in ("first", "second"):
            with self.subTest(run=run):
                result = self.manage("--keepdb", kept=True, TENANCY_ROUTER="querying")
                self.assertPassed(result)
                if run == "second":
                    self.assertNotIn("Rebuilding kept test database", result.stderr + result.stdout)

    def test_keepdb_is_never_stale(self):
        # A kept database whose rows a TransactionTestCase flushed is restored from its snapshot.
        for run in ("first", "second", "third"):
            with self.subTest(run=run):
                result = self.manage("--keepdb", kept=True)
                self.assertPassed(result)
                roles = self.roles(result)
                if BACKEND == "sqlite-memory":
                    self.assertEqual(roles["default"], "created")
                    continue
                # TenantWritesTests flushed tenant_2 (restored from then on); no test wrote to default.
                self.assertEqual(roles["default"], "kept (--keepdb)")
                self.assertEqual(
                    roles["tenant_2"],
                    "kept (--keepdb), made as a copy of tenant_1, on first use"
                    if run == "first"
                    else "kept (--keepdb), restored, on first use",
                )
        if BACKEND == "sqlite-memory":
            return  # nothing is kept
        # A migration added (another branch), then removed (back): rebuilt each time, with its columns.
        for mode in ("extended", "canonical"):
            with self.subTest(mode=mode):
                result = self.manage("--keepdb", kept=True, TENANCY_MIGRATIONS=mode)
                self.assertPassed(result)
                self.assertIn(
                    "Rebuilding kept test database for alias 'default': its migrations, models, routers or "
                    "settings changed since it was migrated...",
                    result.stderr + result.stdout,
                )
                # Rebuilt as copies of the first of them, as fresh databases are.
                self.assertEqual(
                    self.roles(result)["tenant_2"], "kept (--keepdb), made as a copy of tenant_1, on first use"
                )
                self.assertEqual(self.roles(result)["tenant_1"], "kept (--keepdb), rebuilt, on first use")
        # --no-snapshots removes the snapshots; a run without --keepdb replaces the kept databases.
        self.assertPassed(self.manage("--no-snapshots"))

    @unittest.skipIf(BACKEND == "sqlite-memory", "nothing is kept in memory")
    def test_an_unchanged_kept_database_is_not_migrated_again(self):
        # Printed at -v 2 by each migrate Django runs, "No migrations to apply" or not.
        migrate_line = "Operations to perform:"
        first = self.manage("--keepdb", kept=True)
        self.assertPassed(first)
        self.assertGreater(first.stdout.count(migrate_line), 0, first)
        # Kept, schema key unchanged (restored or not): a migrate would apply nothing; none runs.
        second = self.manage("--keepdb", kept=True)
        self.assertPassed(second)
        self.assertEqual(second.stdout.count(migrate_line), 0, second)
        self.assertIn("Using existing test database for alias 'tenant_2'", second.stderr + second.stdout)
        # A post_migrate receiver of the project's may do anything: migrate runs, as under stock Django.
        log = Path(self.folder) / "post_migrate.log"
        third = self.manage("--keepdb", kept=True, TENANCY_POST_MIGRATE_LOG=str(log))
        self.assertPassed(third)
        self.assertEqual(third.stdout.count(migrate_line), 5, third)
        self.assertEqual(
            sorted(set(log.read_text().split())), ["archive", "default", "tenant_1", "tenant_2", "tenant_3"]
        )

    @unittest.skipIf(BACKEND == "sqlite-memory", "nothing is kept in memory")
    def test_a_row_a_thread_committed_does_not_stay_in_a_kept_database(self):
        # TestCase classes only: no flush. ThreadWriteTests commits a row to archive, outside the test's transaction.
        labels = ("checks.tests.TenantSchemaTests", "checks.tests.ThreadWriteTests")
        first = self.manage("--keepdb", *labels, kept=True, TENANCY_STRAY_WRITE="1")
        self.assertPassed(first, tests=7)
        # The next run restores archive (counted by test_the_archive_has_a_schema_of_its_own) and only it.
        second = self.manage("--keepdb", labels[0], kept=True)
        self.assertPassed(second, tests=6)
        roles = self.roles(second)
        self.assertEqual(roles["archive"], "kept (--keepdb), restored, on first use")
        self.assertEqual(roles["tenant_1"], "kept (--keepdb), set up on first use")

    @unittest.skipIf(BACKEND == "sqlite-memory", "nothing is kept in memory")
    def test_keepdb_parallel_reuses_the_clones_no_worker_wrote_to(self):
        reused = "Using existing clone for alias '{}'"
        first = self.manage("--keepdb", "--parallel", "2", kept=True)
        self.assertPassed(first)
        self.assertNotIn(reused.format("default"), first.stderr + first.stdout)
        second = self.manage("--keepdb", "--parallel", "2", kept=True)
        self.assertPassed(second)
        output = second.stderr + second.stdout
        # No test wrote to these: both workers' clones are reused, as stock Django reuses kept clones.
        for alias in ("default", "tenant_1", "archive"):
            self.assertEqual(output.count(reused.format(alias)), 2, (alias, output))
        # TenantWritesTests wrote to tenant_2 in one worker: that worker's clone is made again.
        self.assertEqual(output.count(reused.format("tenant_2")), 1, output)
        # Another branch's migrations: every kept database is rebuilt, and every clone made again.
        third = self.manage("--keepdb", "--parallel", "2", kept=True, TENANCY_MIGRATIONS="extended")
        self.assertPassed(third)
        self.assertNotIn("Using existing clone", third.stderr + third.stdout)

    def test_keepdb_copies_only_what_it_makes_afresh(self):
        # Nothing kept yet: made afresh, the tenants as copies.
        first = self.manage("--keepdb", kept=True)
        self.assertPassed(first)
        self.assertEqual(first.stdout.count(LEDGER_MIGRATED), MIGRATED_WITH_COPIES, first)
        if BACKEND == "sqlite-memory":
            return  # nothing is kept
        self.assertEqual(self.roles(first)["tenant_2"], "kept (--keepdb), made as a copy of tenant_1, on first use")
        # Kept (or restored from their snapshots): never copied over, nothing migrated.
        second = self.manage("--keepdb", kept=True)
        self.assertPassed(second)
        self.assertEqual(second.stdout.count(LEDGER_MIGRATED), 0, second)
        self.assertNotIn("copy of", second.stdout)

    def test_a_second_fresh_run_starts_from_the_snapshots(self):
        # Fresh runs use snapshots when asked to (SNAPSHOTS = True).
        flags = ("--snapshots",)
        first = self.manage(*flags, snapshots_left=True)
        self.assertPassed(first)
        self.assertEqual(first.stdout.count(LEDGER_MIGRATED), MIGRATED_WITH_COPIES, first)
        second = self.manage(*flags, snapshots_left=True)
        self.assertPassed(second)
        self.assertEqual(second.stdout.count(LEDGER_MIGRATED), 0, second)
        roles = self.roles(second)
        self.assertEqual(roles["default"], "created, from its snapshot")
        self.assertEqual(roles["tenant_1"], "created on first use, from its snapshot")
        self.assertEqual(roles["tenant_2"], "created on first use, as a copy of tenant_1")
        # A migration added (another branch): migrated again, and the snapshots replaced.
        changed = self.manage(*flags, snapshots_left=True, TENANCY_MIGRATIONS="extended")
        self.assertPassed(changed)
        self.assertEqual(changed.stdout.count(LEDGER_MIGRATED), MIGRATED_WITH_COPIES, changed)
        again = self.manage(*flags, snapshots_left=True, TENANCY_MIGRATIONS="extended")
        self.assertEqual(again.stdout.count(LEDGER_MIGRATED), 0, again)
        self.assertPassed(again)
        # --no-snapshots migrates, and removes them.
        removed = self.manage("--no-snapshots")
        self.assertPassed(removed)
        self.assertEqual(removed.stdout.count(LEDGER_MIGRATED), MIGRATED_WITH_COPIES, removed)

    def test_by_default_a_fresh_run_migrates(self):
        for _run in range(2):
            result = self.manage()
            self.assertPassed(result)
            self.assertEqual(result.stdout.count(LEDGER_MIGRATED), MIGRATED_WITH_COPIES, result)
