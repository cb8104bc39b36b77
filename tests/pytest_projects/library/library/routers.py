"""Books are read from the replica; reviews live on 'other'; the archive on 'legacy', never migrated."""


class LibraryRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label == "archive":
            return "legacy"
        if model._meta.model_name == "review":
            return "other"
        if model._meta.model_name == "book":
            return "replica"
        return None

    def db_for_write(self, model, **hints):
        if model._meta.app_label == "archive":
            return "legacy"
        if model._meta.model_name == "review":
            return "other"
        return None

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "archive" or db == "legacy":
            return False
        if model_name == "review":
            return db == "other"
        return db == "default"
