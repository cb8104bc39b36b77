"""
Tables of a database that existed before Django: Django must never alter them.

``managed = False`` keeps migrations away from the schema; ``db_table`` and
``db_column`` map the existing names.
"""

from django.db import models


class Account(models.Model):
    acronym = models.CharField(db_column="ACRONYM", primary_key=True, max_length=20)
    accountname = models.CharField(db_column="ACCOUNTNAME", max_length=75, blank=True, null=True)
    active = models.BooleanField(db_column="ACTIVE", blank=True, null=True)

    class Meta:
        managed = False
        db_table = "accounts"
        ordering = ["acronym"]

    _DATABASE = "legacy"

    def __str__(self):
        return self.acronym


class Topic(models.Model):
    label = models.CharField(db_column="LABEL", max_length=50, unique=True)

    class Meta:
        managed = False
        db_table = "topics"

    _DATABASE = "legacy"

    def __str__(self):
        return self.label


class Conference(models.Model):
    code = models.CharField(db_column="CFCNF", primary_key=True, max_length=8)
    name = models.CharField(db_column="CFNAME", max_length=100, blank=True, null=True)
    sponsor = models.ForeignKey(Account, db_column="SPONSOR", on_delete=models.DO_NOTHING, related_name="conferences")
    topics = models.ManyToManyField(Topic, db_table="confrnce_topics", related_name="conferences")

    class Meta:
        managed = False
        db_table = "confrnce"

    _DATABASE = "legacy"

    def __str__(self):
        return self.code
