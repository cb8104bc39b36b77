"""
A read-only mirror is exactly as strict as a replica, and a refusal is the mirror's own.

Run inside the runner on every backend, serial and parallel: ``replica`` is
a read-only mirror of ``default``. What a replica's read-only transaction
refuses is refused through the mirror, with the primary's rows counted
before and after; what it allows passes; a refused write leaves the test's
transaction usable, through the primary and through the mirror.
"""

from unittest import TestCase as UnitTestCase

from django.db import connections, transaction
from django.db.transaction import TransactionManagementError
from django.test import TestCase, TransactionTestCase

from multidb_runner import ReadOnlyMirrorError
from multidb_runner.isolation.read_only import refused_write
from multidb_runner.isolation.server_verdict import asks_the_server, body_may_write, called_procedures
from tests.isolationapp.models import Parent
from tests.testapp.models import Author

READ_PROCEDURE = {
    "postgresql": "CREATE PROCEDURE multidb_count_authors() LANGUAGE sql AS $$ SELECT count(*) FROM testapp_author $$",
    "mysql": "CREATE PROCEDURE multidb_count_authors() SELECT COUNT(*) FROM testapp_author",
}


def vendor():
    return connections["replica"].vendor


def on_replica(sql, params=None):
    with connections["replica"].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


class RefusalAssertions:
    def assertRefused(self, sql, params=None, what=""):
        with self.assertRaisesMessage(ReadOnlyMirrorError, f"Refusing {what}"):
            on_replica(sql, params)

    def assertUsable(self, authors):
        """The test's transaction goes on, through the primary and through the mirror."""
        self.assertEqual(sorted(Author.objects.values_list("name", flat=True)), sorted(authors))
        self.assertEqual(Author.objects.using("replica").count(), len(authors))
        Author.objects.create(name="after")
        self.assertEqual(Author.objects.using("replica").filter(name="after").count(), 1)


class ServerRefusalsTests(RefusalAssertions, TestCase):
    """What a replica's read-only transaction refuses, inside the test's transaction."""

    def setUp(self):
        Author.objects.create(name="kept")
        self.parents = Parent.objects.count()

    def test_row_locks(self):
        lock = {"postgresql": ("FOR UPDATE", "FOR SHARE", "FOR NO KEY UPDATE"), "mysql": ("FOR UPDATE",)}
        if vendor() not in lock:
            self.skipTest("SQLite has no row locks")
        for clause in lock[vendor()]:
            with self.subTest(clause=clause):
                self.assertRefused(f"SELECT * FROM testapp_author {clause}", what=f"a SELECT ... {clause}")
        # A lock in a subquery.
        if vendor() == "postgresql":
            self.assertRefused(
                "SELECT * FROM testapp_author WHERE id IN (SELECT id FROM testapp_author FOR UPDATE)",
                what="a SELECT ... FOR UPDATE",
            )
        with self.assertRaises(ReadOnlyMirrorError), transaction.atomic(using="replica"):
            list(Author.objects.using("replica").select_for_update())
        self.assertUsable(["kept"])

    def test_mysql_allows_shared_locks(self):
        if vendor() != "mysql":
            self.skipTest("LOCK IN SHARE MODE is MySQL's")
        self.assertEqual(on_replica("SELECT name FROM testapp_author LOCK IN SHARE MODE"), (("kept",),))

    def test_sequences(self):
        if vendor() != "postgresql":
            self.skipTest("sequences are PostgreSQL's here")
        before = Author.objects.create(name="before")
        sequence = "pg_get_serial_sequence('testapp_author', 'id')"
        self.assertRefused(f"SELECT nextval({sequence})", what="a call of nextval()")
        self.assertRefused(f"SELECT setval({sequence}, 1000)", what="a call of setval()")
        # Sequences are not transactional: a nextval() that ran would leave a gap.
        after = Author.objects.create(name="after sequences")
        self.assertEqual(after.pk, before.pk + 1)

    def test_code_that_writes(self):
        if vendor() not in ("postgresql", "mysql"):
            self.skipTest("procedures are PostgreSQL's and MariaDB's")
        self.assertRefused("CALL isolationapp_add_parent_proc(%s)", ["through the replica"], what="a")
        if vendor() == "postgresql":
            self.assertRefused(
                "DO $$ BEGIN INSERT INTO testapp_author (name) VALUES ('done'); END $$",
                what="a statement PostgreSQL refuses in a read-only transaction "
                "(cannot execute INSERT in a read-only transaction)",
            )
        self.assertEqual(Parent.objects.count(), self.parents)
        self.assertUsable(["kept"])

    def test_vendors_own_writes(self):
        refused = {
            "postgresql": [
                (
                    "SELECT * INTO multidb_copied FROM testapp_author",
                    "a statement PostgreSQL refuses in a read-only transaction (cannot execute SELECT INTO",
                ),
                ("EXPLAIN ANALYZE INSERT INTO testapp_author (name) VALUES ('x')", "a statement PostgreSQL refuses"),
                ("EXPLAIN ANALYZE DELETE FROM testapp_author", "a statement PostgreSQL refuses"),
            ],
            "mysql": [
                ("/*!50000 DELETE FROM testapp_author */", "a DELETE statement"),
                ("/*M!100000 DELETE FROM testapp_author */", "a DELETE statement"),
                ("/*! INSERT INTO testapp_author (name) VALUES ('x') */", "an INSERT statement"),
                ("EXPLAIN DELETE FROM testapp_author", "an EXPLAIN of a DELETE statement"),
                ("ANALYZE DELETE FROM testapp_author", "an ANALYZE of a DELETE statement"),
            ],
        }.get(vendor())
        if refused is None:
            self.skipTest("PostgreSQL's and MariaDB's statements")
        for sql, what in refused:
            with self.subTest(sql=sql):
                self.assertRefused(sql, what=what)
        if vendor() == "postgresql":
            self.assertEqual(on_replica("SELECT to_regclass('multidb_copied') IS NULL"), [(True,)])
        self.assertUsable(["kept"])


