from django.db import models


class Attendee(models.Model):
    """A person registered with one tenant; each tenant has its own database."""

    name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)

    def __str__(self):
        return self.name
