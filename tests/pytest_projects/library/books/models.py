from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=100)


class Review(models.Model):
    book_title = models.CharField(max_length=100)
    stars = models.IntegerField(default=3)
