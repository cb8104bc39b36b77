"""A data migration written the way Django's documentation shows: on the alias it is given."""

from django.db import migrations


def add_currencies(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    Currency = apps.get_model("ledger", "Currency")
    Currency.objects.using(db_alias).bulk_create([Currency(code="EUR"), Currency(code="USD")])


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(add_currencies, migrations.RunPython.noop)]