class AllowedByAReplicaTests(TestCase):
    """What a replica's read-only transaction allows passes through the mirror."""

    def test_reads(self):
        Author.objects.create(name="Ada")
        self.assertEqual(on_replica("SELECT name FROM testapp_author")[0][0], "Ada")
        self.assertEqual(on_replica("SELECT UPPER(name) FROM testapp_author")[0][0], "ADA")
        self.assertEqual(len(list(Author.objects.using("replica").iterator(chunk_size=1))), 1)
        if vendor() in ("postgresql", "mysql"):
            self.assertTrue(on_replica("EXPLAIN SELECT * FROM testapp_author"))
        if vendor() == "postgresql":
            self.assertEqual(on_replica("SHOW transaction_read_only"), [("off",)])
            self.assertTrue(on_replica("EXPLAIN INSERT INTO testapp_author (name) VALUES ('planned')"))
            on_replica("DO $$ BEGIN PERFORM count(*) FROM testapp_author; END $$")
            # A setting made through the mirror lasts, as on the replica's connection.
            on_replica("SET LOCAL statement_timeout = 12345")
            self.assertEqual(on_replica("SHOW statement_timeout"), [("12345ms",)])
        if vendor() == "mysql":
            self.assertTrue(on_replica("SHOW TABLES"))
            self.assertEqual(on_replica("SELECT 1 /*!50000 + 1 */")[0][0], 2)
        # Reads through the mirror leave the primary's transaction as writable as it was.
        Author.objects.create(name="Bea")
        self.assertEqual(Author.objects.using("replica").count(), 2)


