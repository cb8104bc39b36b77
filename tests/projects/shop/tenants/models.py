from django.db import models


class Invoice(models.Model):
    number = models.IntegerField()
