"""
End-to-end: legacy tables when migrations are disabled (MIGRATION_MODULES = None).

Then ``migrate --run-syncdb`` builds the schema from the models; the legacy
models, treated as managed and routed by the runner, get their tables there
and are flushed like the others.
"""

import os

from django.test import SimpleTestCase

from .e2e import REPO, make_temp_dir, only_with_backend, run_django_test

LABELS = [
    "tests.test_injection_in_suite.UndeclaredTestCase.test_legacy_tables_exist_on_their_database",
    "tests.test_injection_in_suite.UndeclaredTransactionTestCase",
]


@only_with_backend("sqlite")
class MigrationsDisabledTests(SimpleTestCase):
    def run_suite(self, *args):
        data = make_temp_dir(self)
        environment = {
            **os.environ,
            "MULTIDB_TEST_DATA_DIR": str(data),
            "DJANGO_SETTINGS_MODULE": "tests.settings_nomigrations",
        }
        return run_django_test(*LABELS, "--noinput", "-v", "2", *args, cwd=REPO, env=environment), data

    def test_legacy_tables_without_migrations(self):
        completed, data = self.run_suite()
        output = completed.stdout + completed.stderr
        self.assertEqual(completed.returncode, 0, output)
        self.assertIn("Synchronizing apps without migrations", output)
        self.assertRegex(
            completed.stdout,
            r"legacy\s+\S*test_legacy\.sqlite3\s+created on first use\s+"
            r"legacy_region, legacy_customer, legacy_customer_regions_served",
        )
        self.assertRegex(completed.stderr, r"Ran 3 tests.*\n\nOK\n")
        self.assertEqual(sorted(p.name for p in (data / "multidb_runner_tests").iterdir()), [])
