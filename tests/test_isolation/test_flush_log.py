"""
White-box: what the teardown flushed, read from the ``multidb_runner.flush`` log.

Each test ends with ``expect_flush()``, checked after the teardown (aliases
it does not name must be skipped); the oracle checks isolation as well. The
runner's first flush of each alias in a process flushes every table, so the
mixin runs a throwaway flush round first in each process. With
``SELECTIVE_FLUSH`` off these tests skip, after their writes, which the
oracle still checks.
"""

import threading

from django.core.management import call_command
from django.db import connections
from django.test import TransactionTestCase

from tests.isolationapp.models import Audited, Child, MixedCase, Parent, Ruled, Tag
from tests.legacyapp.models import Customer, Region

from .support import EVERY_TABLE, NothingSurvivesMixin


def vendor():
    return connections["default"].vendor


def execute(alias, sql, params=None):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)


class SelectiveFlushTests(NothingSurvivesMixin, TransactionTestCase):
    def test_nothing_written(self):
        for alias in ("default", "replica", "other"):
            self.assertEqual(Parent.objects.using(alias).count(), 0)
        self.assertFalse(Region.objects.exists())
        execute("other", "SELECT COUNT(*) FROM isolationapp_parent")
        self.expect_flush()

    def test_orm_writes_to_two_tables_of_other(self):
        parent = Parent.objects.using("other").create(name="parent")
        Child.objects.using("other").create(parent=parent, name="child")
        self.assertEqual(Child.objects.using("other").count(), 1)
        self.expect_flush(other=["isolationapp_parent", "isolationapp_child"])

    def test_each_alias_its_own_tables(self):
        Parent.objects.create(name="on default")
        Tag.objects.using("other").create(name="on other")
        Region.objects.create(code="EU")
        self.expect_flush(default=["isolationapp_parent"], other=["isolationapp_tag"], legacy=["legacy_region"])

    def test_many_to_many(self):
        parent = Parent.objects.using("other").create(name="tagged")
        parent.tags.add(Tag.objects.using("other").create(name="tag"))
        customer = Customer.objects.create(name="ACME")
        customer.regions_served.add(Region.objects.create(code="US"))
        self.assertEqual(parent.tags.count(), 1)
        self.expect_flush(
            other=["isolationapp_parent", "isolationapp_parent_tags", "isolationapp_tag"],
            legacy=["legacy_customer", "legacy_customer_regions_served", "legacy_region"],
        )

    def test_bulk_create_upsert(self):
        connection = connections["other"]
        options = {"update_conflicts": True, "update_fields": ["uses"]}
        if connection.features.supports_update_conflicts_with_target:
            options["unique_fields"] = ["name"]
        Tag.objects.using("other").bulk_create([Tag(name="a", uses=1)], **options)
        Tag.objects.using("other").bulk_create([Tag(name="a", uses=2)], **options)
        self.assertEqual(Tag.objects.using("other").get().uses, 2)
        self.expect_flush(other=["isolationapp_tag"])

    def test_quoted_mixed_case_names(self):
        quote = connections["default"].ops.quote_name
        execute("default", f"INSERT INTO {quote('IsoMixedCase')} (label) VALUES (%s)", ["quoted"])
        execute("default", f"insert into {quote('Iso Spaced Name')} (label) values (%s)", ["spaced"])
        self.assertEqual(MixedCase.objects.get().label, "quoted")
        self.expect_flush(default=["Iso Spaced Name", "IsoMixedCase"])

    def test_schema_qualified_names(self):
        if vendor() == "postgresql":
            statements = [
                'INSERT INTO public."IsoMixedCase" (label) VALUES (%s)',
                "INSERT INTO public.isolationapp_tag (name, uses) VALUES (%s, 0)",
            ]
        elif vendor() == "sqlite":
            statements = [
                'INSERT INTO main."IsoMixedCase" (label) VALUES (%s)',
                "INSERT INTO main.isolationapp_tag (name, uses) VALUES (%s, 0)",
            ]
        else:
            database = connections["other"].settings_dict["NAME"]
            statements = [
                f"INSERT INTO `{database}`.`IsoMixedCase` (label) VALUES (%s)",
                f"INSERT INTO {database}.isolationapp_tag (name, uses) VALUES (%s, 0)",
            ]
        for statement in statements:
            execute("other", statement, ["qualified"])
        self.assertEqual(MixedCase.objects.using("other").count(), 1)
        self.expect_flush(other=["IsoMixedCase", "isolationapp_tag"])

    def test_table_name_in_another_case(self):
        if vendor() == "mysql":
            self.skipTest("Table names are case-sensitive on MariaDB with lower_case_table_names=0.")
        execute("other", "INSERT INTO ISOLATIONAPP_PARENT (NAME) VALUES (%s)", ["upper"])
        self.assertEqual(Parent.objects.using("other").get().name, "upper")
        self.expect_flush(other=["isolationapp_parent"])

    def test_insert_select_marks_only_its_target(self):
        execute(
            "other",
            "INSERT INTO isolationapp_tag (name, uses) SELECT model, 0 FROM django_content_type WHERE app_label = %s",
            ["auth"],
        )
        self.assertTrue(Tag.objects.using("other").filter(name="permission").exists())
        self.expect_flush(other=["isolationapp_tag"])

    def test_write_through_the_mirror(self):
        # replica2 is the suite's writable mirror (TEST['READ_ONLY'] = False).
        Parent.objects.using("replica2").create(name="via replica2")
        self.assertEqual(Parent.objects.using("default").count(), 1)
        self.expect_flush(default=["isolationapp_parent"])

    def test_write_from_another_thread(self):
        def write():
            try:
                Parent.objects.using("other").create(name="thread")
            finally:
                connections.close_all()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        self.assertEqual(Parent.objects.using("other").count(), 1)
        self.expect_flush(other=["isolationapp_parent"])


