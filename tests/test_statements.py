"""Unit tests of the SQL reading behind the selective flush: it may overestimate, never miss."""

from django.test import SimpleTestCase

from multidb_runner.isolation.statements import TableName, classify, tokenize


def names(*written):
    """TableNames for plain unquoted names, dotted for schema-qualified ones."""
    return frozenset(TableName(tuple(name.split(".")), (False,) * len(name.split("."))) for name in written)


def quoted(*parts):
    return TableName(tuple(parts), (True,) * len(parts))


class ReadOnlyTests(SimpleTestCase):
    def test_reads(self):
        for dialect in ("postgresql", "mysql", "sqlite"):
            for sql in (
                'SELECT "a"."id" FROM "a" WHERE "a"."x" = %s',
                "select count(*) from b",
                "  (SELECT 1) UNION (SELECT 2)",
                "WITH x AS (SELECT 1) SELECT * FROM x",
                "SAVEPOINT s1",
                "RELEASE SAVEPOINT s1",
                "ROLLBACK TO SAVEPOINT s1",
                "SET CONSTRAINTS ALL IMMEDIATE",
                "PRAGMA foreign_key_check",
                "EXPLAIN SELECT 1",
                "SELECT 1; SELECT 2",
                "SELECT * FROM a FOR UPDATE",
                "SELECT * FROM a FOR NO KEY UPDATE OF a",
                "SELECT REPLACE(name, 'a', 'b') FROM a",
            ):
                with self.subTest(dialect=dialect, sql=sql):
                    effect = classify(sql, dialect)
                    self.assertFalse(effect.writes, effect)

    def test_write_word_as_a_quoted_column(self):
        self.assertFalse(classify('SELECT "update" FROM a', "postgresql").writes)
        self.assertFalse(classify("SELECT `update` FROM a", "mysql").writes)
        # To MySQL "update" is a string: suspect, so everything.
        self.assertTrue(classify('SELECT "update" FROM a', "mysql").writes)

    def test_function_calls_are_listed(self):
        effect = classify("SELECT audit_touch(%s), COUNT(*) FROM a", "postgresql")
        self.assertIn("audit_touch", effect.calls)
        self.assertIn("count", effect.calls)


class WriteTargetTests(SimpleTestCase):
    def assertWrites(self, sql, expected, dialect="postgresql"):
        effect = classify(sql, dialect)
        self.assertIsNone(effect.whole, f"{sql!r} was read as writing everything: {effect.whole}")
        self.assertEqual(effect.tables, expected, sql)

    def test_orm_statements(self):
        self.assertWrites(
            'INSERT INTO "shop_order" ("a", "b") VALUES (%s, %s) RETURNING "shop_order"."id"', {quoted("shop_order")}
        )
        self.assertWrites('UPDATE "shop_order" SET "a" = %s WHERE "shop_order"."id" = %s', {quoted("shop_order")})
        self.assertWrites('DELETE FROM "shop_order" WHERE "shop_order"."id" IN (%s)', {quoted("shop_order")})
        self.assertWrites(
            'INSERT INTO "t" ("a") SELECT * FROM UNNEST((%s)::integer[]) RETURNING "t"."id"', {quoted("t")}
        )

    def test_keywords_in_any_case(self):
        self.assertWrites("insert into Orders (a) values (1)", names("Orders"))
        self.assertWrites("InSeRt InTo orders VALUES (1)", names("orders"))
        self.assertWrites("uPdAtE orders SeT a = 1", names("orders"))

    def test_quoted_and_schema_qualified(self):
        self.assertWrites('INSERT INTO "Mixed Case" VALUES (1)', {quoted("Mixed Case")})
        self.assertWrites('INSERT INTO public."Orders" VALUES (1)', {TableName(("public", "Orders"), (False, True))})
        self.assertWrites("INSERT INTO `shop`.`orders` VALUES (1)", {quoted("shop", "orders")}, "mysql")
        self.assertWrites(
            "INSERT INTO main.[orders] VALUES (1)", {TableName(("main", "orders"), (False, True))}, "sqlite"
        )
        self.assertWrites('UPDATE "a""b" SET x = 1', {quoted('a"b')})

    def test_upserts(self):
        self.assertWrites(
            'INSERT INTO "t" ("k", "v") VALUES (%s, %s) ON CONFLICT("k") DO UPDATE SET "v" = EXCLUDED."v"',
            {quoted("t")},
        )
        self.assertWrites(
            "INSERT INTO `t` (`k`) VALUES (%s) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`)", {quoted("t")}, "mysql"
        )
        self.assertWrites("INSERT OR REPLACE INTO t VALUES (1)", names("t"), "sqlite")
        self.assertWrites("REPLACE INTO t VALUES (1)", names("t"), "mysql")
        self.assertWrites("INSERT IGNORE INTO t VALUES (1)", names("t"), "mysql")
        self.assertWrites("INSERT t VALUES (1)", names("t"), "mysql")
        self.assertWrites(
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v "
            "WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
            names("t"),
        )

    def test_insert_select_and_ctes(self):
        self.assertWrites("INSERT INTO a (x) SELECT x FROM b WHERE y IN (SELECT y FROM c)", names("a"))
        self.assertWrites(
            "WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved", names("a", "b")
        )
        self.assertWrites("WITH x AS (INSERT INTO a VALUES (1) RETURNING id) SELECT * FROM x", names("a"))
        self.assertWrites("WITH x AS (SELECT 1) INSERT INTO a SELECT * FROM x", names("a"), "sqlite")

    def test_several_statements(self):
        self.assertWrites("INSERT INTO a VALUES (1); UPDATE b SET x = 2; SELECT 1", names("a", "b"))
        self.assertWrites("SELECT 'x'; INSERT INTO a VALUES (1) -- '", names("a"))

    def test_truncate_and_copy(self):
        self.assertWrites("TRUNCATE a, ONLY b, c * RESTART IDENTITY", names("a", "b", "c"))
        self.assertWrites("TRUNCATE TABLE `a`", {quoted("a")}, "mysql")
        self.assertWrites("COPY a (x, y) FROM STDIN", names("a"))
        self.assertWrites("COPY a TO STDOUT", frozenset())
        self.assertWrites("COPY (SELECT * FROM a) TO STDOUT", frozenset())

    def test_delete_variants(self):
        self.assertWrites("DELETE FROM ONLY a USING b WHERE a.id = b.id", names("a"))
        self.assertWrites("DELETE LOW_PRIORITY QUICK FROM a WHERE id = 1", names("a"), "mysql")
        self.assertWrites("DELETE FROM a AS x WHERE x.id = 1", names("a"))


