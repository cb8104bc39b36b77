from django.db import models


class Organizer(models.Model):
    """A company that runs events; read from the replica, written to the primary."""

    name = models.CharField(max_length=100, unique=True)

    _DATABASE = "default"
    _PREFER_READ_REPLICA = True

    def __str__(self):
        return self.name


class Event(models.Model):
    organizer = models.ForeignKey(Organizer, on_delete=models.CASCADE, related_name="events")
    title = models.CharField(max_length=200)
    starts_on = models.DateField()

    _DATABASE = "default"
    _PREFER_READ_REPLICA = True

    def __str__(self):
        return self.title