class ProceduresTests(RefusalAssertions, TransactionTestCase):
    """A CALL of a procedure that writes is refused, one that reads passes; in autocommit too."""

    def setUp(self):
        if vendor() not in READ_PROCEDURE:
            self.skipTest("procedures are PostgreSQL's and MariaDB's")
        with connections["default"].cursor() as cursor:
            cursor.execute(READ_PROCEDURE[vendor()])
        self.addCleanup(self.drop_procedure)

    def drop_procedure(self):
        with connections["default"].cursor() as cursor:
            cursor.execute("DROP PROCEDURE multidb_count_authors")

    def test_calls_in_autocommit(self):
        Author.objects.create(name="kept")
        on_replica("CALL multidb_count_authors()")
        self.assertRefused("CALL isolationapp_add_parent_proc(%s)", ["through the replica"], what="a")
        self.assertEqual(Parent.objects.count(), 0)
        if vendor() == "postgresql":
            # A hot standby refuses VACUUM too.
            self.assertRefused("VACUUM testapp_author", what="a statement PostgreSQL refuses")
            self.assertRefused("SELECT * FROM testapp_author FOR UPDATE", what="a SELECT ... FOR UPDATE")
            self.assertRefused("SELECT nextval(pg_get_serial_sequence('testapp_author', 'id'))", what="a call")
        self.assertUsable(["kept"])

    def test_calls_in_a_transaction(self):
        with transaction.atomic(using="default"):
            Author.objects.create(name="kept")
            on_replica("CALL multidb_count_authors()")
            self.assertRefused("CALL isolationapp_add_parent_proc(%s)", ["through the replica"], what="a")
            self.assertUsable(["kept"])
        self.assertEqual(Parent.objects.count(), 0)
        self.assertEqual(Author.objects.count(), 2)


class RefusedWriteKeepsTheTransactionTests(TestCase):
    """A refused write is the mirror's error: the test's transaction goes on."""

    def setUp(self):
        self.kept = Author.objects.create(name="kept")

    def assertUsable(self):
        self.assertEqual(list(Author.objects.values_list("name", flat=True)), ["kept"])
        self.assertEqual(Author.objects.using("replica").get().name, "kept")
        Author.objects.create(name="after")
        self.assertEqual(Author.objects.count(), 2)

    def test_create(self):
        with self.assertRaises(ReadOnlyMirrorError):
            Author.objects.using("replica").create(name="through the replica")
        self.assertUsable()

    def test_update_delete_and_bulk_create(self):
        with self.assertRaises(ReadOnlyMirrorError):
            Author.objects.using("replica").filter(pk=self.kept.pk).update(name="renamed")
        with self.assertRaises(ReadOnlyMirrorError):
            Author.objects.using("replica").filter(pk=self.kept.pk).delete()
        with self.assertRaises(ReadOnlyMirrorError):
            Author.objects.using("replica").bulk_create([Author(name="a"), Author(name="b")])
        with self.assertRaises(ReadOnlyMirrorError):
            Author(name="saved").save(using="replica")
        self.assertUsable()

    def test_in_an_atomic_block_of_the_primary(self):
        with transaction.atomic(using="default"):
            Author.objects.create(name="in the block")
            with self.assertRaises(ReadOnlyMirrorError):
                Author.objects.using("replica").create(name="through the replica")
            self.assertEqual(Author.objects.count(), 2)
            self.assertFalse(transaction.get_rollback(using="default"))
        self.assertEqual(Author.objects.using("replica").count(), 2)

    def test_in_an_atomic_block_of_the_mirror(self):
        # As on a replica: its own block is broken, the primary's transaction is not.
        with transaction.atomic(using="replica"):
            with self.assertRaises(ReadOnlyMirrorError):
                Author.objects.using("replica").create(name="through the replica")
            self.assertTrue(transaction.get_rollback(using="replica"))
            self.assertFalse(transaction.get_rollback(using="default"))
            with self.assertRaises(TransactionManagementError):
                Author.objects.using("replica").count()
            self.assertEqual(Author.objects.count(), 1)
        self.assertFalse(transaction.get_rollback(using="replica"))
        self.assertUsable()

    def test_set_rollback_false_in_a_block_of_the_mirror(self):
        # Django's way to go on in a block after a caught error.
        with transaction.atomic(using="replica"):
            with self.assertRaises(ReadOnlyMirrorError):
                Author.objects.using("replica").create(name="through the replica")
            transaction.set_rollback(False, using="replica")
            self.assertEqual(Author.objects.using("replica").count(), 1)
        self.assertUsable()

    def test_in_a_nested_block_of_the_mirror(self):
        with transaction.atomic(using="replica"):
            with self.assertRaises(ReadOnlyMirrorError), transaction.atomic(using="replica"):
                Author.objects.using("replica").create(name="through the replica")
            # The inner block's savepoint was rolled back: the outer block goes on.
            self.assertEqual(Author.objects.using("replica").count(), 1)
        self.assertUsable()


