"""``setup/schema_groups.py``: when migration code could tell two aliases apart."""

from django.db import connections, migrations
from django.test import SimpleTestCase

from multidb_runner.setup.schema_groups import ConnectionRefused, connections_refused, may_tell_aliases_apart

ALIASES = frozenset({"default", "tenant_1", "tenant_2"})


def canonical(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    apps.get_model("ledger", "Currency").objects.using(db_alias).create(code="EUR")


def names_an_alias(apps, schema_editor):
    if schema_editor.connection.alias != "default":
        return


def reads_the_settings(apps, schema_editor):
    return schema_editor.connection.settings_dict["NAME"]


def names_an_alias_inside(apps, schema_editor):
    def inner(alias):
        return alias == "tenant_2"

    return inner(schema_editor.connection.alias)


def app_label_named_like_an_alias(apps, schema_editor):
    apps.get_model("tenant_1", "Seed").objects.using(schema_editor.connection.alias).create()


def writes_to_a_named_alias(apps, schema_editor):
    apps.get_model("ledger", "Currency").objects.using("tenant_2").create(code="EUR")


class Callable:
    def __call__(self, apps, schema_editor):
        return schema_editor.connection.alias in {"tenant_1"}


class MayTellAliasesApartTests(SimpleTestCase):
    def test_code_that_uses_the_alias_it_is_given_does_not(self):
        self.assertFalse(may_tell_aliases_apart(canonical, ALIASES))

    def test_an_app_label_that_is_also_an_alias_name_does_not(self):
        self.assertFalse(may_tell_aliases_apart(app_label_named_like_an_alias, ALIASES))

    def test_a_named_alias_elsewhere_does(self):
        self.assertTrue(may_tell_aliases_apart(writes_to_a_named_alias, ALIASES))

    def test_djangos_own_code_does_not(self):
        self.assertFalse(may_tell_aliases_apart(migrations.RunPython.noop, ALIASES))

    def test_code_naming_an_alias_does(self):
        self.assertTrue(may_tell_aliases_apart(names_an_alias, ALIASES))
        self.assertTrue(may_tell_aliases_apart(names_an_alias_inside, ALIASES))
        self.assertTrue(may_tell_aliases_apart(Callable(), ALIASES))

    def test_code_reading_the_connection_settings_does(self):
        self.assertTrue(may_tell_aliases_apart(reads_the_settings, ALIASES))

    def test_code_that_cannot_be_read_does(self):
        self.assertTrue(may_tell_aliases_apart(len, ALIASES))


class ConnectionsRefusedTests(SimpleTestCase):
    def test_every_connection_is_refused_while_asking_and_given_back_after(self):
        with connections_refused():
            for alias in connections:
                with self.subTest(alias=alias), self.assertRaises(ConnectionRefused):
                    connections[alias].ensure_connection()
        for alias in connections:
            self.assertNotIn("ensure_connection", vars(connections[alias]), alias)

    def test_a_mirror_served_by_its_primary_is_refused_once(self):
        from multidb_runner.isolation.mirrors import MirrorSharing

        sharing = MirrorSharing()
        sharing.install({"replica": "default"})
        self.addCleanup(sharing.restore)
        with connections_refused():
            with self.assertRaises(ConnectionRefused):
                connections["replica"].ensure_connection()
        self.assertNotIn("ensure_connection", vars(connections["default"]))
