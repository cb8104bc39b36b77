"""Unit tests of the database plan (pure logic)."""

from unittest import TestCase

from multidb_runner.config import ConfigurationError
from multidb_runner.planning.plan import AliasSettings, build_plan


def alias(name, signature=None, test_name=None, dependencies=None):
    return AliasSettings(name, signature or ("host", name), test_name or f"test_{name}", dependencies)


SETTINGS = [
    alias("default"),
    alias("replica"),
    alias("other"),
    alias("legacy"),
    alias("tenant_a"),
]
MIRRORS = {"replica": "default"}


class BuildPlanTests(TestCase):
    def test_default_first_and_mirror_not_created(self):
        plan = build_plan(SETTINGS, {"other", "default", "replica"}, MIRRORS)
        self.assertEqual(plan.creations, [("default", ["default"]), ("other", ["other"])])
        self.assertEqual(plan.mirrors, {"replica": "default"})
        self.assertEqual(plan.role("replica"), "mirror of default")
        self.assertEqual(plan.role("legacy"), "not used")
        self.assertEqual(plan.role("default"), "created")
        self.assertEqual(plan.used_aliases, {"default", "replica", "other"})

    def test_used_mirror_makes_its_primary_used(self):
        plan = build_plan(SETTINGS, {"replica"}, MIRRORS)
        self.assertEqual(plan.creations, [("default", ["default"])])
        self.assertEqual(plan.database_of("replica"), "default")

    def test_unused_mirror_is_not_planned(self):
        plan = build_plan(SETTINGS, {"other"}, MIRRORS)
        self.assertEqual(plan.mirrors, {})
        self.assertEqual(plan.role("replica"), "not used")
        self.assertIsNone(plan.database_of("replica"))

    def test_same_signature_shares_one_database(self):
        settings = [alias("poseidon", ("h", "poseidon")), alias("default", ("h", "poseidon")), alias("x")]
        plan = build_plan(settings, {"poseidon", "default", "x"}, {})
        self.assertEqual(plan.creations[0], ("default", ["default", "poseidon"]))
        self.assertEqual(plan.role("poseidon"), "same database as default")

    def test_dependencies_order_creation(self):
        settings = [
            alias("default"),
            alias("b", dependencies=("c",)),
            alias("c", dependencies=()),
        ]
        plan = build_plan(settings, {"default", "b", "c"}, {})
        self.assertEqual([first for first, _ in plan.creations], ["default", "c", "b"])

    def test_dependency_on_database_not_set_up_is_ignored(self):
        plan = build_plan(SETTINGS, {"other"}, MIRRORS)
        self.assertEqual(plan.creations, [("other", ["other"])])

    def test_circular_dependencies_are_a_configuration_error(self):
        settings = [alias("default"), alias("a", dependencies=("b",)), alias("b", dependencies=("a",))]
        with self.assertRaisesRegex(ConfigurationError, r"TEST\['DEPENDENCIES'\] cannot be satisfied"):
            build_plan(settings, {"default", "a", "b"}, {})

    def test_keepdb_role(self):
        plan = build_plan(SETTINGS, {"default"}, {}, keepdb=True)
        self.assertEqual(plan.role("default"), "kept (--keepdb)")

    def test_format_lists_every_alias(self):
        plan = build_plan(SETTINGS, {"default", "replica", "legacy"}, MIRRORS)
        plan.legacy_tables["legacy"] = ["legacy_customer", "legacy_region"]
        lines = plan.format().splitlines()
        self.assertEqual(lines[0].split(), ["Alias", "Test", "database", "Role", "Legacy", "tables"])
        rows = {line.split()[0]: line for line in lines[2:]}
        self.assertEqual(set(rows), {"default", "replica", "other", "legacy", "tenant_a"})
        self.assertIn("test_default", rows["replica"])
        self.assertIn("mirror of default", rows["replica"])
        self.assertIn("legacy_customer, legacy_region", rows["legacy"])
        self.assertRegex(rows["other"], r"^other\s+-\s+not used\s+-$")


class FirstUseRolesTests(TestCase):
    """What the plan says once the run is over, with databases set up on first use."""

    def plan(self, **kwargs):
        plan = build_plan(SETTINGS, {"default", "replica", "other", "legacy"}, MIRRORS, **kwargs)
        plan.on_first_use = {"default", "other", "legacy"}
        return plan

    def test_set_up_and_never_used(self):
        plan = self.plan()
        plan.set_up_on_first_use = {"default"}
        self.assertEqual(plan.role("default"), "created on first use")
        self.assertEqual(plan.role("replica"), "mirror of default")
        self.assertEqual(plan.role("other"), "not used")
        self.assertEqual([row[1] for row in plan.rows() if row[0] == "other"], ["-"])
        self.assertEqual(plan.eager_creations, [])

    def test_mirror_of_a_database_never_set_up_is_not_used(self):
        self.assertEqual(self.plan().role("replica"), "not used")

    def test_keepdb(self):
        plan = self.plan(keepdb=True)
        plan.set_up_on_first_use = {"default", "other"}
        plan.on_first_use = {"other", "legacy"}
        self.assertEqual(plan.role("default"), "kept (--keepdb)")
        self.assertEqual(plan.role("other"), "kept (--keepdb), set up on first use")

    def test_in_memory_is_never_kept(self):
        settings = [alias("default", test_name="(in memory)"), alias("other", test_name="(in memory)")]
        plan = build_plan(settings, {"default", "other"}, {}, keepdb=True)
        plan.on_first_use = {"other"}
        plan.set_up_on_first_use = {"other"}
        self.assertEqual(plan.role("default"), "created")
        self.assertEqual(plan.role("other"), "created on first use")

    def test_failed_interrupted_and_unreachable(self):
        plan = self.plan()
        plan.first_use_failures = {
            "default": "set-up on first use failed",
            "other": "set-up on first use interrupted",
            "legacy": "not set up: cannot connect",
        }
        rows = {row[0]: row for row in plan.rows()}
        self.assertEqual(rows["default"][1:3], ("test_default", "set-up on first use failed"))
        # Its mirror got no database either.
        self.assertEqual(rows["replica"][2], "set-up on first use failed")
        self.assertEqual(rows["other"][1:3], ("test_other", "set-up on first use interrupted"))
        # Never created: no test database to name.
        self.assertEqual(rows["legacy"][1:3], ("-", "not set up: cannot connect"))

    def test_differs_from_stock(self):
        one = build_plan([alias("default")], {"default"}, {})
        self.assertFalse(one.differs_from_stock(db_suffix=None))
        self.assertTrue(one.differs_from_stock(db_suffix="ci1"))
        one.legacy_tables["default"] = ["accounts"]
        self.assertTrue(one.differs_from_stock(db_suffix=None))
        self.assertTrue(build_plan(SETTINGS, {"default"}, MIRRORS).differs_from_stock(db_suffix=None))
