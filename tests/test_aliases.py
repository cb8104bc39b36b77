"""Unit tests of alias selection and mirror resolution (pure logic)."""

from unittest import TestCase

from multidb_runner.config import ConfigurationError
from multidb_runner.planning.aliases import resolve_mirrors, select_aliases, usable_aliases, with_primaries

CONFIGURED = ["default", "default_RO", "legacy", "tenant_a", "tenant_b", "tenant_a_RO"]


class SelectAliasesTests(TestCase):
    def test_none_selects_every_alias_in_settings_order(self):
        self.assertEqual(select_aliases(None, CONFIGURED), CONFIGURED)

    def test_exact_aliases_keep_settings_order(self):
        self.assertEqual(select_aliases(["legacy", "default"], CONFIGURED), ["default", "legacy"])

    def test_shell_patterns(self):
        self.assertEqual(select_aliases(["tenant_?"], CONFIGURED), ["tenant_a", "tenant_b"])
        self.assertEqual(select_aliases(["tenant_*"], CONFIGURED), ["tenant_a", "tenant_b", "tenant_a_RO"])
        self.assertEqual(select_aliases(["*_RO", "default"], CONFIGURED), ["default", "default_RO", "tenant_a_RO"])

    def test_patterns_are_case_sensitive_like_aliases(self):
        with self.assertRaises(ConfigurationError):
            select_aliases(["*_ro"], CONFIGURED)

    def test_unknown_alias_lists_configured_aliases(self):
        with self.assertRaises(ConfigurationError) as ctx:
            select_aliases(["default", "replika"], CONFIGURED)
        message = str(ctx.exception)
        self.assertIn("the alias 'replika' matches no alias", message)
        self.assertIn("default, default_RO, legacy, tenant_a, tenant_a_RO, tenant_b", message)

    def test_pattern_matching_nothing_is_an_error(self):
        with self.assertRaisesRegex(ConfigurationError, r"the pattern 'shard_\*' matches no alias"):
            select_aliases(["shard_*"], CONFIGURED)


class ResolveMirrorsTests(TestCase):
    def test_no_mirrors(self):
        self.assertEqual(resolve_mirrors({"default": None, "other": ""}), {})

    def test_direct_mirror(self):
        self.assertEqual(resolve_mirrors({"default": None, "replica": "default"}), {"replica": "default"})

    def test_mirror_of_a_mirror_resolves_to_final_primary(self):
        settings = {"r2": "r1", "r1": "default", "default": None}
        self.assertEqual(resolve_mirrors(settings), {"r2": "default", "r1": "default"})

    def test_missing_alias(self):
        with self.assertRaises(ConfigurationError) as ctx:
            resolve_mirrors({"default": None, "replica": "primary"})
        self.assertIn("DATABASES['replica']['TEST']['MIRROR'] = 'primary'", str(ctx.exception))
        self.assertIn("Configured aliases: default, replica", str(ctx.exception))

    def test_missing_alias_at_end_of_chain(self):
        with self.assertRaisesRegex(ConfigurationError, r"DATABASES\['r1'\]\['TEST'\]\['MIRROR'\] = 'gone'"):
            resolve_mirrors({"default": None, "r2": "r1", "r1": "gone"})

    def test_mirror_of_itself(self):
        with self.assertRaisesRegex(ConfigurationError, "names the alias itself"):
            resolve_mirrors({"default": None, "replica": "replica"})

    def test_cycle(self):
        with self.assertRaises(ConfigurationError) as ctx:
            resolve_mirrors({"default": None, "a": "b", "b": "c", "c": "a"})
        self.assertIn("form a cycle (a -> b -> c -> a)", str(ctx.exception))

    def test_with_primaries(self):
        mirrors = {"replica": "default", "tenant_RO": "tenant"}
        self.assertEqual(with_primaries({"replica"}, mirrors), {"replica", "default"})
        self.assertEqual(with_primaries({"other"}, mirrors), {"other"})


class UsableAliasesTests(TestCase):
    def test_empty_default_is_not_usable(self):
        databases = {
            "default": {"ENGINE": "django.db.backends.dummy"},
            "users": {"ENGINE": "django.db.backends.sqlite3"},
            "orders": {"ENGINE": "django.db.backends.postgresql"},
        }
        self.assertEqual(usable_aliases(databases), ["users", "orders"])
