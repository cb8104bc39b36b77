"""Models of a legacy database that Django never manages."""

from django.db import models


class Region(models.Model):
    code = models.CharField(max_length=10, unique=True)

    class Meta:
        managed = False
        db_table = "legacy_region"


class Customer(models.Model):
    name = models.CharField(max_length=100, db_index=True)
    region = models.ForeignKey(Region, on_delete=models.DO_NOTHING, null=True)
    regions_served = models.ManyToManyField(Region, related_name="served_by")

    class Meta:
        managed = False
        db_table = "legacy_customer"
