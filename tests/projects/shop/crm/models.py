"""Tables of a legacy CRM database that Django does not manage."""

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
