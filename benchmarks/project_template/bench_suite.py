"""
What every generated test class shares: its tests, and its declaration.

Each test writes a parent and a child row to two tables of its alias, reads
them back and checks the counts: a small, realistic unit of database work,
the same in every variant, so that the variants differ only in what the
runner does around it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.apps import apps
from django.test import TestCase

if TYPE_CHECKING:
    TestBase = TestCase
else:
    TestBase = object

ClassT = TypeVar("ClassT", bound=type)


def uses(*aliases: str) -> Callable[[ClassT], ClassT]:
    """
    Declare ``databases = set(aliases)`` on the class, in the stock-exact variant only.

    The benchmark sets ``BENCH_DECLARE=exact`` for the variant whose classes
    declare exactly what they use; in every other variant the classes
    declare nothing, as in a suite relying on a runner or a workaround.
    """

    def declare(cls: ClassT) -> ClassT:
        if os.environ.get("BENCH_DECLARE") == "exact":
            cls.databases = set(aliases)  # type: ignore[attr-defined]
        return cls

    return declare


class PairWrites(TestBase):
    """Write a parent and a child row, read them back, check the counts."""

    parent_model: Any
    child_model: Any

    @classmethod
    def setUpTestData(cls) -> None:
        # Only TestCase calls this: one row shared by the class's tests.
        cls.parent_model.objects.create(name="fixture")

    def write_pair(self) -> None:
        parent = self.parent_model.objects.create(name="parent", number=1)
        self.child_model.objects.create(name="child", parent=parent)
        # A TestCase also sees its setUpTestData row; a TransactionTestCase
        # starts from tables flushed by the previous test.
        expected_parents = 2 if isinstance(self, TestCase) else 1
        self.assertEqual(self.parent_model.objects.count(), expected_parents)
        self.assertEqual(self.child_model.objects.filter(parent=parent).count(), 1)
        self.assertEqual(self.child_model.objects.get(parent=parent).name, "child")

    def test_write_first(self) -> None:
        self.write_pair()

    def test_write_second(self) -> None:
        self.write_pair()

    def test_write_third(self) -> None:
        self.write_pair()


class TenantWrites(TestBase):
    """
    Write a parent and a child row on every tenant; read every column of the app's models on each.

    ``test_migrated_schema`` fails when a tenant's database lacks a column
    of a model, or a row that the edited migration writes (``edited_rows``,
    none before the edit): it is the test that tells a stale kept database.
    It checks no other row a data migration wrote: a TransactionTestCase
    that may use a tenant empties its tables, and with ``--keepdb`` the next
    run finds them empty, as Django's documentation warns.
    """

    tenant_aliases: tuple[str, ...]
    parent_model: Any
    child_model: Any
    seed_model: Any
    edited_rows: tuple[str, ...] = ()

    def test_write_every_tenant(self) -> None:
        for alias in self.tenant_aliases:
            parent = self.parent_model.objects.using(alias).create(name="parent", number=1)
            self.child_model.objects.using(alias).create(name="child", parent=parent)
            self.assertEqual(self.parent_model.objects.using(alias).count(), 1)
            self.assertEqual(self.child_model.objects.using(alias).get(parent=parent).name, "child")

    def test_migrated_schema(self) -> None:
        for alias in self.tenant_aliases:
            for model in apps.get_app_config(self.seed_model._meta.app_label).get_models():
                # Reading a row names every column of the model.
                list(model.objects.using(alias).values()[:1])
            names = self.seed_model.objects.using(alias).filter(name__in=self.edited_rows).values_list("name")
            self.assertEqual(sorted(name for (name,) in names), sorted(self.edited_rows), alias)
