"""A migration added on another branch: a column the tests of that branch read."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_entry_memo")]
    operations = [migrations.AddField("currency", "name", models.CharField(max_length=40, null=True))]
