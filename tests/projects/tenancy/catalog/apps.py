import os

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def log_migrated_alias(sender, using, **kwargs):
    """A project's post_migrate receiver: it may do anything (here: append the alias to a file)."""
    with open(os.environ["TENANCY_POST_MIGRATE_LOG"], "a") as log:
        log.write(f"{using}\n")


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self):
        # TENANCY_POST_MIGRATE_LOG: the file the receiver appends to (no receiver without it).
        if os.environ.get("TENANCY_POST_MIGRATE_LOG"):
            post_migrate.connect(log_migrated_alias, sender=self)
