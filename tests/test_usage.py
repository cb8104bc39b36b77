"""The --report-db-usage report, from recorded usage (pure formatting)."""

from django.test import SimpleTestCase

from multidb_runner.isolation.used_aliases import DatabaseUsage
from multidb_runner.reports.usage_report import ClassDatabases, format_usage_report


class UsageReportTests(SimpleTestCase):
    def test_report_lists_given_and_used_and_unused_declarations(self):
        classes = {
            "app.tests.OrderTests": ClassDatabases(
                declared=frozenset({"default", "crm"}), given=frozenset({"default", "crm"})
            ),
            "app.tests.SyncTests": ClassDatabases(declared=None, given=frozenset({"default", "crm", "tenant"})),
            "app.tests.NotRun": ClassDatabases(declared=frozenset({"tenant"}), given=frozenset({"tenant"})),
        }
        used = {"app.tests.OrderTests": {"default"}, "app.tests.SyncTests": {"crm", "default"}}
        report = format_usage_report(classes, used)
        self.assertEqual(
            report.splitlines(),
            [
                "Database usage by test class (given: what the class could use; used: what it did use):",
                "  app.tests.OrderTests  declared: crm, default; used: default",
                "  app.tests.SyncTests   given: crm, default, tenant; used: crm, default",
                "Declared but never used (1 test class; each costs setup and flushes):",
                "  app.tests.OrderTests: crm",
                "Aliases no test class used: tenant.",
            ],
        )

    def test_nothing_unused(self):
        classes = {"a.B": ClassDatabases(declared=frozenset({"default"}), given=frozenset({"default"}))}
        report = format_usage_report(classes, {"a.B": {"default"}})
        self.assertIn("Declared but never used: none.", report)
        self.assertIn("Aliases no test class used: none.", report)

    def test_no_database_class_ran(self):
        self.assertEqual(format_usage_report({}, {}), "Database usage: no test class that may use a database ran.")

    def test_worker_share_is_merged(self):
        main, worker = DatabaseUsage(), DatabaseUsage()
        worker.current = "a.B"
        worker.used["a.B"] = {"other"}
        main.merge(worker.take())
        main.merge({"a.B": {"default"}})
        self.assertEqual(main.used, {"a.B": {"default", "other"}})
        self.assertEqual(worker.used, {})
        worker.note("crm")  # after take(), nothing is attributed until the next class starts
        self.assertEqual(worker.used, {})
