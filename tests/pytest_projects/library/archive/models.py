from django.db import models


class Record(models.Model):
    """A table of the legacy database, which Django does not manage."""

    label = models.CharField(max_length=100)

    class Meta:
        managed = False
        db_table = "archive_record"
