"""One database per tenant: what one tenant writes, the other never sees."""

from django.db import connections
from django.test import TestCase

from .context import tenant
from .models import Attendee


class TenantIsolationTests(TestCase):
    # Stock DiscoverRunner: tenant_acme and tenant_globex are not in
    # TestCase.databases, so every query raises DatabaseOperationForbidden;
    # each tenant test class would have to list them (and every new tenant).

    def test_each_tenant_sees_only_its_own_attendees(self):
        with tenant("acme"):
            Attendee.objects.create(name="Ann", email="ann@acme.example")
        with tenant("globex"):
            Attendee.objects.create(name="Gus", email="gus@globex.example")
            self.assertQuerySetEqual(Attendee.objects.values_list("name", flat=True), ["Gus"])
        with tenant("acme"):
            self.assertQuerySetEqual(Attendee.objects.values_list("name", flat=True), ["Ann"])

    def test_unique_email_is_per_tenant(self):
        for name in ("acme", "globex"):
            with tenant(name):
                Attendee.objects.create(name="Sam", email="sam@example.com")
        self.assertEqual(Attendee.objects.using("tenant_acme").count(), 1)
        self.assertEqual(Attendee.objects.using("tenant_globex").count(), 1)

    def test_tenant_databases_hold_tenant_tables_only(self):
        # The router migrates the tenants app on tenant_* aliases, core on default.
        for alias in ("tenant_acme", "tenant_globex"):
            with self.subTest(alias=alias):
                tables = connections[alias].introspection.table_names()
                self.assertIn("tenants_attendee", tables)
                self.assertNotIn("core_organizer", tables)
