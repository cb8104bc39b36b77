from django.db import models


class Customer(models.Model):
    """A table of the legacy database, which Django does not manage."""

    name = models.CharField(max_length=50)

    class Meta:
        managed = False
        db_table = "legacy_customer"
