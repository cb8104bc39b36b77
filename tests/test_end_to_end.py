"""
End-to-end: ``manage.py test`` of the ``shop`` sample project in a subprocess.

The project is shaped like a production multi-tenant setup: ``default`` with
a ``default_RO`` mirror, a legacy ``crm`` database of unmanaged models that
the router never migrates, and two tenant databases. Each stock behaviour the
runner fixes is shown failing with DiscoverRunner and passing with
MultiDBRunner; every run is checked for its exit code, output and the
databases left afterwards.
"""

import json
import re
import sqlite3
import sys
import unittest
import xml.etree.ElementTree as ET

from django.test import SimpleTestCase

from .e2e import STOCK_RUNNER, make_temp_dir, only_with_backend, run_manage, sqlite_rows, sqlite_tables
from .shop_harness import ShopTestCase


class FullSuiteTests(ShopTestCase):
    def test_whole_suite_passes_and_leaves_nothing_behind(self):
        result = self.manage("test", "-v", "2")
        self.assertPassed(result, tests=9)
        plan = result.stdout[result.stdout.index("Database plan:") :]
        self.assertRegex(plan, r"default_RO\s+\S*test_default\.sqlite3\s+mirror of default")
        self.assertRegex(plan, r"crm\s+\S*test_crm\.sqlite3\s+created\s+ACCOUNTS, CONTACTS, CONTACTS_accounts_followed")
        # The same schema as tenant_a's: a copy of it (see test_schema_copies).
        self.assertRegex(plan, r"tenant_b\s+\S*test_tenant_b\.sqlite3\s+created as a copy of tenant_a\s+-")
        # No test database left, and no real database was ever opened.
        self.assertEqual(self.files(), [])

    def test_stock_runner_fails_the_same_suite(self):
        result = self.manage("test", "checks.test_undeclared", "--testrunner", STOCK_RUNNER)
        self.assertFailedWith(
            result, "DatabaseOperationForbidden", "Database queries to 'tenant_b' are not allowed in this test"
        )
        self.assertPassed(self.manage("test", "checks.test_undeclared"), tests=4)

    def test_django_left_as_found_after_the_run(self):
        expected = (
            "STATE AFTER RUN: {'undeclared': 'unset', 'all': '__all__', 'managed': (False, False), "
            "'replica_wrapper': 'DatabaseWrapper', 'replica_name': 'replica.sqlite3', "
            "'replica_options': {'timeout': 3}, 'routers': ['ShopRouter']}"
        )
        result = self.manage("test", "--testrunner", "shop.checking_runner.CheckingRunner")
        self.assertPassed(result, tests=9)
        self.assertIn(expected, result.stdout)

    def test_django_left_as_found_after_a_failing_run(self):
        result = self.manage("test", "--testrunner", "shop.checking_runner.CheckingRunner", SHOP_FAIL_CHECKS="1")
        self.assertFailedWith(result, "RuntimeError: checks exploded on purpose")
        self.assertIn("'managed': (False, False)", result.stdout)
        self.assertIn("'replica_name': 'replica.sqlite3'", result.stdout)
        self.assertIn("'routers': ['ShopRouter']", result.stdout)
        self.assertEqual(self.files(), [])


