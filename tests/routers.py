"""The test project's router: legacy models live on 'legacy' and are never migrated."""


class LegacyRouter:
    def _is_legacy(self, app_label):
        return app_label == "legacyapp"

    def db_for_read(self, model, **hints):
        return "legacy" if self._is_legacy(model._meta.app_label) else None

    def db_for_write(self, model, **hints):
        return "legacy" if self._is_legacy(model._meta.app_label) else None

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if self._is_legacy(app_label):
            return False
        if db == "legacy":
            return False
        return None
