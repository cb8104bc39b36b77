"""
Database objects Django does not model, written for each backend.

- A trigger: every insert into ``isolationapp_audited`` writes a row into
  ``isolationapp_auditentry``, a table the inserting statement never names.
- ``isolationapp_parent_names``: a view over ``isolationapp_parent`` that
  accepts inserts (on SQLite through an INSTEAD OF trigger).
- PostgreSQL: a rule that copies every insert into ``isolationapp_ruled``
  into ``isolationapp_auditentry``.
- PostgreSQL and MariaDB: ``isolationapp_add_parent(name)``, a function that
  inserts into ``isolationapp_parent`` (so a SELECT can write), and the
  procedure ``isolationapp_add_parent_proc(name)``, which does the same.
"""

from django.db import migrations

FORWARD = {
    "sqlite": [
        "CREATE TRIGGER isolationapp_audited_audit AFTER INSERT ON isolationapp_audited "
        "BEGIN INSERT INTO isolationapp_auditentry (source, source_id) VALUES ('audited', NEW.id); END",
        "CREATE VIEW isolationapp_parent_names AS SELECT id, name FROM isolationapp_parent",
        "CREATE TRIGGER isolationapp_parent_names_insert INSTEAD OF INSERT ON isolationapp_parent_names "
        "BEGIN INSERT INTO isolationapp_parent (name) VALUES (NEW.name); END",
    ],
    "postgresql": [
        "CREATE FUNCTION isolationapp_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN INSERT INTO isolationapp_auditentry (source, source_id) VALUES ('audited', NEW.id); "
        "RETURN NEW; END $$",
        "CREATE TRIGGER isolationapp_audited_audit AFTER INSERT ON isolationapp_audited "
        "FOR EACH ROW EXECUTE FUNCTION isolationapp_audit_insert()",
        "CREATE VIEW isolationapp_parent_names AS SELECT id, name FROM isolationapp_parent",
        "CREATE RULE isolationapp_ruled_audit AS ON INSERT TO isolationapp_ruled "
        "DO ALSO INSERT INTO isolationapp_auditentry (source, source_id) VALUES ('ruled', NEW.value)",
        "CREATE FUNCTION isolationapp_add_parent(parent_name text) RETURNS bigint LANGUAGE sql AS $$ "
        "INSERT INTO isolationapp_parent (name) VALUES (parent_name) RETURNING id $$",
        "CREATE PROCEDURE isolationapp_add_parent_proc(parent_name text) LANGUAGE sql AS $$ "
        "INSERT INTO isolationapp_parent (name) VALUES (parent_name) $$",
    ],
    "mysql": [
        "CREATE TRIGGER isolationapp_audited_audit AFTER INSERT ON isolationapp_audited FOR EACH ROW "
        "INSERT INTO isolationapp_auditentry (source, source_id) VALUES ('audited', NEW.id)",
        "CREATE VIEW isolationapp_parent_names AS SELECT id, name FROM isolationapp_parent",
        "CREATE FUNCTION isolationapp_add_parent(parent_name VARCHAR(100)) RETURNS BIGINT "
        "NOT DETERMINISTIC MODIFIES SQL DATA "
        "BEGIN INSERT INTO isolationapp_parent (name) VALUES (parent_name); RETURN LAST_INSERT_ID(); END",
        "CREATE PROCEDURE isolationapp_add_parent_proc(IN parent_name VARCHAR(100)) MODIFIES SQL DATA "
        "INSERT INTO isolationapp_parent (name) VALUES (parent_name)",
    ],
}

BACKWARD = {
    "sqlite": [
        "DROP TRIGGER isolationapp_parent_names_insert",
        "DROP VIEW isolationapp_parent_names",
        "DROP TRIGGER isolationapp_audited_audit",
    ],
    "postgresql": [
        "DROP PROCEDURE isolationapp_add_parent_proc(text)",
        "DROP FUNCTION isolationapp_add_parent(text)",
        "DROP RULE isolationapp_ruled_audit ON isolationapp_ruled",
        "DROP VIEW isolationapp_parent_names",
        "DROP TRIGGER isolationapp_audited_audit ON isolationapp_audited",
        "DROP FUNCTION isolationapp_audit_insert()",
    ],
    "mysql": [
        "DROP PROCEDURE isolationapp_add_parent_proc",
        "DROP FUNCTION isolationapp_add_parent",
        "DROP VIEW isolationapp_parent_names",
        "DROP TRIGGER isolationapp_audited_audit",
    ],
}


def run_for_vendor(statements):
    def run(apps, schema_editor):
        for statement in statements[schema_editor.connection.vendor]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("isolationapp", "0001_initial")]

    operations = [
        # RunSQL with the statements of the backend migrating (RunSQL alone
        # cannot choose by vendor). Not atomic: MariaDB refuses DDL inside a
        # transaction (the migration stays atomic where DDL is transactional).
        migrations.RunPython(run_for_vendor(FORWARD), run_for_vendor(BACKWARD), atomic=False),
    ]