class ProjectRunnerSubclassTests(ShopTestCase):
    """A project's subclass overriding setup_databases / teardown_databases, as projects do with DiscoverRunner."""

    def test_overriding_setup_and_teardown_keeps_the_guarantees(self):
        real_tenant = self.db_dir / "tenant_a.sqlite3"
        migrate = self.manage("migrate", "--database", "tenant_a", "-v", "0")
        self.assertEqual(migrate.returncode, 0, migrate)
        with sqlite3.connect(real_tenant) as connection:
            tables_before = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
        for extra in ((), ("--parallel", "2")):
            with self.subTest(extra=extra):
                result = self.manage("test", "--testrunner", "project_runner.ProjectRunner", "--noinput", *extra)
                self.assertPassed(result, tests=9)
                setup_line = re.search(r"PROJECT SETUP: (.*)", result.stdout)
                self.assertIsNotNone(setup_line, result)
                names = json.loads(setup_line.group(1))
                # Every alias names its test database once the set-up is over (the mirror its primary's).
                self.assertEqual(names["default"], "test_default.sqlite3")
                self.assertEqual(names["default_RO"], "test_default.sqlite3")
                self.assertEqual(names["tenant_a"], "test_tenant_a.sqlite3")
                # The override runs first, then the runner's teardown, which destroys everything.
                teardown = result.stdout.index("PROJECT TEARDOWN:")
                self.assertLess(teardown, result.stdout.index("PROJECT TEARDOWN DONE"))
                self.assertNotIn("Destroying", result.stdout[:teardown])
                self.assertEqual(self.database_files(), ["tenant_a.sqlite3"])
        with sqlite3.connect(real_tenant) as connection:
            self.assertEqual({name for (name,) in connection.execute("SELECT name FROM sqlite_master")}, tables_before)


class MirrorTests(ShopTestCase):
    def test_mirror_sees_the_primary_writes_and_settings(self):
        stock = self.manage("test", "checks.test_mirror", "--testrunner", STOCK_RUNNER)
        self.assertFailedWith(
            stock, "AssertionError: Lists differ: [] != ['R1']", "AssertionError: {'timeout': 3} != {}"
        )
        self.assertPassed(self.manage("test", "checks.test_mirror"), tests=2)

    def test_class_declaring_only_the_replica_never_touches_the_real_database(self):
        real_default = self.db_dir / "default.sqlite3"
        migrate = self.manage("migrate", "--database", "default", "-v", "0")
        self.assertEqual(migrate.returncode, 0, migrate)
        count = "SELECT COUNT(*) FROM orders_order"

        stock = self.manage("test", "checks.test_replica_only", "--testrunner", STOCK_RUNNER)
        self.assertEqual(stock.returncode, 0, stock)
        self.assertEqual(sqlite_rows(real_default, count), [(1,)], "stock Django wrote to the real database")
        with sqlite3.connect(real_default) as connection:
            connection.execute("DELETE FROM orders_order")
        connection.close()

        # The runner refuses the write, as the production replica would.
        ours = self.manage("test", "checks.test_replica_only", "-v", "2")
        self.assertPassed(ours, tests=1)
        self.assertIn(
            "WRITE REFUSED: ReadOnlyMirrorError: Refusing an INSERT statement sent through 'default_RO', "
            "a read replica in production (DATABASES['default_RO']['TEST']['MIRROR'] reads 'default')",
            ours.stdout,
        )
        self.assertRegex(ours.stdout, r"default\s+\S*test_default\.sqlite3\s+created")
        # A replica writable in production: the write lands in default's test database.
        writable = self.manage("test", "checks.test_replica_only", SHOP_WRITABLE_REPLICA="1")
        self.assertPassed(writable, tests=1)
        self.assertIn("WRITE ACCEPTED", writable.stdout)
        # So does any mirror's with --no-read-only-mirrors.
        unchecked = self.manage("test", "checks.test_replica_only", "--no-read-only-mirrors")
        self.assertIn("WRITE ACCEPTED", unchecked.stdout)
        self.assertEqual(sqlite_rows(real_default, count), [(0,)])
        self.assertEqual(self.files(), ["default.sqlite3"])


class InMemoryMirrorTests(ShopTestCase):
    in_memory = True

    def test_in_memory_mirror_is_not_locked(self):
        stock = self.manage("test", "checks.test_mirror", "--testrunner", STOCK_RUNNER)
        self.assertFailedWith(stock, "database table is locked")
        self.assertPassed(self.manage("test", "checks.test_mirror"), tests=2)

    def test_whole_suite_in_memory(self):
        result = self.manage("test")
        self.assertPassed(result, tests=9)
        self.assertRegex(result.stdout, r"default_RO\s+\(in memory\)\s+mirror of default")
        self.assertEqual(self.files(), [])


