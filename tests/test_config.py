"""Unit tests of settings and option handling."""

from django.test import SimpleTestCase, override_settings

from multidb_runner.config import ConfigurationError, build_config
from multidb_runner.options import DEFAULTS


class BuildConfigTests(SimpleTestCase):
    def test_defaults(self):
        config = build_config()
        self.assertIsNone(config.database_patterns)
        self.assertTrue(config.managed_legacy)
        self.assertEqual(config.worker_timeout, 3600)
        self.assertIsNone(config.start_method)
        self.assertIsNone(config.db_suffix)
        self.assertTrue(config.selective_flush)
        self.assertTrue(config.lazy_transactions)
        self.assertTrue(config.lazy_setup)
        self.assertTrue(config.schema_copies)
        self.assertIsNone(config.snapshots)
        self.assertFalse(config.report_db_usage)
        self.assertTrue(config.read_only_mirrors)
        self.assertEqual(
            set(DEFAULTS),
            {
                "DATABASES",
                "MANAGED_LEGACY",
                "WORKER_TIMEOUT",
                "START_METHOD",
                "DB_SUFFIX",
                "SHARD",
                "DURATIONS_FILE",
                "JUNIT_XML",
                "COVERAGE",
                "SELECTIVE_FLUSH",
                "LAZY_TRANSACTIONS",
                "LAZY_SETUP",
                "SCHEMA_COPIES",
                "SNAPSHOTS",
                "REPORT_DB_USAGE",
                "READ_ONLY_MIRRORS",
            },
        )

    @override_settings(MULTIDB_RUNNER={"SNAPSHOTS": "yes"})
    def test_snapshots_takes_true_false_or_none(self):
        with self.assertRaisesMessage(
            ConfigurationError,
            "settings.MULTIDB_RUNNER['SNAPSHOTS'] = 'yes' is not valid: use True, False or None.",
        ):
            build_config()
        with override_settings(MULTIDB_RUNNER={"SNAPSHOTS": None}):
            self.assertIs(build_config(snapshots=True).snapshots, True)
            self.assertIsNone(build_config().snapshots)

    @override_settings(MULTIDB_RUNNER={"DATABASES": ["default", "other"], "MANAGED_LEGACY": False})
    def test_setting_is_read_when_needed(self):
        config = build_config()
        self.assertEqual(config.database_patterns, ("default", "other"))
        self.assertFalse(config.managed_legacy)

    @override_settings(MULTIDB_RUNNER={"DATABASES": ["default"], "MANAGED_LEGACY": False})
    def test_flags_override_the_setting(self):
        config = build_config(databases="other, legacy", managed_legacy=True)
        self.assertEqual(config.database_patterns, ("other", "legacy"))
        self.assertTrue(config.managed_legacy)

    @override_settings(MULTIDB_RUNNER={"DATABASE": ["default"]})
    def test_unknown_key(self):
        with self.assertRaisesMessage(
            ConfigurationError,
            "settings.MULTIDB_RUNNER has unknown key(s) 'DATABASE'. "
            "Valid keys: COVERAGE, DATABASES, DB_SUFFIX, DURATIONS_FILE, JUNIT_XML, LAZY_SETUP, LAZY_TRANSACTIONS, "
            "MANAGED_LEGACY, READ_ONLY_MIRRORS, REPORT_DB_USAGE, SCHEMA_COPIES, SELECTIVE_FLUSH, SHARD, SNAPSHOTS, "
            "START_METHOD, "
            "WORKER_TIMEOUT.",
        ):
            build_config()

    @override_settings(MULTIDB_RUNNER=["default"])
    def test_setting_must_be_a_dict(self):
        with self.assertRaisesMessage(ConfigurationError, "settings.MULTIDB_RUNNER must be a dict, not list"):
            build_config()

    @override_settings(MULTIDB_RUNNER={"DATABASES": []})
    def test_empty_database_list(self):
        with self.assertRaisesMessage(ConfigurationError, "['DATABASES'] = [] is not valid"):
            build_config()

    @override_settings(MULTIDB_RUNNER={"MANAGED_LEGACY": "yes"})
    def test_managed_legacy_must_be_bool(self):
        with self.assertRaisesMessage(
            ConfigurationError, "['MANAGED_LEGACY'] = 'yes' is not valid: use True or False."
        ):
            build_config()

    def test_empty_items_in_flag(self):
        for value in ("", "default,,other", " , "):
            with self.subTest(value=value), self.assertRaisesMessage(ConfigurationError, "is not a valid alias list"):
                build_config(databases=value)

    @override_settings(MULTIDB_RUNNER={"WORKER_TIMEOUT": None, "START_METHOD": "spawn"})
    def test_worker_settings(self):
        config = build_config()
        self.assertIsNone(config.worker_timeout)
        self.assertEqual(config.start_method, "spawn")
        self.assertEqual(build_config(worker_timeout="2.5", start_method="forkserver").worker_timeout, 2.5)

    def test_bad_worker_timeout(self):
        for value in ("0", "-1", "soon"):
            with (
                self.subTest(value=value),
                self.assertRaisesMessage(
                    ConfigurationError, f"--worker-timeout = {value!r} is not valid: give a positive number of seconds"
                ),
            ):
                build_config(worker_timeout=value)

    def test_bad_start_method(self):
        with self.assertRaisesMessage(ConfigurationError, "--start-method = 'thread' is not valid: use one of fork"):
            build_config(start_method="thread")

    @override_settings(MULTIDB_RUNNER={"DB_SUFFIX": "from_setting"})
    def test_db_suffix_precedence(self):
        from unittest import mock

        self.assertEqual(build_config().db_suffix, "from_setting")
        with mock.patch.dict("os.environ", {"MULTIDB_RUNNER_DB_SUFFIX": "from_env"}):
            self.assertEqual(build_config().db_suffix, "from_env")
            self.assertEqual(build_config(db_suffix="from_flag").db_suffix, "from_flag")

    def test_db_suffix_auto(self):
        from unittest import mock

        with mock.patch.dict("os.environ", {"CI_JOB_ID": "31337"}):
            self.assertEqual(build_config(db_suffix="auto").db_suffix, "gl31337")

    def test_bad_db_suffix_in_environment(self):
        from unittest import mock

        with (
            mock.patch.dict("os.environ", {"MULTIDB_RUNNER_DB_SUFFIX": "a;b"}),
            self.assertRaisesMessage(ConfigurationError, "MULTIDB_RUNNER_DB_SUFFIX = 'a;b' is not valid"),
        ):
            build_config()

    @override_settings(MULTIDB_RUNNER={"MANAGED_LEGACY": "no"})
    def test_bad_managed_legacy_setting_even_with_the_flag(self):
        with self.assertRaisesMessage(ConfigurationError, "['MANAGED_LEGACY'] = 'no' is not valid"):
            build_config(managed_legacy=True)

    @override_settings(MULTIDB_RUNNER={"DATABASES": ["tenant_*"]})
    def test_selection_errors_name_their_source(self):
        from django.db import connections

        from multidb_runner.planning.aliases import select_aliases

        config = build_config()
        with self.assertRaisesMessage(
            ConfigurationError, "settings.MULTIDB_RUNNER['DATABASES']: the pattern 'tenant_*'"
        ):
            select_aliases(config.database_patterns, connections, config.database_source)
        self.assertEqual(build_config(databases="x").database_source, "--databases")

    def test_speed_switches_from_setting_and_flags(self):
        with override_settings(MULTIDB_RUNNER={"SELECTIVE_FLUSH": False, "REPORT_DB_USAGE": True}):
            config = build_config()
            self.assertFalse(config.selective_flush)
            self.assertTrue(config.report_db_usage)
            self.assertTrue(build_config(selective_flush=True).selective_flush)
            self.assertFalse(build_config(lazy_transactions=False).lazy_transactions)
        for key in ("SELECTIVE_FLUSH", "LAZY_TRANSACTIONS", "LAZY_SETUP", "REPORT_DB_USAGE"):
            with self.subTest(key=key), override_settings(MULTIDB_RUNNER={key: "off"}):
                with self.assertRaisesMessage(
                    ConfigurationError, f"['{key}'] = 'off' is not valid: use True or False."
                ):
                    build_config()


