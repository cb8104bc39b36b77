"""Tables of a legacy CRM database that Django does not manage."""

import os

from django.db import models


class Account(models.Model):
    acronym = models.CharField(max_length=10, unique=True)

    class Meta:
        managed = False
        db_table = "ACCOUNTS"


class Contact(models.Model):
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_column="ACCOUNT_ID")
    email = models.CharField(max_length=100, db_index=True)
    accounts_followed = models.ManyToManyField(Account, related_name="followers")

    class Meta:
        managed = False
        db_table = "CONTACTS"


if os.environ.get("SHOP_UNCREATABLE_LEGACY") == "1":

    class ArchivedOrder(models.Model):
        """A table in another schema, which the test database does not have."""

        class Meta:
            managed = False
            db_table = '"archive"."orders"'