class LiveServerTests(ShopTestCase):
    """A LiveServerTestCase without declarations: its server thread reads the replica and legacy tables."""

    def test_live_server(self):
        stock = self.manage("test", "checks.live", "--testrunner", STOCK_RUNNER)
        self.assertFailedWith(stock, "Database queries to 'crm' are not allowed in this test")
        self.assertPassed(self.manage("test", "checks.live"), tests=2)
        self.assertPassed(self.manage("test", "checks.live", SHOP_IN_MEMORY="1"), tests=2)
        parallel = self.manage(
            "test", "checks.live", "checks.test_mirror", "--parallel", "2", "--start-method", "spawn"
        )
        self.assertPassed(parallel, tests=4)
        self.assertEqual(self.files(), [])


class AllAliasesTests(ShopTestCase):
    def test_all_with_class_level_feature_skip(self):
        stock = self.manage("test", "checks.test_all_aliases", "--testrunner", STOCK_RUNNER)
        self.assertFailedWith(stock, "ValueError: skipUnlessDBFeature cannot be used on")
        self.assertPassed(self.manage("test", "checks.test_all_aliases"), tests=1)


class LegacyTablesTests(ShopTestCase):
    def test_unmanaged_models_get_tables(self):
        stock = self.manage("test", "checks.test_legacy", "--testrunner", STOCK_RUNNER)
        self.assertFailedWith(stock, "no such table: ACCOUNTS")
        self.assertPassed(self.manage("test", "checks.test_legacy"), tests=1)

    def test_no_managed_legacy_leaves_them_alone(self):
        result = self.manage("test", "checks.test_legacy", "--no-managed-legacy", "-v", "2")
        self.assertFailedWith(result, "no such table: ACCOUNTS")
        self.assertRegex(result.stdout, r"crm\s+\S*test_crm\.sqlite3\s+created\s+-")

    def test_setting_turns_them_off_and_the_flag_back_on(self):
        setting = '{"MANAGED_LEGACY": false}'
        self.assertFailedWith(self.manage("test", "checks.test_legacy", SHOP_MULTIDB_RUNNER=setting), "no such table")
        result = self.manage("test", "checks.test_legacy", "--managed-legacy", SHOP_MULTIDB_RUNNER=setting)
        self.assertPassed(result, tests=1)

    def test_legacy_table_that_cannot_be_created_is_a_clear_error(self):
        result = self.manage("test", "checks.test_legacy", SHOP_UNCREATABLE_LEGACY="1")
        self.assertEqual(result.returncode, 1, result)
        self.assertIn(
            "ConfigurationError: Could not create the table of legacy model crm.ArchivedOrder "
            "in the test database of alias 'crm': unknown database \"archive\".",
            result.stderr,
        )
        self.assertNotIn("Traceback", result.output)
        self.assertEqual(self.files(), [])

    def test_keepdb_twice_keeps_legacy_tables(self):
        first = self.manage("test", "--keepdb", "-v", "2")
        self.assertPassed(first, tests=9)
        self.assertRegex(first.stdout, r"crm\s+\S+\s+kept \(--keepdb\)\s+ACCOUNTS, CONTACTS")
        test_crm = self.db_dir / "test_crm.sqlite3"
        self.assertLessEqual({"ACCOUNTS", "CONTACTS", "CONTACTS_accounts_followed"}, sqlite_tables(test_crm))
        second = self.manage("test", "--keepdb", "-v", "2")
        self.assertPassed(second, tests=9)
        # The tables were kept (and are listed), and still empty. The first run's
        # TransactionTestCase flushes changed its rows: restored from its snapshot.
        self.assertRegex(
            second.stdout,
            r"crm\s+\S+\s+kept \(--keepdb\), restored\s+ACCOUNTS, CONTACTS, CONTACTS_accounts_followed",
        )
        indexes = sqlite_rows(test_crm, "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'CONTACTS'")
        self.assertTrue(any('("email")' in sql for (sql,) in indexes if sql), indexes)
        self.assertEqual(sqlite_rows(test_crm, 'SELECT COUNT(*) FROM "ACCOUNTS"'), [(0,)])
        self.assertIn("test_crm.sqlite3", self.files())


