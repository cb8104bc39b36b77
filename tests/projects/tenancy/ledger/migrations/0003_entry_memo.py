from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_currencies")]
    operations = [migrations.AddField("entry", "memo", models.CharField(default="", max_length=40))]
