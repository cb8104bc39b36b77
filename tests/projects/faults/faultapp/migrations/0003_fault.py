from django.db import migrations

from faults.injection import in_migration


class Migration(migrations.Migration):
    """The ``migrating`` phase of FAULTS_AT for ``default``."""

    dependencies = [("faultapp", "0002_currencies")]

    operations = [migrations.RunPython(in_migration, migrations.RunPython.noop)]
