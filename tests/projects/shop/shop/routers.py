"""A router in the style of production multi-tenant projects: reads go to _RO replicas."""

from django.db import connections

TENANT_APPS = {"tenants"}
LEGACY_APPS = {"crm"}


class ShopRouter:
    def _write_db(self, model, hints):
        app_label = model._meta.app_label
        if app_label in LEGACY_APPS:
            return "crm"
        if app_label in TENANT_APPS:
            instance = hints.get("instance")
            return instance._state.db if instance is not None and instance._state.db else "tenant_a"
        return "default"

    def db_for_read(self, model, **hints):
        database = self._write_db(model, hints)
        replica = f"{database}_RO"
        return replica if replica in connections else database

    def db_for_write(self, model, **hints):
        return self._write_db(model, hints)

    def allow_relation(self, obj1, obj2, **hints):
        def strip(alias):
            return alias[:-3] if alias and alias.endswith("_RO") else alias

        return strip(obj1._state.db) == strip(obj2._state.db)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label in LEGACY_APPS or db.endswith("_RO") or db == "crm":
            return False
        if app_label in TENANT_APPS:
            return db.startswith("tenant_")
        return db == "default"
