"""Unit tests of test database names: suffix tokens and identifier limits (pure logic)."""

from unittest import TestCase

from multidb_runner.config import ConfigurationError, validate_token
from multidb_runner.planning.suffixes import auto_token, suffixed_test_name


class SuffixedTestNameTests(TestCase):
    def test_server_names_get_the_token(self):
        self.assertEqual(suffixed_test_name("postgresql", "test_app", "ci_42"), "test_app_ci_42")
        self.assertEqual(suffixed_test_name("mysql", "test_app", None), "test_app")

    def test_sqlite_files_get_it_before_the_extension(self):
        self.assertEqual(suffixed_test_name("sqlite", "/db/test_app.sqlite3", "t1"), "/db/test_app_t1.sqlite3")

    def test_sqlite_in_memory_is_left_alone(self):
        memory = "file:memorydb_default?mode=memory&cache=shared"
        self.assertEqual(suffixed_test_name("sqlite", memory, "t1"), memory)
        self.assertEqual(suffixed_test_name("sqlite", ":memory:", "t1"), ":memory:")

    def test_long_names_fit_with_room_for_clone_suffixes(self):
        base = "test_" + "a_very_long_tenant_database_name_" * 3
        for vendor, limit in (("postgresql", 63), ("mysql", 64)):
            with self.subTest(vendor=vendor):
                name = suffixed_test_name(vendor, base, "gh123456789_1")
                self.assertLessEqual(len(name + "_999"), limit)
                self.assertTrue(name.endswith("_gh123456789_1"))
                self.assertTrue(name.startswith("test_a_very_long"))
                # Deterministic, and distinct for distinct inputs.
                self.assertEqual(name, suffixed_test_name(vendor, base, "gh123456789_1"))
                self.assertNotEqual(name, suffixed_test_name(vendor, base + "x", "gh123456789_1"))
                self.assertNotEqual(name, suffixed_test_name(vendor, base, "gh123456789_2"))

    def test_long_names_are_shortened_even_without_a_token(self):
        base = "test_" + "x" * 70
        name = suffixed_test_name("postgresql", base, None)
        self.assertEqual(len(name), 59)
        self.assertNotEqual(name, suffixed_test_name("postgresql", base + "y", None))

    def test_names_that_fit_are_unchanged(self):
        name = "t" * 59
        self.assertEqual(suffixed_test_name("postgresql", name, None), name)


class TokenTests(TestCase):
    def test_validate(self):
        self.assertEqual(validate_token("ci_7", "--db-suffix"), "ci_7")
        self.assertEqual(validate_token("auto", "--db-suffix"), "auto")
        for bad in ("", "a-b", "x" * 41, "drop table", "5", "_x"):
            with self.subTest(bad=bad), self.assertRaisesRegex(ConfigurationError, r"--db-suffix = .* is not valid"):
                validate_token(bad, "--db-suffix")

    def test_auto_from_ci_environments(self):
        self.assertEqual(auto_token({"CI_JOB_ID": "991"}), "gl991")
        self.assertEqual(auto_token({"GITHUB_RUN_ID": "123", "GITHUB_RUN_ATTEMPT": "2"}), "gh123_2")
        self.assertEqual(auto_token({"GITHUB_RUN_ID": "123"}), "gh123_1")
        self.assertEqual(auto_token({"CIRCLE_BUILD_NUM": "77", "CIRCLE_NODE_INDEX": "3"}), "cc77_3")
        self.assertEqual(auto_token({"TRAVIS_JOB_ID": "5"}), "tr5")
        self.assertRegex(auto_token({"BUILDKITE_JOB_ID": "0189-abcd"}), r"^bk[0-9a-f]{12}$")
        self.assertRegex(auto_token({"BUILD_TAG": "jenkins-job-1"}), r"^jk[0-9a-f]{12}$")

    def test_auto_without_ci_uses_the_process(self):
        self.assertEqual(auto_token({}, pid=4242), "p4242")