class WholeAliasFlushTests(NothingSurvivesMixin, TransactionTestCase):
    """Writes the runner cannot pin to tables flush their whole alias, and only it."""

    def test_trigger_table(self):
        Audited.objects.create(value=1)
        self.expect_flush(default=EVERY_TABLE)

    def test_rule_table(self):
        if vendor() != "postgresql":
            self.skipTest("Rules are PostgreSQL's.")
        Ruled.objects.using("other").create(value=1)
        self.expect_flush(other=EVERY_TABLE)

    def test_view(self):
        execute("other", "INSERT INTO isolationapp_parent_names (name) VALUES (%s)", ["via view"])
        self.expect_flush(other=EVERY_TABLE)

    def test_ddl(self):
        execute("other", "CREATE TABLE isolation_ddl_scratch (id INTEGER PRIMARY KEY)")
        execute("other", "DROP TABLE isolation_ddl_scratch")
        self.expect_flush(other=EVERY_TABLE)

    def test_migrate(self):
        self.addCleanup(call_command, "migrate", "isolationapp", database="other", verbosity=0)
        call_command("migrate", "isolationapp", "0002", database="other", verbosity=0)
        call_command("migrate", "isolationapp", database="other", verbosity=0)
        self.expect_flush(other=EVERY_TABLE)

    def test_driver_method(self):
        with connections["other"].cursor() as cursor:
            if vendor() == "sqlite":
                cursor.executescript("INSERT INTO isolationapp_parent (name) VALUES ('script');")
            elif vendor() == "postgresql" and hasattr(cursor.cursor, "copy"):
                with cursor.copy("COPY isolationapp_parent (name) FROM STDIN") as copy:
                    copy.write_row(["copied"])
            else:
                cursor.callproc("isolationapp_add_parent_proc", ["callproc"])
        self.assertEqual(Parent.objects.using("other").count(), 1)
        self.expect_flush(other=EVERY_TABLE)

    def test_callproc(self):
        if vendor() == "sqlite":
            self.skipTest("SQLite has no stored procedures.")
        name = "isolationapp_add_parent" if vendor() == "postgresql" else "isolationapp_add_parent_proc"
        with connections["other"].cursor() as cursor:
            cursor.callproc(name, ["callproc"])
        self.expect_flush(other=EVERY_TABLE)

    def test_call_statement(self):
        if vendor() == "sqlite":
            self.skipTest("SQLite has no CALL.")
        execute("other", "CALL isolationapp_add_parent_proc(%s)", ["called"])
        self.expect_flush(other=EVERY_TABLE)
