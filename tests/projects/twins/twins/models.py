"""A managed model and its unmanaged read-only twin over the same table; an app without migrations."""

from django.db import models


class Account(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        db_table = "twin_accounts"


class AccountReadOnly(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        managed = False
        db_table = "twin_accounts"
