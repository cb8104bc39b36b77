"""The isolation layer installs every change to Django's classes in one place and removes them all."""

from unittest import TestCase

from django.core.management.commands import flush
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import SimpleTestCase, TransactionTestCase
from django.test import TestCase as DjangoTestCase

from multidb_runner.isolation.layer import IsolationLayer, IsolationOptions
from multidb_runner.isolation.patches import ClassPatches

#: Every attribute the layer may change, by owner.
WATCHED = {
    DjangoTestCase: ("_enter_atomics", "_rollback_atomics", "_fixture_teardown"),
    TransactionTestCase: ("_fixture_teardown",),
    SimpleTestCase: ("_add_databases_failures",),
    flush.Command: ("handle",),
    BaseDatabaseWrapper: ("ensure_connection", "in_atomic_block"),
}


def snapshot():
    return {(owner, name): vars(owner).get(name) for owner, names in WATCHED.items() for name in names}


class Owner:
    def method(self):
        return "original"


class Child(Owner):
    pass


class ClassPatchesTests(TestCase):
    def test_restore_puts_back_the_very_objects(self):
        original = vars(Owner)["method"]
        patches = ClassPatches()
        patches.replace(Owner, "method", lambda self: "replaced")
        patches.replace(Child, "method", lambda self: "child")
        self.assertEqual((Owner().method(), Child().method()), ("replaced", "child"))
        self.assertIs(patches.original(Owner, "method"), original)
        patches.restore()
        self.assertIs(vars(Owner)["method"], original)
        self.assertNotIn("method", vars(Child))
        self.assertFalse(patches.installed)

    def test_an_attribute_is_replaced_once(self):
        patches = ClassPatches()
        self.addCleanup(patches.restore)
        patches.replace(Owner, "method", lambda self: "first")
        with self.assertRaisesRegex(RuntimeError, "already replaced: compose the change instead"):
            patches.replace(Owner, "method", lambda self: "second")

    def test_switches_are_off_until_switched_and_off_after_restore(self):
        patches = ClassPatches()
        switch = patches.switch(Child, "method", lambda self: "switched")
        self.assertEqual(Child().method(), "original")
        switch.set(True)
        self.assertEqual(Child().method(), "switched")
        patches.restore()
        self.assertEqual(Child().method(), "original")
        self.assertNotIn("method", vars(Child))


class LayerTests(SimpleTestCase):
    def test_install_then_remove_leaves_django_as_found(self):
        # This suite runs under the runner: its own layer is installed, and a
        # second one composes over it and gives everything back.
        before = snapshot()
        layer = IsolationLayer(IsolationOptions(selective_flush=True, lazy_transactions=True, report_usage=True))
        layer.install()
        try:
            changed = {key for key, value in snapshot().items() if value is not before[key]}
            self.assertLessEqual(
                {
                    (DjangoTestCase, "_enter_atomics"),
                    (DjangoTestCase, "_rollback_atomics"),
                    (DjangoTestCase, "_fixture_teardown"),
                    (TransactionTestCase, "_fixture_teardown"),
                    (SimpleTestCase, "_add_databases_failures"),
                    (flush.Command, "handle"),
                },
                changed,
            )
        finally:
            layer.remove()
        self.assertEqual(snapshot(), before)

    def test_nothing_asked_nothing_changed(self):
        before = snapshot()
        layer = IsolationLayer(IsolationOptions(selective_flush=False, lazy_transactions=False, report_usage=False))
        layer.install()
        self.assertEqual(snapshot(), before)
        self.assertFalse(layer.patches.installed)
        layer.remove()
