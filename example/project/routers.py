"""
The project's database router, in the style of a production multi-tenant setup.

Models name their database in a ``_DATABASE`` attribute. Reads go to that
database's ``_RO`` replica when one is configured, writes to the primary.
Tenant models have no fixed database: they go to the active tenant's.
"""

from django.conf import settings

from tenants.context import current_tenant_alias

REPLICA_SUFFIX = "_RO"
LEGACY_APP = "legacy"
LEGACY_DATABASE = "legacy"
TENANT_APP = "tenants"
TENANT_PREFIX = "tenant_"


def primary_of(alias):
    """Return the primary alias of a replica alias (``default_RO`` -> ``default``)."""
    if alias and alias.endswith(REPLICA_SUFFIX):
        return alias[: -len(REPLICA_SUFFIX)]
    return alias


class DBRouter:
    def database_of(self, model):
        # An auto-created M2M table lives with the model that declares the field.
        model = model._meta.auto_created or model
        if model._meta.app_label == TENANT_APP:
            return current_tenant_alias()
        return getattr(model, "_DATABASE", None)

    def db_for_read(self, model, **hints):
        """Send reads to the replica when the model prefers it and one exists."""
        database = self.database_of(model)
        if database and getattr(model, "_PREFER_READ_REPLICA", False):
            replica = f"{database}{REPLICA_SUFFIX}"
            if replica in settings.DATABASES:
                return replica
        return database

    def db_for_write(self, model, **hints):
        """Never write to a replica."""
        return primary_of(self.database_of(model))

    def allow_relation(self, obj1, obj2, **hints):
        """Relate objects of the same database, a replica counting as its primary."""
        db1 = primary_of(obj1._state.db or self.database_of(type(obj1)))
        db2 = primary_of(obj2._state.db or self.database_of(type(obj2)))
        if db1 and db2:
            return db1 == db2
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        """Migrate nothing on replicas or the legacy database, tenants only on tenants."""
        if app_label == LEGACY_APP or db == LEGACY_DATABASE or db.endswith(REPLICA_SUFFIX):
            return False
        if app_label == TENANT_APP:
            return db.startswith(TENANT_PREFIX)
        # Core, auth and contenttypes live on default only.
        return db == "default"
