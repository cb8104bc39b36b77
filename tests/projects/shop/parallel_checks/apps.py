"""With SHOP_PAUSE_IN_SETUP=1, pause the run half-way through database setup."""

import os

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def pause_after_crm_is_migrated(sender, using, **kwargs):
    """Once ``crm``'s test database is migrated (``default``'s already is), wait for ``release``."""
    from .scenarios import REPORT_DIR, wait_for

    if using != "crm" or sender.label != "crm":
        return
    (REPORT_DIR / f"started-{os.getpid()}").touch()
    wait_for(lambda: (REPORT_DIR / "release").exists(), "the release file")


class ParallelChecksConfig(AppConfig):
    name = "parallel_checks"

    def ready(self):
        if os.environ.get("SHOP_PAUSE_IN_SETUP") == "1":
            # This app has no models, so it gets no post_migrate of its own.
            post_migrate.connect(pause_after_crm_is_migrated)
