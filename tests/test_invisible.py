"""
The runner is invisible where stock Django is observable.

Run inside MultiDBRunner itself: a project's test may read or reset
``connection.execute_wrappers``, install its own execute wrapper, mock the
``call_command("flush", ...)`` that ends a ``TransactionTestCase`` test, or
read ``django.test.runner._worker_id`` in a parallel worker.
"""

from unittest import mock

import django.test.runner
from django.db import connections
from django.test import SimpleTestCase, TestCase, TransactionTestCase

from multidb_runner.parallel import worker as workers
from tests.legacyapp.models import Region
from tests.testapp.models import Author


def primaries():
    return [alias for alias in connections if not connections[alias].settings_dict["TEST"].get("MIRROR")]


class ExecuteWrappersTestCase(TestCase):
    def test_no_wrapper_the_project_did_not_install(self):
        Author.objects.create(name="written")
        for alias in primaries():
            with self.subTest(alias=alias):
                self.assertEqual(connections[alias].execute_wrappers, [])

    def test_a_wrapper_sees_the_tests_statements_only(self):
        seen = []

        def record(execute, sql, params, many, context):
            seen.append(sql.split()[0].upper())
            return execute(sql, params, many, context)

        # The first use of "other" in this test opens its transaction lazily:
        # the runner's SAVEPOINT must not reach the project's wrapper.
        with connections["other"].execute_wrapper(record):
            Author.objects.using("other").create(name="one")
            self.assertEqual(Author.objects.using("other").count(), 1)
        self.assertEqual(seen, ["INSERT", "SELECT"])


class ExecuteWrappersTransactionTestCase(TransactionTestCase):
    def test_resetting_the_wrappers_keeps_writes_flushed(self):
        connection = connections["other"]
        self.assertEqual(connection.execute_wrappers, [])
        connection.execute_wrappers = []
        Author.objects.using("other").create(name="left for the flush")
        self._fixture_teardown()
        self.assertEqual(Author.objects.using("other").count(), 0)


class FlushCommandTests(TransactionTestCase):
    """Stock ``_fixture_teardown`` flushes through ``call_command("flush", ...)``, one call per alias."""

    @mock.patch("django.test.testcases.call_command")
    def test_the_flush_command_is_called_as_stock_calls_it(self, call_command):
        self._fixture_teardown()
        self.assertEqual(
            call_command.call_args_list,
            [
                mock.call(
                    "flush",
                    verbosity=0,
                    interactive=False,
                    database=alias,
                    reset_sequences=False,
                    allow_cascade=False,
                    inhibit_post_migrate=False,
                )
                for alias in self._databases_names(include_mirrors=False)
            ],
        )

    def test_a_flush_the_test_runs_itself_is_whole(self):
        from django.core.management import call_command

        Author.objects.using("other").create(name="flushed by the test")
        call_command("flush", verbosity=0, interactive=False, database="other")
        self.assertEqual(Author.objects.using("other").count(), 0)


class RouterTests(SimpleTestCase):
    """The runner's router for legacy tables is asked first, but is not in ``router.routers``."""

    def test_only_the_projects_routers_are_listed(self):
        from django.db import router

        self.assertEqual([type(r).__name__ for r in router.routers], ["LegacyRouter"])
        # The project's router refuses migrating legacyapp; the runner allows it where it made the tables.
        self.assertIs(router.allow_migrate_model("legacy", Region), True)

    def test_overriding_the_routers_shows_exactly_the_override(self):
        from django.db import router
        from django.test import override_settings

        replacement = [object()]
        with override_settings(DATABASE_ROUTERS=replacement):
            self.assertEqual(router.routers, replacement)
            self.assertIs(router.allow_migrate_model("legacy", Region), True)


class WorkerIdTests(SimpleTestCase):
    def test_djangos_worker_id_is_this_workers_number(self):
        # 0 in a serial run; in a parallel worker, the number of its clones.
        self.assertEqual(django.test.runner._worker_id, workers.worker_id())
