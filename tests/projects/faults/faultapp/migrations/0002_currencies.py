from django.db import migrations


def add_currencies(apps, schema_editor):
    Currency = apps.get_model("faultapp", "Currency")
    Currency.objects.using(schema_editor.connection.alias).bulk_create(
        [Currency(code="EUR"), Currency(code="USD")]
    )


class Migration(migrations.Migration):
    dependencies = [("faultapp", "0001_initial")]

    operations = [migrations.RunPython(add_currencies, migrations.RunPython.noop)]