class SelectionTests(ShopTestCase):
    def test_databases_flag_limits_injection_and_setup(self):
        label = "checks.test_undeclared.UndeclaredTestCase.test_rolled_back_everywhere"
        result = self.manage("test", label, "--databases", "default*,crm", "-v", "2")
        # The failure says the selection narrowed the class, and how to widen it.
        self.assertFailedWith(
            result,
            "Database queries to 'tenant_a' are not allowed in this test: "
            "checks.test_undeclared.UndeclaredTestCase keeps Django's default databases, and the runner "
            "gave it only the aliases selected by --databases (crm, default, default_RO). "
            "Add 'tenant_a' to that selection (--databases or MULTIDB_RUNNER['DATABASES'])",
        )
        self.assertNotIn("Add 'tenant_a' to checks.test_undeclared.UndeclaredTestCase.databases", result.output)
        self.assertRegex(result.stdout, r"tenant_a\s+-\s+not used")
        # The same in a spawned worker, where the class is imported afresh.
        parallel = self.manage(
            "test",
            "checks.test_undeclared",
            "--databases",
            "default*,crm",
            "--parallel",
            "2",
            "--start-method",
            "spawn",
        )
        self.assertFailedWith(parallel, "the runner gave it only the aliases selected by --databases")
        self.assertPassed(self.manage("test", label, "--databases", "tenant_*,crm"), tests=1)

    def test_setting_selects_too(self):
        label = "checks.test_undeclared.UndeclaredTestCase.test_rolled_back_everywhere"
        self.assertPassed(self.manage("test", label, SHOP_MULTIDB_RUNNER='{"DATABASES": ["tenant_?", "crm"]}'), tests=1)
        narrowed = self.manage("test", label, SHOP_MULTIDB_RUNNER='{"DATABASES": ["default*", "crm"]}')
        self.assertFailedWith(narrowed, "the aliases selected by settings.MULTIDB_RUNNER['DATABASES']")


class ConfigurationErrorTests(ShopTestCase):
    def test_unknown_alias(self):
        result = self.manage("test", "--databases", "default,tenant_c")
        self.assertConfigurationError(
            result,
            "--databases: the alias 'tenant_c' matches no alias in settings.DATABASES. "
            "Configured aliases: crm, default, default_RO, tenant_a, tenant_b.",
        )

    def test_pattern_matching_nothing(self):
        result = self.manage("test", "--databases", "shard_*")
        self.assertConfigurationError(result, "--databases: the pattern 'shard_*' matches no alias")

    def test_empty_selection(self):
        self.assertConfigurationError(
            self.manage("test", "--databases", ","), "--databases ',' is not a valid alias list"
        )

    def test_mirror_naming_a_missing_alias(self):
        result = self.manage("test", SHOP_BAD_MIRROR="primary")
        self.assertConfigurationError(
            result, "DATABASES['default_RO']['TEST']['MIRROR'] = 'primary' names an alias that is not in settings"
        )

    def test_mirror_of_itself(self):
        result = self.manage("test", SHOP_BAD_MIRROR="default_RO")
        self.assertConfigurationError(result, "DATABASES['default_RO']['TEST']['MIRROR'] names the alias itself")

    def test_unknown_setting_key(self):
        result = self.manage("test", SHOP_MULTIDB_RUNNER='{"DATABASE": ["default"]}')
        self.assertConfigurationError(
            result,
            "settings.MULTIDB_RUNNER has unknown key(s) 'DATABASE'. "
            "Valid keys: COVERAGE, DATABASES, DB_SUFFIX, DURATIONS_FILE, JUNIT_XML, LAZY_SETUP, LAZY_TRANSACTIONS, "
            "MANAGED_LEGACY, READ_ONLY_MIRRORS, REPORT_DB_USAGE, SCHEMA_COPIES, SELECTIVE_FLUSH, SHARD, SNAPSHOTS, "
            "START_METHOD, "
            "WORKER_TIMEOUT.",
        )

    def test_report_in_a_missing_folder(self):
        missing = self.db_dir / "no" / "such"
        result = self.manage("test", "--junit-xml", str(missing / "report.xml"))
        self.assertConfigurationError(
            result, f"--junit-xml = '{missing}/report.xml' is not valid: the folder '{missing}' does not exist."
        )
        result = self.manage("test", "--durations-file", str(missing / "d.json"))
        self.assertConfigurationError(result, "--durations-file = ")

    def test_bad_flag_value(self):
        result = self.manage("test", "--managed-legacy=maybe")
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("error: argument --managed-legacy/--no-managed-legacy: ignored explicit argument", result.stderr)
        self.assertNotIn("Traceback", result.output)
        self.assertEqual(self.files(), [])


