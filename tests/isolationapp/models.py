"""
Models whose tables a selective flush must get right.

Migration 0002 adds database objects Django does not model: an AFTER INSERT
trigger on ``Audited`` that writes into ``AuditEntry``, an insertable view
over ``Parent`` (``isolationapp_parent_names``), on PostgreSQL a rule on
``Ruled`` that also writes into ``AuditEntry``, and on PostgreSQL and
MariaDB a function and a procedure that insert into ``Parent``.
"""

from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)
    uses = models.IntegerField(default=0)


class Parent(models.Model):
    name = models.CharField(max_length=100)
    tags = models.ManyToManyField(Tag, blank=True, related_name="parents")


class Child(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE, related_name="children")
    name = models.CharField(max_length=100)


class MixedCase(models.Model):
    """A table whose name only matches when quoted: case folding must not touch it."""

    label = models.CharField(max_length=100)

    class Meta:
        db_table = "IsoMixedCase"


class SpacedName(models.Model):
    """A table name with spaces and capitals, which every backend must quote."""

    label = models.CharField(max_length=100)

    class Meta:
        db_table = "Iso Spaced Name"


class Audited(models.Model):
    """Every insert fires a trigger that writes an ``AuditEntry`` row."""

    value = models.IntegerField()


class AuditEntry(models.Model):
    """Written by the trigger on ``Audited`` (and the rule on ``Ruled``), never by Django."""

    source = models.CharField(max_length=20)
    source_id = models.BigIntegerField()


class Ruled(models.Model):
    """On PostgreSQL a rule copies every insert into ``AuditEntry``; elsewhere a plain table."""

    value = models.IntegerField()


class Scratch(models.Model):
    """Created by the last migration, so a test can migrate back and forth over it."""

    note = models.CharField(max_length=100)
