"""
Writes no SQL parser can attribute to a table from the statement alone.

Driver methods (COPY, executescript, callproc), statements that hide their
writes (CALL, DO, a SELECT of a function that inserts), triggers and rules
that write into other tables, DDL and migrations, and the driver's own
cursor, which bypasses Django's cursor entirely.
"""

from django.core.management import call_command
from django.db import connections
from django.test import TransactionTestCase

from tests.isolationapp.models import Audited, AuditEntry, MixedCase, Parent, Ruled, Scratch, SpacedName, Tag

from .support import NothingSurvivesMixin

ALIASES = ("default", "other")


def vendor():
    return connections["default"].vendor


def table_names(alias):
    connection = connections[alias]
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


class DriverMethodTests(NothingSurvivesMixin, TransactionTestCase):
    def test_copy_from_stdin(self):
        if vendor() != "postgresql":
            self.skipTest("COPY ... FROM STDIN is PostgreSQL's.")
        for alias in ALIASES:
            with self.subTest(alias=alias), connections[alias].cursor() as cursor:
                if not hasattr(cursor.cursor, "copy"):
                    self.skipTest("cursor.copy() needs psycopg 3.")
                with cursor.copy('COPY "IsoMixedCase" (label) FROM STDIN') as copy:
                    copy.write_row(["copied"])
                    copy.write_row(["copied again"])
                with cursor.copy("COPY isolationapp_parent (name) FROM STDIN") as copy:
                    copy.write(b"copied parent\n")
                self.assertEqual(MixedCase.objects.using(alias).count(), 2)
                self.assertEqual(Parent.objects.using(alias).get().name, "copied parent")

    def test_executescript(self):
        if vendor() != "sqlite":
            self.skipTest("executescript() is sqlite3's.")
        for alias in ALIASES:
            with self.subTest(alias=alias), connections[alias].cursor() as cursor:
                cursor.executescript(
                    "INSERT INTO isolationapp_parent (name) VALUES ('scripted');"
                    "INSERT INTO \"IsoMixedCase\" (label) VALUES ('scripted');"
                    "INSERT INTO [Iso Spaced Name] (label) VALUES ('scripted');"
                )
                self.assertEqual(Parent.objects.using(alias).get().name, "scripted")
                self.assertEqual(MixedCase.objects.using(alias).count(), 1)
                self.assertEqual(SpacedName.objects.using(alias).count(), 1)

    def test_callproc(self):
        if vendor() == "sqlite":
            self.skipTest("SQLite has no stored procedures.")
        # On PostgreSQL Django's callproc() runs SELECT * FROM function(...)
        # on the driver's cursor; on MariaDB the driver runs CALL.
        name = "isolationapp_add_parent" if vendor() == "postgresql" else "isolationapp_add_parent_proc"
        for alias in ALIASES:
            with self.subTest(alias=alias):
                with connections[alias].cursor() as cursor:
                    cursor.callproc(name, ["by callproc"])
                self.assertEqual(Parent.objects.using(alias).get().name, "by callproc")


class HiddenWriteTests(NothingSurvivesMixin, TransactionTestCase):
    """Statements whose text names no table they write."""

    def setUp(self):
        super().setUp()
        if vendor() == "sqlite":
            self.skipTest("SQLite has no stored functions or procedures.")

    def run_statement(self, statement, params=("hidden",)):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                with connections[alias].cursor() as cursor:
                    cursor.execute(statement, params)
                self.assertEqual(Parent.objects.using(alias).get().name, "hidden")

    def test_call_procedure(self):
        self.run_statement("CALL isolationapp_add_parent_proc(%s)")

    def test_select_of_a_function_that_inserts(self):
        self.run_statement("SELECT isolationapp_add_parent(%s)")

    def test_do_statement(self):
        if vendor() == "postgresql":
            # A DO block takes no parameters.
            self.run_statement("DO $$ BEGIN PERFORM isolationapp_add_parent('hidden'); END $$", None)
        else:
            self.run_statement("DO isolationapp_add_parent(%s)")


class DriverConnectionTests(NothingSurvivesMixin, TransactionTestCase):
    """
    Writes through the DB-API connection under Django's (``connection.connection``).

    A documented limit: no execute wrapper or cursor guard sees them, so the
    selective flush does not either (stock Django's flush of every table
    would). The test removes its rows itself and checks that they went
    unseen, so that the docs' claim stays true.
    """

    def test_driver_cursor_is_out_of_reach(self):
        self.expect_flush()
        placeholder = "?" if vendor() == "sqlite" else "%s"
        for alias in ALIASES:
            with self.subTest(alias=alias):
                connections[alias].ensure_connection()
                cursor = connections[alias].connection.cursor()
                try:
                    cursor.execute(f"INSERT INTO isolationapp_tag (name, uses) VALUES ({placeholder}, 0)", ["driver"])
                    self.assertEqual(Tag.objects.using(alias).get().name, "driver")
                    cursor.execute("DELETE FROM isolationapp_tag")
                finally:
                    cursor.close()


class SideEffectTests(NothingSurvivesMixin, TransactionTestCase):
    def test_trigger_writes_into_another_table(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                Audited.objects.using(alias).create(value=1)
                Audited.objects.using(alias).bulk_create([Audited(value=2), Audited(value=3)])
                with connections[alias].cursor() as cursor:
                    cursor.execute("INSERT INTO isolationapp_audited (value) VALUES (%s)", [4])
                self.assertEqual(AuditEntry.objects.using(alias).filter(source="audited").count(), 4)

    def test_rule_writes_into_another_table(self):
        if vendor() != "postgresql":
            self.skipTest("Rules are PostgreSQL's.")
        for alias in ALIASES:
            with self.subTest(alias=alias):
                Ruled.objects.using(alias).create(value=7)
                self.assertEqual(AuditEntry.objects.using(alias).get().source_id, 7)

    def test_ddl(self):
        for alias in ALIASES:
            with self.subTest(alias=alias), connections[alias].cursor() as cursor:
                cursor.execute("CREATE TABLE isolation_ddl_scratch (id INTEGER PRIMARY KEY, note VARCHAR(10))")
                cursor.execute("INSERT INTO isolation_ddl_scratch (id, note) VALUES (1, 'x')")
                cursor.execute("INSERT INTO isolationapp_parent (name) SELECT note FROM isolation_ddl_scratch")
                cursor.execute("DROP TABLE isolation_ddl_scratch")
                self.assertEqual(Parent.objects.using(alias).get().name, "x")

    def test_migrate_back_and_forth(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                self.addCleanup(call_command, "migrate", "isolationapp", database=alias, verbosity=0)
                Parent.objects.using(alias).create(name="before migrating back")
                call_command("migrate", "isolationapp", "0001", database=alias, verbosity=0)
                self.assertNotIn(Scratch._meta.db_table, table_names(alias))
                Audited.objects.using(alias).create(value=1)
                self.assertEqual(AuditEntry.objects.using(alias).count(), 0)  # no trigger at 0001
                call_command("migrate", "isolationapp", database=alias, verbosity=0)
                # The schema is complete again: the table and the trigger are back.
                Scratch.objects.using(alias).create(note="after migrating forward")
                Audited.objects.using(alias).create(value=2)
                self.assertEqual(list(AuditEntry.objects.using(alias).values_list("source", flat=True)), ["audited"])
                self.assertEqual(Parent.objects.using(alias).count(), 1)
