"""A MultiDBRunner that reports, after the run, whether Django was left as found."""

import os

from crm.models import Account, Contact
from django.db import connections, router

from multidb_runner import MultiDBRunner


class CheckingRunner(MultiDBRunner):
    def run_checks(self, databases):
        if os.environ.get("SHOP_FAIL_CHECKS") == "1":
            raise RuntimeError("checks exploded on purpose")
        super().run_checks(databases)

    def teardown_databases(self, old_config, **kwargs):
        if os.environ.get("SHOP_PAUSE_IN_TEARDOWN") == "1":
            # Pause after the first test database is destroyed, for Ctrl-C.
            from parallel_checks.scenarios import REPORT_DIR, wait_for

            creation = old_config[0][0].creation
            destroy = creation.destroy_test_db

            def destroy_then_pause(*args, **kwargs):
                destroy(*args, **kwargs)
                creation.destroy_test_db = destroy
                (REPORT_DIR / f"started-{os.getpid()}").touch()
                wait_for(lambda: (REPORT_DIR / "release").exists(), "the release file")

            creation.destroy_test_db = destroy_then_pause
        super().teardown_databases(old_config, **kwargs)

    def run_tests(self, test_labels, **kwargs):
        from checks.test_all_aliases import AllAliasesTests
        from checks.test_undeclared import UndeclaredTestCase

        try:
            return super().run_tests(test_labels, **kwargs)
        finally:
            replica = connections["default_RO"]
            state = {
                "undeclared": UndeclaredTestCase.__dict__.get("databases", "unset"),
                "all": AllAliasesTests.__dict__.get("databases"),
                "managed": (Account._meta.managed, Contact._meta.managed),
                "replica_wrapper": type(replica).__name__,
                "replica_name": os.path.basename(replica.settings_dict["NAME"]),
                "replica_options": replica.settings_dict["OPTIONS"],
                "routers": [type(r).__name__ for r in router.routers],
            }
            print(f"STATE AFTER RUN: {state}")
