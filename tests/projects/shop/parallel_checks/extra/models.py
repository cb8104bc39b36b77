from django.db import models


class Shipment(models.Model):
    tracking = models.CharField(max_length=20)
