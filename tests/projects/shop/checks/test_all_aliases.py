"""``databases = "__all__"`` with a class-level feature skip: stock raises ValueError."""

from django.test import TestCase, skipUnlessDBFeature
from tenants.models import Invoice


@skipUnlessDBFeature("supports_transactions")
class AllAliasesTests(TestCase):
    databases = "__all__"

    def test_uses_a_tenant(self):
        Invoice.objects.using("tenant_b").create(number=4)
        self.assertEqual(Invoice.objects.using("tenant_b").count(), 1)