class RealDatabaseSafetyTests(ShopTestCase):
    def test_refuses_to_create_a_test_database_over_a_real_one(self):
        real_crm = self.make_real_crm()
        result = self.manage("test", "--noinput", SHOP_CLOBBER="1")
        self.assertEqual(result.returncode, 1, result)
        self.assertIn(
            "ConfigurationError: Refusing to run: the test database of alias 'tenant_b' "
            f"('{real_crm}') is the real database of alias 'crm'.",
            result.stderr,
        )
        self.assertNotIn("Traceback", result.output)
        self.assertEqual(sqlite_rows(real_crm, "SELECT value FROM precious"), [("customer data",)])
        self.assertEqual(self.files(), ["crm.sqlite3"])


class StockFlagsTests(ShopTestCase):
    """Every flag of DiscoverRunner still works."""

    def test_shuffle(self):
        result = self.manage("test", "--shuffle", "7")
        self.assertPassed(result, tests=9)
        self.assertIn("Used shuffle seed: 7 (given)", result.output)

    def test_reverse_and_buffer_and_noinput(self):
        self.assertPassed(self.manage("test", "--reverse", "--buffer", "--noinput"), tests=9)

    def test_name_pattern(self):
        self.assertPassed(self.manage("test", "-k", "rolled_back"), tests=1)

    def test_tags(self):
        self.assertPassed(self.manage("test", "--tag", "transactional"), tests=2)
        self.assertPassed(self.manage("test", "--exclude-tag", "undeclared"), tests=5)

    def test_debug_sql(self):
        result = self.manage("test", "checks.test_legacy", "--debug-sql", "-v", "2")
        self.assertPassed(result, tests=1)
        self.assertIn('INSERT INTO "ACCOUNTS"', result.output)

    def test_pdb_accepted_when_nothing_fails(self):
        self.assertPassed(self.manage("test", "checks.test_legacy", "--pdb"), tests=1)

    def test_timing(self):
        result = self.manage("test", "--timing")
        self.assertPassed(result, tests=9)
        self.assertIn("Total database setup", result.output)
        self.assertIn("Creating 'crm'", result.output)

    @unittest.skipIf(sys.version_info < (3, 12), "--durations needs Python 3.12")
    def test_durations(self):
        result = self.manage("test", "--durations", "2")
        self.assertPassed(result, tests=9)
        self.assertIn("Slowest test durations", result.output)

    def test_labels(self):
        result = self.manage("test", "checks.test_mirror", "checks.test_legacy.LegacyTablesTests.test_fk_and_m2m")
        self.assertPassed(result, tests=3)


@only_with_backend("sqlite")
class UnmanagedTwinWithoutRouterTests(SimpleTestCase):
    """Django's system checks see unmanaged models as written, not as the run treats them."""

    def test_checks_pass_and_the_twin_reads_the_table(self):
        db_dir = make_temp_dir(self)
        result = run_manage("twins", "test", env={"TWINS_DB_DIR": str(db_dir)})
        self.assertEqual(result.returncode, 0, result)
        self.assertIn("System check identified no issues", result.output)
        self.assertNotIn("models.E028", result.output)
        self.assertIn("Ran 1 test", result.stderr)
        self.assertEqual(sorted(path.name for path in db_dir.iterdir()), [])


