"""
Mirrors are read-only, as the replicas they stand for: writes refused, reads untouched.

Run inside the runner on every backend, serial and parallel: ``replica`` is
a read-only mirror of ``default``; ``replica2`` (a mirror of ``replica``)
is declared writable with ``TEST['READ_ONLY'] = False``.
"""

import threading
from unittest import TestCase as UnitTestCase

from django.db import DatabaseError, connections, transaction
from django.test import TestCase, TransactionTestCase

from multidb_runner import ReadOnlyMirrorError
from multidb_runner.isolation.read_only import refused_write
from tests.isolationapp.models import Parent
from tests.testapp.models import Author, Book


def insert_sql(alias):
    table = connections[alias].ops.quote_name("testapp_author")
    return f"INSERT INTO {table} (name) VALUES (%s)"


class RefusedWritesTests(TestCase):
    def assertRefused(self, what):
        return self.assertRaisesMessage(ReadOnlyMirrorError, f"Refusing {what} sent through 'replica'")

    def test_orm_writes(self):
        author = Author.objects.create(name="on default")
        with self.assertRefused("an INSERT statement"), transaction.atomic(using="replica"):
            Author.objects.using("replica").create(name="through the replica")
        with self.assertRefused("an UPDATE statement"), transaction.atomic(using="replica"):
            Author.objects.using("replica").filter(pk=author.pk).update(name="renamed")
        with self.assertRefused("a DELETE statement"), transaction.atomic(using="replica"):
            Author.objects.using("replica").filter(pk=author.pk).delete()
        with self.assertRefused("an INSERT statement"), transaction.atomic(using="replica"):
            Author.objects.using("replica").bulk_create([Author(name="a"), Author(name="b")])
        # Nothing reached the primary, whose transaction goes on.
        self.assertEqual(list(Author.objects.values_list("name", flat=True)), ["on default"])

    def test_raw_cursor_execute_and_executemany(self):
        with self.assertRefused("an INSERT statement"), connections["replica"].cursor() as cursor:
            cursor.execute(insert_sql("replica"), ["raw"])
        with self.assertRefused("an INSERT statement"), connections["replica"].cursor() as cursor:
            cursor.executemany(insert_sql("replica"), [["one"], ["two"]])
        with self.assertRefused("a CREATE statement"), connections["replica"].cursor() as cursor:
            cursor.execute("CREATE TABLE never_made (id integer)")
        # Refused before reaching the database: the primary's transaction is usable.
        Author.objects.create(name="after the refusals")
        self.assertEqual(Author.objects.count(), 1)

    def test_message_says_how_to_fix_or_turn_off(self):
        with self.assertRaises(ReadOnlyMirrorError) as ctx, connections["replica"].cursor() as cursor:
            cursor.execute(insert_sql("replica"), ["raw"])
        message = str(ctx.exception)
        self.assertIn("DATABASES['replica']['TEST']['MIRROR'] reads 'default'", message)
        self.assertIn("Write through 'default'", message)
        self.assertIn("DATABASES['replica']['TEST']['READ_ONLY'] = False", message)
        self.assertIn("--no-read-only-mirrors", message)
        self.assertIsInstance(ctx.exception, DatabaseError)

    def test_data_modifying_with_on_postgresql(self):
        if connections["replica"].vendor != "postgresql":
            self.skipTest("data-modifying WITH is PostgreSQL's")
        with self.assertRefused("a data-modifying WITH statement"), connections["replica"].cursor() as cursor:
            cursor.execute(f"WITH made AS ({insert_sql('replica')} RETURNING id) SELECT id FROM made", ["cte"])

    def test_copy_into_a_table_on_postgresql(self):
        if connections["replica"].vendor != "postgresql":
            self.skipTest("COPY is PostgreSQL's")
        with self.assertRefused("a COPY into a table"), connections["replica"].cursor() as cursor:
            with cursor.copy("COPY testapp_author (name) FROM STDIN") as copy:
                copy.write_row(["copied"])


class AllowedReadsTests(TestCase):
    def test_orm_and_raw_reads(self):
        author = Author.objects.create(name="Ada")
        Book.objects.create(title="Notes", author=author)
        self.assertEqual(Author.objects.using("replica").get().name, "Ada")
        self.assertEqual(Book.objects.using("replica").select_related("author").get().author.name, "Ada")
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM testapp_author")
            self.assertEqual(cursor.fetchone(), (1,))

    def test_what_django_sends_on_the_mirrors_connection(self):
        # Savepoints, and a transaction opened through the mirror.
        with transaction.atomic(using="replica"):
            with transaction.atomic(using="replica"):
                self.assertEqual(Author.objects.using("replica").count(), 0)
        statement = {
            "postgresql": "SET LOCAL statement_timeout = 0",
            "mysql": "SET @multidb_runner_check = 1",
            "sqlite": "PRAGMA foreign_keys",
        }[connections["replica"].vendor]
        with connections["replica"].cursor() as cursor:
            cursor.execute(statement)
        connections["replica"].introspection.table_names()

    def test_writable_mirror(self):
        Author.objects.using("replica2").create(name="through the writable mirror")
        self.assertEqual(Author.objects.get().name, "through the writable mirror")