class RefusedWriteInAutocommitTests(TransactionTestCase):
    def test_create_in_autocommit_and_in_a_block(self):
        Author.objects.create(name="kept")
        with self.assertRaises(ReadOnlyMirrorError):
            Author.objects.using("replica").create(name="through the replica")
        self.assertEqual(Author.objects.using("replica").count(), 1)
        with transaction.atomic(using="default"):
            with self.assertRaises(ReadOnlyMirrorError):
                Author.objects.using("replica").create(name="through the replica")
            Author.objects.create(name="in the block")
        self.assertEqual(sorted(Author.objects.values_list("name", flat=True)), ["in the block", "kept"])


class StrictnessClassifierTests(UnitTestCase):
    """What the parser refuses by itself, and what it leaves to the server (pure)."""

    def test_refused_by_the_parser(self):
        for sql, dialect, what in (
            ("SELECT * FROM t FOR UPDATE", "postgresql", "a SELECT ... FOR UPDATE"),
            ("SELECT * FROM t FOR NO KEY UPDATE OF t", "postgresql", "a SELECT ... FOR NO KEY UPDATE"),
            ("SELECT * FROM t FOR KEY SHARE", "postgresql", "a SELECT ... FOR KEY SHARE"),
            ("select * from t for update skip locked", "mysql", "a SELECT ... FOR UPDATE"),
            ("SELECT nextval('s')", "postgresql", "a call of nextval()"),
            ("SELECT NEXT VALUE FOR s", "mysql", "a NEXT VALUE FOR a sequence"),
            ("/*!50000 DELETE FROM t */", "mysql", "a DELETE statement"),
            ("SELECT 1; /*M!100000 UPDATE t SET a = 1 */", "mysql", "an UPDATE statement"),
            ("EXPLAIN FORMAT=JSON UPDATE t SET a = 1", "mysql", "an EXPLAIN of an UPDATE statement"),
        ):
            with self.subTest(sql=sql):
                self.assertEqual(refused_write(sql, dialect), what)

    def test_left_to_the_server_or_allowed(self):
        for sql, dialect in (
            ("SELECT * FROM t LOCK IN SHARE MODE", "mysql"),
            ("SELECT * FROM t FOR SHARE", "mysql"),
            ("SELECT 'for update', \"nextval\" FROM t", "postgresql"),
            ("SELECT currval('s'), lastval()", "postgresql"),
            ("SELECT 1 /*!50000 + 1 */", "mysql"),
            ("EXPLAIN INSERT INTO t VALUES (1)", "postgresql"),
            ("EXPLAIN SELECT * FROM t", "mysql"),
            ("SELECT substring(a from 1 for 2) FROM t", "postgresql"),
        ):
            with self.subTest(sql=sql):
                self.assertIsNone(refused_write(sql, dialect))

    def test_what_the_server_judges(self):
        for sql in ("SELECT * FROM t", "CALL p()", "DO $$ BEGIN END $$", "EXPLAIN ANALYZE DELETE FROM t", "SELECT '"):
            with self.subTest(sql=sql):
                self.assertTrue(asks_the_server(sql))
        # What a rolled back subtransaction would undo, and transaction control.
        for sql in (
            "SET search_path TO x",
            "SAVEPOINT s",
            "COMMIT",
            "NOTIFY c",
            "LISTEN c",
            "DECLARE c CURSOR FOR SELECT 1",
            "FETCH 10 FROM c",
            "LOCK TABLE t",
            "SELECT set_config('a.b', 'c', false)",
            "SELECT pg_advisory_xact_lock(1)",
            "SELECT 1; SET x = 1",
        ):
            with self.subTest(sql=sql):
                self.assertFalse(asks_the_server(sql))

    def test_procedures_and_their_bodies(self):
        self.assertEqual([str(name) for name in called_procedures("CALL p(1); CALL `db`.`q`()")], ["p", '"db"."q"'])
        self.assertEqual(called_procedures("SELECT 1"), ())
        self.assertTrue(body_may_write("INSERT INTO t VALUES (1)"))
        self.assertTrue(body_may_write("BEGIN DECLARE x INT; SELECT COUNT(*) INTO x FROM t; END"))
        self.assertFalse(body_may_write("SELECT COUNT(*) FROM t"))
        self.assertFalse(body_may_write("BEGIN SELECT COUNT(*) FROM t; END"))
