"""Messages that quote an error end with exactly one full stop."""

from django.test import SimpleTestCase

from multidb_runner.errors import sentence
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
