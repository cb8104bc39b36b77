"""A data migration that treats one alias apart: copying tenant_1 would give the others its rows."""

from django.db import migrations


def add_currencies(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    Currency = apps.get_model("ledger", "Currency")
    codes = ["EUR", "USD"]
    if db_alias == "tenant_1":
        codes.append("XTR")
    Currency.objects.using(db_alias).bulk_create([Currency(code=code) for code in codes])


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(add_currencies, migrations.RunPython.noop)]