@only_with_backend("sqlite")
class EmptyDefaultTests(SimpleTestCase):
    """``default = {}`` with every model routed elsewhere: default is not injected."""

    def test_empty_default_is_left_out(self):
        db_dir = make_temp_dir(self)
        env = {"NODEFAULT_DB_DIR": str(db_dir)}
        stock = run_manage("nodefault", "test", "--testrunner", STOCK_RUNNER, env=env)
        self.assertNotEqual(stock.returncode, 0, stock)
        ours = run_manage("nodefault", "test", "-v", "2", env=env)
        self.assertEqual(ours.returncode, 0, ours)
        self.assertRegex(ours.stdout, r"default\s+-\s+not used")
        self.assertRegex(ours.stdout, r"events\s+\S*test_events\.sqlite3\s+created")
        self.assertIn("Ran 2 tests", ours.stderr)
        self.assertFalse(any(path.name.startswith("test_") for path in db_dir.iterdir()))


class ShardTests(ShopTestCase):
    """--shard K/N: N runs together run every test exactly once."""

    def reported_ids(self, *args, **env):
        report = self.db_dir / "report.xml"
        result = self.manage("test", "--junit-xml", str(report), *args, **env)
        self.assertEqual(result.returncode, 0, result)
        root = ET.parse(report).getroot()
        return result, {f"{case.get('classname')}.{case.get('name')}" for case in root.iter("testcase")}

    def test_union_of_shards_is_the_suite(self):
        _, everything = self.reported_ids()
        self.assertEqual(len(everything), 9)
        for total in (2, 3, 4):
            shards = [self.reported_ids("--shard", f"{index}/{total}")[1] for index in range(1, total + 1)]
            with self.subTest(total=total):
                self.assertEqual(set().union(*shards), everything)
                self.assertEqual(sum(len(shard) for shard in shards), len(everything))
        self.assertEqual(self.files(), ["report.xml"])

    def test_auto_shard_from_gitlab_and_circleci(self):
        gitlab = self.reported_ids("--shard", "auto", CI_NODE_INDEX="2", CI_NODE_TOTAL="2")
        circle = self.reported_ids("--shard", "auto", CIRCLE_NODE_INDEX="1", CIRCLE_NODE_TOTAL="2")
        environment = self.reported_ids(MULTIDB_RUNNER_SHARD="2/2")
        self.assertIn("Shard 2/2:", gitlab[0].stdout)
        self.assertEqual(gitlab[1], circle[1])
        self.assertEqual(gitlab[1], environment[1])

    def test_empty_shard_says_so_and_passes(self):
        result = self.manage("test", "checks.test_mirror", "--shard", "2/2")
        self.assertEqual(result.returncode, 0, result)
        self.assertIn("Shard 2/2 has no tests to run (1 test classes in 2 shards).", result.stdout)
        self.assertNotIn("Creating test database", result.output)
        self.assertEqual(self.files(), [])

    def test_bad_shard(self):
        for value in ("0/3", "4/3", "two/3"):
            with self.subTest(value=value):
                self.assertConfigurationError(
                    self.manage("test", "--shard", value), f"--shard = {value!r} is not valid: use K/N with 1 <= K <= N"
                )

    def test_durations_file_is_written_and_used(self):
        durations = self.db_dir / "durations.json"
        self.assertPassed(self.manage("test", "--durations-file", str(durations)), tests=9)
        recorded = json.loads(durations.read_text())["classes"]
        self.assertEqual(len(recorded), 6)
        self.assertTrue(all(value > 0 for value in recorded.values()), recorded)
        # Each CI job reads (and updates) its own copy of the recorded file.
        runs = []
        for index in (1, 2):
            copy = self.db_dir / f"durations-{index}.json"
            copy.write_text(durations.read_text())
            runs.append(self.manage("test", "--shard", f"{index}/2", "--durations-file", str(copy)))
        ran = [int(re.search(r"Ran (\d+) test", run.stderr).group(1)) for run in runs]
        self.assertEqual(sum(ran), 9)
        shard_classes = [set(json.loads((self.db_dir / f"durations-{i}.json").read_text())["classes"]) for i in (1, 2)]
        self.assertEqual(shard_classes[0], set(recorded))

    def test_shards_sharing_one_durations_file_run_every_test_once(self):
        durations = self.db_dir / "durations.json"
        self.assertPassed(self.manage("test", "--durations-file", str(durations)), tests=9)
        _, everything = self.reported_ids()
        # Two rounds of two shards run one after another on one file (one
        # machine, a shared CI cache): each round splits the suite exactly.
        for round_number in (1, 2):
            shards = [
                self.reported_ids("--shard", f"{index}/2", "--durations-file", str(durations))[1] for index in (1, 2)
            ]
            with self.subTest(round=round_number):
                self.assertEqual(shards[0] | shards[1], everything)
                self.assertEqual(shards[0] & shards[1], set())
            # The round is complete: nothing waits in the file.
            self.assertEqual(set(json.loads(durations.read_text())), {"format", "classes"})


