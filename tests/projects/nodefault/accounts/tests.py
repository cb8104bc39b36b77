from django.test import TestCase

from accounts.models import Account


class AccountTests(TestCase):
    def test_users_and_events(self):
        Account.objects.create(name="a")
        Account.objects.using("events").create(name="b")
        self.assertEqual(Account.objects.count(), 1)
        self.assertEqual(Account.objects.using("events").count(), 1)


class EveryDatabaseTests(TestCase):
    databases = "__all__"

    def test_all_means_every_usable_alias(self):
        self.assertEqual(set(type(self).databases), {"users", "events"})
