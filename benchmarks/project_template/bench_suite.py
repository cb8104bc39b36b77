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

from django.test import TestCase

if TYPE_CHECKING:
    TestBase = TestCase
else:
    TestBase = object

ClassT = TypeVar("ClassT", bound=type)


def uses(alias: str) -> Callable[[ClassT], ClassT]:
    """
    Declare ``databases = {alias}`` on the class, in the stock-exact variant only.

    The benchmark sets ``BENCH_DECLARE=exact`` for the variant whose classes
    declare exactly what they use; in every other variant the classes
    declare nothing, as in a suite relying on a runner or a workaround.
    """

    def declare(cls: ClassT) -> ClassT:
        if os.environ.get("BENCH_DECLARE") == "exact":
            cls.databases = {alias}  # type: ignore[attr-defined]
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
