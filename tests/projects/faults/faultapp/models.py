from django.db import models


class Order(models.Model):
    reference = models.CharField(max_length=50)


class Currency(models.Model):
    """Reference data that a data migration fills: serialized_rollback has something to restore."""

    code = models.CharField(max_length=3, unique=True)
