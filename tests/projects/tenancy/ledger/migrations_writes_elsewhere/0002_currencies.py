"""A data migration that also writes to another database, through the router (no ``using``)."""

from django.db import migrations


def add_currencies(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    Currency = apps.get_model("ledger", "Currency")
    Currency.objects.using(db_alias).bulk_create([Currency(code="EUR"), Currency(code="USD")])
    apps.get_model("catalog", "Product").objects.create(name="made by a ledger migration")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial"), ("catalog", "0001_initial")]
    operations = [migrations.RunPython(add_currencies, migrations.RunPython.noop)]
