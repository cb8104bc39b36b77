"""
What stock Django gets wrong, shown on the same sample project.

Kept apart from the tests of the runner: these assert stock Django's
defects (a real database destroyed, a start method it cannot clone for), so
that a change in stock behaviour is noticed. The runner's own behaviour in
the same situations is asserted in ``test_end_to_end`` and
``test_parallel_end_to_end``.
"""

import unittest

import django

from .e2e import STOCK_RUNNER, sqlite_tables
from .shop_harness import ShopTestCase

SCENARIOS = "parallel_checks.scenarios"


class StockDestroysARealDatabaseTests(ShopTestCase):
    def test_stock_django_destroys_it(self):
        real_crm = self.make_real_crm()
        stock = self.manage(
            "test", "checks.test_all_aliases", "--noinput", "--testrunner", STOCK_RUNNER, SHOP_CLOBBER="1"
        )
        self.assertIn("Destroying old test database for alias 'tenant_b'", stock.output, stock)
        self.assertFalse(real_crm.exists() and "precious" in sqlite_tables(real_crm), "stock kept the data?")


@unittest.skipUnless(django.VERSION[:2] == (5, 2), "Django 6.0 supports forkserver")
class StockForkserverTests(ShopTestCase):
    """
    Stock Django 5.2 cannot clone in-memory SQLite for forkserver workers.

    (With SQLite files it does not fail but hangs: its forkserver workers
    never set Django up, and the pool replaces them forever; not run here.)
    """

    in_memory = True
    labels = (f"{SCENARIOS}.Harmless", f"{SCENARIOS}.AlsoHarmless")

    def test_stock_fails_and_ours_passes(self):
        runner = "parallel_checks.stock_runners.ForkserverDiscoverRunner"
        stock = self.manage("test", *self.labels, "--parallel", "2", "--testrunner", runner)
        self.assertEqual(stock.returncode, 1, stock)
        self.assertIn(
            "django.db.utils.NotSupportedError: Cloning with start method 'forkserver' is not supported.", stock.stderr
        )
        ours = self.manage("test", *self.labels, "--parallel", "2", "--start-method", "forkserver")
        self.assertPassed(ours, tests=2)