class StockOptionPrefixTests(SimpleTestCase):
    """No option of the runner's takes a stock option for an abbreviation of itself, on any Python."""

    def parsers(self):
        import argparse

        from django.test.runner import DiscoverRunner

        from multidb_runner import MultiDBRunner

        stock, ours = argparse.ArgumentParser(), argparse.ArgumentParser()
        DiscoverRunner.add_arguments(stock)
        MultiDBRunner.add_arguments(ours)
        return stock, ours

    def test_no_stock_option_is_a_prefix_of_ours(self):
        from multidb_runner.options import STOCK_OPTIONS_ON_SOME_PYTHONS

        stock, ours = self.parsers()
        stock_options = {option for action in stock._actions for option in action.option_strings}
        stock_options |= set(STOCK_OPTIONS_ON_SOME_PYTHONS)
        own = {option for action in ours._actions for option in action.option_strings} - stock_options
        for mine in sorted(own):
            for theirs in sorted(stock_options):
                if theirs.startswith("--") and mine.startswith(theirs):
                    with self.subTest(ours=mine, stock=theirs):
                        self.assertIn(theirs, {o for a in ours._actions for o in a.option_strings})

    def test_durations_is_never_read_as_durations_file(self):
        import contextlib
        import io
        import sys

        stock, ours = self.parsers()
        if sys.version_info >= (3, 12):
            namespace = ours.parse_args(["--durations=10"])
            self.assertEqual((namespace.durations, namespace.durations_file), (10, None))
            return
        for args in (["--durations=10"], ["--durations", "10"]):
            with self.subTest(args=args), contextlib.redirect_stderr(io.StringIO()) as stderr:
                with self.assertRaises(SystemExit):
                    ours.parse_args(args)
            self.assertIn("unrecognized arguments: --durations=10", stderr.getvalue())
        self.assertEqual(ours.parse_args(["--durations-file=10"]).durations_file, "10")
