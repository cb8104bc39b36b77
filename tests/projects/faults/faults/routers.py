"""Each app to its own database; the legacy tables are never migrated."""

APP_DATABASES = {"faultapp": "default", "otherapp": "other", "legacyapp": "legacy"}


class FaultsRouter:
    def db_for_read(self, model, **hints):
        return APP_DATABASES.get(model._meta.app_label)

    def db_for_write(self, model, **hints):
        return APP_DATABASES.get(model._meta.app_label)

    def allow_relation(self, obj1, obj2, **hints):
        return obj1._state.db == obj2._state.db

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "legacyapp" or db in ("legacy", "replica"):
            return False
        return APP_DATABASES.get(app_label, "default") == db
