"""Unit tests of which test classes get which aliases, and of restoring them."""

import sys
import types
from unittest import TestCase as UnitTestCase

from django.conf import settings
from django.db import connections
from django.test import LiveServerTestCase, SimpleTestCase, TestCase, TransactionTestCase, skipUnlessDBFeature

from multidb_runner.injection import (
    _MISSING,
    DatabasesInjector,
    all_aliases_skip_decorators,
    declared_databases,
    third_party_paths,
)

ALL = list(settings.ALIASES)
MIRRORS = {"replica": "default"}


def third_party_base():
    """Build a base class that looks as if it came from an installed library."""
    module = types.ModuleType("fake_library.testing")
    module.__file__ = third_party_paths()[0] + "/fake_library/testing.py"
    sys.modules[module.__name__] = module

    class LibraryTestCase(TestCase):
        databases = {"default"}

    LibraryTestCase.__module__ = module.__name__
    return LibraryTestCase


class ProjectBase(TestCase):
    databases = {"default", "other"}


class DatabasesInjectorTests(UnitTestCase):
    def setUp(self):
        self.injector = DatabasesInjector(["default", "other"], ALL, MIRRORS)
        self.addCleanup(self.injector.restore)

    def inject(self, cls):
        self.injector.inject([cls])
        return cls.databases

    def test_default_test_classes_get_the_selection(self):
        for base in (TestCase, TransactionTestCase, LiveServerTestCase):
            with self.subTest(base=base):
                cls = type("Undeclared", (base,), {"__module__": __name__})
                self.assertEqual(self.inject(cls), frozenset({"default", "other"}))

    def test_a_narrowed_class_names_the_selection_in_its_failures(self):
        injector = DatabasesInjector(["default"], ALL, MIRRORS, "--databases")
        cls = type("Undeclared", (TestCase,), {"__module__": __name__})
        declared = type("Declared", (TestCase,), {"__module__": __name__, "databases": {"default"}})
        injector.inject([cls, declared])
        message = cls._disallowed_database_msg % {"operation": "queries", "alias": "other", "test": "m.Undeclared"}
        self.assertIn("m.Undeclared keeps Django's default databases", message)
        self.assertIn("the aliases selected by --databases (default)", message)
        self.assertNotIn("_disallowed_database_msg", vars(declared))
        self.assertEqual(injector.messages(), {f"{__name__}.Undeclared": vars(cls)["_disallowed_database_msg"]})
        injector.restore()
        self.assertNotIn("_disallowed_database_msg", vars(cls))
        self.assertIs(cls._disallowed_database_msg, TestCase._disallowed_database_msg)

    def test_every_alias_selected_keeps_djangos_message(self):
        injector = DatabasesInjector(ALL, ALL, MIRRORS, "--databases")
        cls = type("Undeclared", (TestCase,), {"__module__": __name__})
        injector.inject([cls])
        self.addCleanup(injector.restore)
        self.assertNotIn("_disallowed_database_msg", vars(cls))

    def test_selected_mirror_brings_its_primary(self):
        injector = DatabasesInjector(["replica"], ALL, MIRRORS)
        cls = type("Undeclared", (TestCase,), {"__module__": __name__})
        injector.inject([cls])
        self.addCleanup(injector.restore)
        self.assertEqual(cls.databases, frozenset({"replica", "default"}))

    def test_explicit_declaration_is_kept(self):
        cls = type("Declared", (TestCase,), {"__module__": __name__, "databases": {"legacy"}})
        self.assertEqual(self.inject(cls), frozenset({"legacy"}))

    def test_declared_mirror_brings_its_primary(self):
        cls = type("Declared", (TransactionTestCase,), {"__module__": __name__, "databases": {"replica"}})
        self.assertEqual(self.inject(cls), frozenset({"replica", "default"}))

    def test_project_base_class_declaration_is_kept(self):
        cls = type("Child", (ProjectBase,), {"__module__": __name__})
        self.assertEqual(self.inject(cls), frozenset({"default", "other"}))
        child = type("Child", (ProjectBase,), {"__module__": __name__})
        injector = DatabasesInjector(["legacy"], ALL, MIRRORS)
        injector.inject([child])
        self.addCleanup(injector.restore)
        self.assertEqual(child.databases, frozenset({"default", "other"}))

    def test_third_party_base_class_counts_as_default(self):
        base = third_party_base()
        self.assertIs(declared_databases(base, third_party_paths()), _MISSING)
        cls = type("Child", (base,), {"__module__": __name__})
        self.assertEqual(self.inject(cls), frozenset({"default", "other"}))

    def test_all_is_expanded_to_every_alias(self):
        cls = type("Everything", (TestCase,), {"__module__": __name__, "databases": "__all__"})
        self.assertEqual(self.inject(cls), frozenset(ALL))

    def test_simple_test_case_is_left_alone(self):
        cls = type("Simple", (SimpleTestCase,), {"__module__": __name__})
        self.assertEqual(self.inject(cls), set())
        self.assertNotIn("databases", vars(cls))

    def test_restore(self):
        own = type("Own", (TestCase,), {"__module__": __name__, "databases": "__all__"})
        inherited = type("Inherited", (TestCase,), {"__module__": __name__})
        self.injector.inject([own, inherited])
        # Django's setUpClass writes the validated set on the class too.
        inherited.databases = frozenset({"whatever"})
        self.injector.restore()
        self.assertEqual(vars(own)["databases"], "__all__")
        self.assertNotIn("databases", vars(inherited))
        self.assertEqual(inherited.databases, {"default"})


class SkipDecoratorTests(UnitTestCase):
    def test_class_level_feature_skip_on_all(self):
        features = connections["default"].features
        missing = next(
            name for name in dir(features) if name.startswith("supports_") and getattr(features, name) is False
        )
        with all_aliases_skip_decorators():

            @skipUnlessDBFeature("supports_transactions")
            class Supported(TestCase):
                databases = "__all__"

            @skipUnlessDBFeature(missing)
            class Unsupported(TestCase):
                databases = "__all__"

        self.assertEqual(Supported.databases, "__all__")
        self.assertFalse(Supported.__unittest_skip__)
        self.assertTrue(Unsupported.__unittest_skip__)
        self.assertEqual(Unsupported.__unittest_skip_why__, f"Database doesn't support feature(s): {missing}")

    def test_patch_is_undone(self):
        from django.test import testcases

        before = testcases._deferredSkip
        with all_aliases_skip_decorators():
            self.assertIsNot(testcases._deferredSkip, before)
        self.assertIs(testcases._deferredSkip, before)

    def test_inherited_all_is_not_copied_onto_the_subclass(self):
        class Base(TestCase):
            databases = "__all__"

        with all_aliases_skip_decorators():

            @skipUnlessDBFeature("supports_transactions")
            class Child(Base):
                pass

        self.assertNotIn("databases", vars(Child))
        self.assertEqual(set(connections), set(ALL))