class WholeDatabaseTests(SimpleTestCase):
    """Whatever cannot be pinned to tables writes 'everything'."""

    def assertWhole(self, sql, dialect="postgresql", schema_change=False):
        effect = classify(sql, dialect)
        self.assertIsNotNone(effect.whole, f"{sql!r} was not read as writing everything: {effect}")
        self.assertEqual(effect.schema_change, schema_change, sql)

    def test_schema_changes(self):
        self.assertWhole("CREATE TABLE x (id int)", schema_change=True)
        self.assertWhole("ALTER TABLE x ADD COLUMN y int", schema_change=True)
        self.assertWhole("DROP TRIGGER t ON x", schema_change=True)
        self.assertWhole("create trigger t after insert on a begin insert into b values (1); end", "sqlite", True)

    def test_code_the_runner_cannot_see(self):
        self.assertWhole("CALL archive_orders()")
        self.assertWhole("DO $$ BEGIN INSERT INTO a VALUES (1); END $$")
        self.assertWhole("EXECUTE prepared_insert(1)")
        self.assertWhole("SELECT * INTO new_table FROM a")
        self.assertWhole("LOAD DATA INFILE 'x' INTO TABLE a", "mysql")
        self.assertWhole("USE other_database", "mysql")
        self.assertWhole("TRUNCATE a CASCADE")

    def test_several_tables_in_one_write(self):
        self.assertWhole("UPDATE a, b SET a.x = b.x WHERE a.id = b.id", "mysql")
        self.assertWhole("UPDATE a JOIN b ON a.id = b.id SET a.x = 1", "mysql")
        self.assertWhole("DELETE a FROM a JOIN b ON a.id = b.id", "mysql")
        self.assertWhole("DELETE FROM a, b USING a JOIN b", "mysql")

    def test_hidden_writes(self):
        # A write word in a literal or comment: the tokenizer might be wrong about where it ends.
        self.assertWhole("SELECT 'it\\'s'; INSERT INTO a VALUES (1); SELECT '", "mysql")
        self.assertWhole("SELECT 'insert into a'")
        self.assertWhole("SELECT 1 /* UPDATE a SET x = 1 */")
        self.assertWhole("SELECT 1 /*! ; DELETE FROM a */", "mysql")
        self.assertWhole("SELECT $x$; INSERT INTO a VALUES (1)")
        self.assertWhole('INSERT INTO "unterminated VALUES (1)')

    def test_unknown_and_broken(self):
        self.assertWhole('"quoted" statement')
        self.assertWhole("INSERT INTO (SELECT 1)")
        self.assertWhole("UPSERT INTO a VALUES (1)")
        self.assertWhole("HANDLER a READ FIRST", "mysql")


class TokenizerTests(SimpleTestCase):
    def test_dialect_quoting(self):
        self.assertEqual([t.kind for t in tokenize('"a" `b`', "mysql")], ["literal", "name"])
        self.assertEqual([t.kind for t in tokenize('[a] `b` "c"', "sqlite")], ["name", "name", "name"])
        self.assertEqual([t.kind for t in tokenize("E'a\\'b' $q$ x'y $q$", "postgresql")], ["literal", "literal"])
        self.assertEqual([t.kind for t in tokenize("/* a /* b */ c */ x", "postgresql")], ["comment", "word"])
        self.assertEqual([t.kind for t in tokenize("# c\nx", "mysql")], ["comment", "word"])
