"""No class here declares ``databases``: stock Django forbids every alias but default."""

from crm.models import Account, Contact
from django.test import TestCase, TransactionTestCase, tag
from orders.models import Order
from tenants.models import Invoice


@tag("undeclared")
class UndeclaredTestCase(TestCase):
    def test_writes_on_every_alias(self):
        Order.objects.create(reference="A")
        Invoice.objects.using("tenant_b").create(number=1)
        Account.objects.create(acronym="NEW")
        self.assertTrue(Account.objects.using("crm").filter(acronym="NEW").exists())
        self.assertEqual(Invoice.objects.using("tenant_b").count(), 1)
        self.assertEqual(Invoice.objects.using("tenant_a").count(), 0)

    def test_rolled_back_everywhere(self):
        Invoice.objects.using("tenant_a").create(number=2)
        self.assertEqual(Invoice.objects.using("tenant_b").count(), 0)
        self.assertEqual(Account.objects.using("crm").count(), 0)


@tag("undeclared", "transactional")
class UndeclaredTransactionTestCase(TransactionTestCase):
    def test_1_write(self):
        account = Account.objects.create(acronym="ACME")
        contact = Contact.objects.create(account=account, email="a@example.com")
        contact.accounts_followed.add(account)
        Invoice.objects.using("tenant_b").create(number=3)
        Order.objects.create(reference="B")

    def test_2_nothing_left(self):
        self.assertFalse(Account.objects.exists())
        self.assertFalse(Contact.objects.exists())
        self.assertFalse(Contact.accounts_followed.through.objects.using("crm").exists())
        self.assertFalse(Invoice.objects.using("tenant_b").exists())
        self.assertFalse(Order.objects.using("default").exists())
