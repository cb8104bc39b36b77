from django.test import TestCase

from .models import Account, AccountReadOnly


class TwinTests(TestCase):
    def test_the_twin_reads_the_managed_table(self):
        Account.objects.create(name="one")
        self.assertEqual(AccountReadOnly.objects.get().name, "one")
