"""Unmanaged models: stock Django has no tables for them ("no such table: ACCOUNTS")."""

from crm.models import Account, Contact
from django.test import TestCase


class LegacyTablesTests(TestCase):
    databases = {"default", "crm"}

    def test_fk_and_m2m(self):
        account = Account.objects.create(acronym="NEW")
        contact = Contact.objects.create(account=account, email="x@example.com")
        contact.accounts_followed.add(account)
        self.assertEqual(Account.objects.get(acronym="NEW").followers.get(), contact)
