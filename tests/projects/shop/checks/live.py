"""A live server reading through the replica and the legacy database (run by label)."""

import json
from urllib.request import urlopen

from crm.models import Account
from django.test import LiveServerTestCase
from orders.models import Order


class LiveServerTests(LiveServerTestCase):
    def test_server_thread_sees_committed_rows(self):
        Order.objects.create(reference="L1")
        Account.objects.create(acronym="LIVE")
        with urlopen(f"{self.live_server_url}/counts/") as response:
            self.assertEqual(json.load(response), {"orders": 1, "accounts": 1})

    def test_nothing_left_from_the_other_test(self):
        self.assertEqual(Order.objects.using("default").count(), 0)
        self.assertEqual(Account.objects.count(), 0)
