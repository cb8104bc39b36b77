from django.db import models


class LedgerEntry(models.Model):
    """Lives in the ``other`` database."""

    label = models.CharField(max_length=50)
