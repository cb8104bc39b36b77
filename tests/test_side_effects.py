"""Which written names are tables of a database, per backend's rules for names."""

from django.test import SimpleTestCase

from multidb_runner.isolation.side_effects import DatabaseFacts
from multidb_runner.isolation.statements import TableName


def name(*parts, quoted=False):
    return TableName(tuple(parts), (quoted,) * len(parts))


class ResolveTests(SimpleTestCase):
    def test_postgresql_folds_unquoted_names(self):
        facts = DatabaseFacts("postgresql", frozenset({"orders", "Mixed"}), schema="public")
        self.assertEqual(facts.resolve(name("ORDERS")), {"orders"})
        self.assertEqual(facts.resolve(name("Mixed", quoted=True)), {"Mixed"})
        self.assertIsNone(facts.resolve(name("Mixed")))  # folds to "mixed": not a table here
        self.assertEqual(facts.resolve(name("public", "orders")), {"orders"})
        self.assertIsNone(facts.resolve(name("audit", "orders")))
        self.assertIsNone(facts.resolve(name("db", "public", "orders")))

    def test_mysql_and_sqlite_match_without_case(self):
        for vendor, schema in (("mysql", "test_shop"), ("sqlite", "main")):
            facts = DatabaseFacts(vendor, frozenset({"Orders", "orders", "items"}), schema=schema)
            with self.subTest(vendor=vendor):
                self.assertEqual(facts.resolve(name("ORDERS")), {"Orders", "orders"})
                self.assertEqual(facts.resolve(name(schema.upper(), "items", quoted=True)), {"items"})
                self.assertIsNone(facts.resolve(name("elsewhere", "items")))
                self.assertIsNone(facts.resolve(name("view_or_new_table")))

    def test_unknown_backend_resolves_nothing(self):
        facts = DatabaseFacts("oracle", frozenset({"orders"}), understood=False)
        self.assertIsNone(facts.resolve(name("orders")))

    def test_side_effects_match_like_names(self):
        facts = DatabaseFacts("sqlite", frozenset({"Orders"}), side_effect_tables={"orders": "triggers"})
        self.assertEqual(facts.side_effect_of("Orders"), "triggers")
        pg = DatabaseFacts("postgresql", frozenset({"Orders"}), side_effect_tables={"orders": "triggers"})
        self.assertIsNone(pg.side_effect_of("Orders"))
