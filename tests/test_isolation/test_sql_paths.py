"""Writes through raw SQL on the Django cursor, in every spelling a parser can trip on."""

from django.db import connections
from django.test import TransactionTestCase

from tests.isolationapp.models import Child, MixedCase, Parent, SpacedName, Tag

from .support import NothingSurvivesMixin

ALIASES = ("default", "other")


def execute(alias, sql, params=None):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def vendor():
    return connections["default"].vendor


class RawSqlTests(NothingSurvivesMixin, TransactionTestCase):
    def test_quoted_mixed_case_and_spaced_names(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                quote = connections[alias].ops.quote_name
                execute(alias, f"INSERT INTO {quote('IsoMixedCase')} ({quote('label')}) VALUES (%s)", ["quoted"])
                execute(alias, f"insert into {quote('Iso Spaced Name')} (label) values (%s)", ["spaced"])
                execute(alias, f"UPDATE {quote('IsoMixedCase')} SET label = %s", ["updated"])
                self.assertEqual(MixedCase.objects.using(alias).get().label, "updated")
                self.assertEqual(SpacedName.objects.using(alias).get().label, "spaced")

    def test_keyword_case_whitespace_and_comments(self):
        statements = [
            "INSERT INTO isolationapp_parent (name) VALUES (%s)",
            "insert into isolationapp_parent (name) values (%s)",
            "InSeRt InTo isolationapp_parent (name) VaLuEs (%s)",
            "  \n\tINSERT\nINTO\n  isolationapp_parent(name)VALUES(%s)",
            "/* a comment */ INSERT INTO isolationapp_parent (name) VALUES (%s)",
            "-- a line comment\nINSERT INTO isolationapp_parent (name) VALUES (%s);",
        ]
        for alias in ALIASES:
            with self.subTest(alias=alias):
                for statement in statements:
                    execute(alias, statement, ["spelled"])
                self.assertEqual(Parent.objects.using(alias).count(), len(statements))

    def test_table_names_in_another_case(self):
        if vendor() == "postgresql":
            # Unquoted names fold to lower case.
            statements = ["INSERT INTO ISOLATIONAPP_PARENT (NAME) VALUES (%s)"]
        elif vendor() == "sqlite":
            # SQLite matches table names in any case, quoted or not.
            statements = [
                "INSERT INTO ISOLATIONAPP_PARENT (NAME) VALUES (%s)",
                'INSERT INTO "isomixedcase" (label) VALUES (%s)',
                "INSERT INTO ISOMIXEDCASE (label) VALUES (%s)",
            ]
        else:
            self.skipTest("Table names are case-sensitive on MariaDB with lower_case_table_names=0.")
        for alias in ALIASES:
            with self.subTest(alias=alias):
                for statement in statements:
                    execute(alias, statement, ["another case"])
                self.assertEqual(Parent.objects.using(alias).get().name, "another case")
                self.assertEqual(MixedCase.objects.using(alias).count(), len(statements) - 1)

    def test_schema_qualified_names(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                if vendor() == "postgresql":
                    statements = [
                        'INSERT INTO public."IsoMixedCase" (label) VALUES (%s)',
                        'INSERT INTO "public"."isolationapp_parent" (name) VALUES (%s)',
                        'INSERT INTO public."Iso Spaced Name" (label) VALUES (%s)',
                        "INSERT INTO public.isolationapp_tag (name, uses) VALUES (%s, 0)",
                    ]
                elif vendor() == "sqlite":
                    statements = [
                        'INSERT INTO main."IsoMixedCase" (label) VALUES (%s)',
                        'INSERT INTO "main"."isolationapp_parent" (name) VALUES (%s)',
                        "INSERT INTO main.[Iso Spaced Name] (label) VALUES (%s)",
                        "INSERT INTO main.`isolationapp_tag` (name, uses) VALUES (%s, 0)",
                    ]
                else:
                    database = connections[alias].settings_dict["NAME"]
                    statements = [
                        f"INSERT INTO `{database}`.`IsoMixedCase` (label) VALUES (%s)",
                        f"INSERT INTO `{database}`.isolationapp_parent (name) VALUES (%s)",
                        f"INSERT INTO `{database}`.`Iso Spaced Name` (label) VALUES (%s)",
                        f"INSERT INTO {database}.isolationapp_tag (name, uses) VALUES (%s, 0)",
                    ]
                for statement in statements:
                    execute(alias, statement, ["qualified"])
                for model in (MixedCase, Parent, SpacedName, Tag):
                    self.assertEqual(model.objects.using(alias).count(), 1, model)

    def test_executemany(self):
        for alias in ALIASES:
            with self.subTest(alias=alias), connections[alias].cursor() as cursor:
                table = connections[alias].ops.quote_name("IsoMixedCase")
                cursor.executemany(f"INSERT INTO {table} (label) VALUES (%s)", [["one"], ["two"], ["three"]])
                cursor.executemany("INSERT INTO isolationapp_tag (name, uses) VALUES (%s, %s)", [["a", 1], ["b", 2]])
                self.assertEqual(MixedCase.objects.using(alias).count(), 3)
                self.assertEqual(Tag.objects.using(alias).count(), 2)

    def test_insert_select(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                execute(
                    alias,
                    "INSERT INTO isolationapp_tag (name, uses) SELECT model, 0 FROM django_content_type "
                    "WHERE app_label = %s",
                    ["isolationapp"],
                )
                execute(alias, "INSERT INTO isolationapp_parent (name) SELECT name FROM isolationapp_tag")
                execute(
                    alias, "INSERT INTO isolationapp_child (parent_id, name) SELECT id, name FROM isolationapp_parent"
                )
                tags = Tag.objects.using(alias).count()
                self.assertGreater(tags, 5)
                self.assertEqual(Child.objects.using(alias).count(), tags)

    def test_insert_into_view(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                execute(alias, "INSERT INTO isolationapp_parent_names (name) VALUES (%s)", ["through the view"])
                self.assertEqual(Parent.objects.using(alias).get().name, "through the view")

    def test_insert_returning(self):
        if not connections["default"].features.can_return_columns_from_insert:
            self.skipTest("This database has no INSERT ... RETURNING.")
        for alias in ALIASES:
            with self.subTest(alias=alias):
                [(pk,)] = execute(alias, "INSERT INTO isolationapp_parent (name) VALUES (%s) RETURNING id", ["r"])
                self.assertEqual(Parent.objects.using(alias).get().pk, pk)

    def test_upsert_statements(self):
        statements = {
            "postgresql": [
                "INSERT INTO isolationapp_tag (name, uses) VALUES (%s, 1) "
                "ON CONFLICT (name) DO UPDATE SET uses = isolationapp_tag.uses + 1",
                "INSERT INTO isolationapp_tag (name, uses) VALUES (%s, 1) ON CONFLICT DO NOTHING",
                "MERGE INTO isolationapp_tag t USING (SELECT %s AS name) s ON t.name = s.name "
                "WHEN MATCHED THEN UPDATE SET uses = t.uses + 1 "
                "WHEN NOT MATCHED THEN INSERT (name, uses) VALUES (s.name, 1)",
            ],
            "sqlite": [
                "INSERT INTO isolationapp_tag (name, uses) VALUES (%s, 1) "
                "ON CONFLICT (name) DO UPDATE SET uses = uses + 1",
                "INSERT OR REPLACE INTO isolationapp_tag (name, uses) VALUES (%s, 1)",
                "REPLACE INTO isolationapp_tag (name, uses) VALUES (%s, 1)",
                "INSERT OR IGNORE INTO isolationapp_tag (name, uses) VALUES (%s, 1)",
            ],
            "mysql": [
                "INSERT INTO isolationapp_tag (name, uses) VALUES (%s, 1) ON DUPLICATE KEY UPDATE uses = uses + 1",
                "REPLACE INTO isolationapp_tag (name, uses) VALUES (%s, 1)",
                "INSERT IGNORE INTO isolationapp_tag (name, uses) VALUES (%s, 1)",
                "INSERT INTO isolationapp_tag SET name = %s, uses = 1",
            ],
        }[vendor()]
        if vendor() == "postgresql" and connections["default"].pg_version < 150000:
            statements.pop()  # MERGE came with PostgreSQL 15.
        for alias in ALIASES:
            with self.subTest(alias=alias):
                for number, statement in enumerate(statements):
                    execute(alias, statement, [f"tag {number}"])
                self.assertEqual(Tag.objects.using(alias).count(), len(statements))

    def test_common_table_expressions(self):
        if vendor() == "postgresql":
            statements = [
                # A SELECT that writes: its CTE inserts.
                "WITH created AS (INSERT INTO isolationapp_parent (name) VALUES (%s) RETURNING id) "
                "SELECT id FROM created",
                'WITH source AS (SELECT %s AS label) INSERT INTO "IsoMixedCase" (label) SELECT label FROM source',
            ]
        elif vendor() == "sqlite":
            statements = [
                "WITH source(name) AS (VALUES (%s)) INSERT INTO isolationapp_parent (name) SELECT name FROM source",
                'WITH source AS (SELECT %s AS label) INSERT INTO "IsoMixedCase" (label) SELECT label FROM source',
            ]
        else:
            # MariaDB takes WITH after INSERT ... only; WITH ... INSERT is a syntax error.
            statements = [
                "INSERT INTO isolationapp_parent (name) WITH source AS (SELECT %s AS name) SELECT name FROM source",
                "INSERT INTO `IsoMixedCase` (label) WITH source AS (SELECT %s AS label) SELECT label FROM source",
            ]
        for alias in ALIASES:
            with self.subTest(alias=alias):
                for statement in statements:
                    execute(alias, statement, ["from a CTE"])
                self.assertEqual(Parent.objects.using(alias).get().name, "from a CTE")
                self.assertEqual(MixedCase.objects.using(alias).get().label, "from a CTE")

    def test_several_statements_in_one_execute(self):
        if vendor() != "postgresql":
            self.skipTest("Only PostgreSQL's driver runs several statements in one execute().")
        for alias in ALIASES:
            with self.subTest(alias=alias):
                execute(
                    alias,
                    "SELECT 1; INSERT INTO \"IsoMixedCase\" (label) VALUES ('second'); "
                    "UPDATE isolationapp_tag SET uses = 0; INSERT INTO isolationapp_parent (name) VALUES ('fourth')",
                )
                self.assertEqual(MixedCase.objects.using(alias).get().label, "second")
                self.assertEqual(Parent.objects.using(alias).get().name, "fourth")


class CrossDatabaseTests(NothingSurvivesMixin, TransactionTestCase):
    """Statements sent through one alias's connection that write another alias's database."""

    def test_write_into_another_alias_database(self):
        other = connections["other"]
        if vendor() == "postgresql":
            self.skipTest("A PostgreSQL connection cannot reach another database.")
        if vendor() == "sqlite":
            name = str(other.settings_dict["NAME"])
            execute("default", "ATTACH DATABASE %s AS other_alias", [name])
            self.addCleanup(execute, "default", "DETACH DATABASE other_alias")
            table = "other_alias.isolationapp_parent"
        else:
            table = f"`{other.settings_dict['NAME']}`.isolationapp_parent"
        execute("default", f"INSERT INTO {table} (name) VALUES (%s)", ["across databases"])
        self.assertEqual(Parent.objects.using("other").get().name, "across databases")
        self.assertEqual(Parent.objects.using("default").count(), 0)
