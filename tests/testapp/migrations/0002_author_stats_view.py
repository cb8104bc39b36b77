from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE VIEW testapp_author_stats AS "
            "SELECT a.id AS id, a.name AS name, "
            "(SELECT COUNT(*) FROM testapp_book b WHERE b.author_id = a.id) AS books "
            "FROM testapp_author a",
            "DROP VIEW testapp_author_stats",
        ),
    ]