class JUnitXmlTests(ShopTestCase):
    def test_report_under_parallel_has_per_test_times_and_outcomes(self):
        report = self.db_dir / "report.xml"
        scenarios = "parallel_checks.scenarios"
        result = self.manage(
            "test",
            f"{scenarios}.Timed",
            f"{scenarios}.FailsWithTraceback",
            f"{scenarios}.KillsItsWorker",
            "--parallel",
            "2",
            "--junit-xml",
            str(report),
            SHOP_FAILING_TEST="1",
        )
        self.assertEqual(result.returncode, 1, result)
        root = ET.parse(report).getroot()
        cases = {case.get("name"): case for case in root.iter("testcase")}
        self.assertGreaterEqual(float(cases["test_slow"].get("time")), 0.3)
        self.assertLess(float(cases["test_quick"].get("time")), 0.3)
        failure = cases["test_fails_deep"].find("failure")
        self.assertEqual(failure.get("message"), "AssertionError: 0 != 42 : deliberate failure")
        self.assertIn("in check_the_orders", failure.text)
        self.assertEqual(
            cases["test_exit_the_worker"].find("skipped").get("message"), "runs only with SHOP_KILL_WORKER=1"
        )
        self.assertEqual((root.get("tests"), root.get("failures"), root.get("skipped")), ("4", "1", "1"))
        self.assertEqual(self.files(), ["report.xml"])


class DatabaseUsageReportTests(ShopTestCase):
    """--report-db-usage lists what each class was given and used, serial and parallel."""

    expected = [
        "  checks.test_mirror.ReplicaReadsTests declared: default, default_RO; used: default, default_RO",
        "  usage_checks.declared.OverDeclaredTests        declared: default, tenant_a, tenant_b; "
        "used: default, tenant_b",
        "  usage_checks.declared.UndeclaredReaderTests    given: crm, default, default_RO, tenant_a, tenant_b; "
        "used: crm",
        "Declared but never used (1 test class; each costs setup and flushes):",
        "  usage_checks.declared.OverDeclaredTests: tenant_a",
        "Aliases no test class used: tenant_a.",
    ]

    def assertReport(self, result):
        self.assertPassed(result, tests=4)
        lines = result.stdout.splitlines()
        start = lines.index("Database usage by test class (given: what the class could use; used: what it did use):")
        self.assertEqual(
            [" ".join(line.split()) for line in lines[start + 1 : start + 7]],
            [" ".join(line.split()) for line in self.expected],
            result,
        )

    def test_serial(self):
        self.assertReport(self.manage("test", "checks.test_mirror", "usage_checks.declared", "--report-db-usage"))

    def test_parallel(self):
        self.assertReport(
            self.manage("test", "checks.test_mirror", "usage_checks.declared", "--report-db-usage", "--parallel", "2")
        )

    def test_with_stock_transactions_and_flushes(self):
        # Django's own savepoints and flushes are not the tests' use.
        self.assertReport(
            self.manage(
                "test",
                "checks.test_mirror",
                "usage_checks.declared",
                "--report-db-usage",
                "--no-lazy-transactions",
                "--no-selective-flush",
            )
        )

    def test_not_asked(self):
        result = self.manage("test", "usage_checks.declared")
        self.assertPassed(result, tests=2)
        self.assertNotIn("Database usage", result.output)