class OtherThreadTests(TransactionTestCase):
    def test_writes_through_the_mirrors_own_connection_are_refused(self):
        outcome = {}

        def write():
            try:
                Author.objects.using("replica").create(name="from a thread")
            except Exception as error:  # reported by the test thread
                outcome["replica"] = error
            try:
                if connections["replica"].vendor in ("postgresql", "mysql"):
                    # Judged by the database on the mirror's own connection too (see test_replica_strictness).
                    with connections["replica"].cursor() as cursor:
                        cursor.execute("CALL isolationapp_add_parent_proc(%s)", ["from a thread"])
            except Exception as error:
                outcome["call"] = error
            try:
                Author.objects.using("replica2").create(name="writable, from a thread")
            except Exception as error:
                outcome["replica2"] = error
            finally:
                connections.close_all()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        self.assertIsInstance(outcome.get("replica"), ReadOnlyMirrorError)
        self.assertNotIn("replica2", outcome)
        self.assertEqual(list(Author.objects.values_list("name", flat=True)), ["writable, from a thread"])
        if connections["replica"].vendor in ("postgresql", "mysql"):
            self.assertIsInstance(outcome.get("call"), ReadOnlyMirrorError)
        self.assertEqual(Parent.objects.count(), 0)


class ClassifierTests(UnitTestCase):
    """What counts as a write a replica refuses (pure)."""

    def test_writes(self):
        for sql, what in (
            ("INSERT INTO t (a) VALUES (1)", "an INSERT statement"),
            ("update t set a = 1", "an UPDATE statement"),
            ("DELETE FROM t", "a DELETE statement"),
            ("TRUNCATE t", "a TRUNCATE statement"),
            ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "a MERGE statement"),
            ("REPLACE INTO t VALUES (1)", "a REPLACE statement"),
            ("ALTER TABLE t ADD COLUMN b int", "an ALTER statement"),
            ("DROP TABLE t", "a DROP statement"),
            ("SELECT 1; DELETE FROM t", "a DELETE statement"),
            ("WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x", "a data-modifying WITH statement"),
            ("COPY t (a) FROM STDIN", "a COPY into a table"),
            ("SELECT * FROM t FOR UPDATE", "a SELECT ... FOR UPDATE"),
        ):
            with self.subTest(sql=sql):
                self.assertEqual(refused_write(sql, "postgresql"), what)

    def test_reads_and_unclear_statements_pass(self):
        for sql in (
            "SELECT * FROM t",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "COPY (SELECT * FROM t) TO STDOUT",
            "COPY t TO STDOUT",
            "SAVEPOINT s1",
            "RELEASE SAVEPOINT s1",
            "SET search_path TO public",
            "EXPLAIN SELECT 1",
            "CALL maybe_writes()",
            "SELECT 'it''s",  # unreadable: let through, never a false alarm
            b"INSERT INTO t VALUES (1)",  # not text: nothing to read
        ):
            with self.subTest(sql=sql):
                self.assertIsNone(refused_write(sql, "postgresql"))

    def test_functions_the_database_says_write(self):
        self.assertEqual(
            refused_write("SELECT bump(1)", "postgresql", {"bump"}), "a call of bump() (a function that may write)"
        )
        self.assertIsNone(refused_write("SELECT upper('a')", "postgresql", {"bump"}))


class WritingFunctionTests(TransactionTestCase):
    """A function the database says writes is refused once the runner has read the database's functions."""

    def test_call_of_a_writing_function(self):
        from tests.test_isolation.support import runner_option

        vendor = connections["replica"].vendor
        if vendor not in ("postgresql", "mysql"):
            self.skipTest("isolationapp's writing function exists on PostgreSQL and MariaDB")
        if not runner_option("selective_flush"):
            self.skipTest("the database's functions are read by the selective flush")
        # The first flush of each alias reads its database's functions.
        self._fixture_teardown()
        with self.assertRaisesMessage(
            ReadOnlyMirrorError,
            "Refusing a call of isolationapp_add_parent() (a function that may write) sent through 'replica'",
        ):
            with connections["replica"].cursor() as cursor:
                cursor.execute("SELECT isolationapp_add_parent(%s)", ["through the replica"])
        # A function that only reads is not refused.
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT UPPER(%s)", ["read"])
            self.assertEqual(cursor.fetchone()[0], "READ")
