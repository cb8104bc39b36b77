from django.db import models


class Currency(models.Model):
    code = models.CharField(max_length=3, unique=True)


class Entry(models.Model):
    currency = models.ForeignKey(Currency, on_delete=models.CASCADE)
    amount = models.IntegerField()
    memo = models.CharField(max_length=40, default="")
