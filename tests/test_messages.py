"""Messages that quote an error end with exactly one full stop."""

from django.test import SimpleTestCase

from multidb_runner.errors import sentence
from multidb_runner.setup import reachability
from multidb_runner.setup.lazy import LazyTestDatabases


class SentenceTests(SimpleTestCase):
    def test_one_full_stop(self):
        self.assertEqual(sentence("delete it yourself."), "delete it yourself.")
        self.assertEqual(sentence("delete it yourself"), "delete it yourself.")
        self.assertEqual(sentence(RuntimeError("is the server running?\n")), "is the server running?")
        self.assertEqual(sentence(ValueError("no")), "no.")


class FirstUseErrorTests(SimpleTestCase):
    def test_quoted_error_ending_with_a_period(self):
        lazy = LazyTestDatabases({"other": "other"}, lambda first: None)
        left_over = RuntimeError("Run with --noinput to replace it without asking, or delete it yourself.")
        message = str(lazy.error("other", left_over))
        self.assertIn("delete it yourself. Every test that uses it fails the same way;", message)
        self.assertNotIn("..", message)


class UnreachableServerMessageTests(SimpleTestCase):
    SETTINGS = {"HOST": "db.example.com", "PORT": "5433", "USER": "shop", "PASSWORD": "s3cret-pw"}

    def test_reason_is_one_line_and_never_shows_the_password(self):
        error = RuntimeError('connection failed: password "s3cret-pw" refused\n\tIs the server running?\n')
        self.assertEqual(
            reachability.reason(error, self.SETTINGS),
            'connection failed: password "********" refused Is the server running?',
        )

    def test_address(self):
        self.assertEqual(reachability.server_address(self.SETTINGS), "db.example.com:5433")
        self.assertEqual(reachability.server_address({"HOST": "", "PORT": ""}), "the default host")

    def test_one_line_per_server(self):
        server = reachability.UnreachableServer("db.example.com:5433", "refused.")
        other = reachability.UnreachableServer("other.example.com", "timeout expired.")
        lines = reachability.first_use_warnings({"crm": server, "crm_archive": server, "tenant": other})
        self.assertEqual(
            lines,
            [
                "Warning: cannot connect to the server of aliases 'crm', 'crm_archive' (db.example.com:5433): "
                "refused. Their test databases are not set up: the tests that use them will fail with "
                "TestDatabaseSetupError; the others run.",
                "Warning: cannot connect to the server of alias 'tenant' (other.example.com): timeout expired. "
                "Its test database is not set up: the tests that use it will fail with TestDatabaseSetupError; "
                "the others run.",
            ],
        )
        error = str(reachability.cannot_connect_error({"crm": server}))
        self.assertTrue(error.startswith("Cannot connect to the server of alias 'crm' (db.example.com:5433): refused."))
