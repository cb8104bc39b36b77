class UsersRouter:
    def db_for_read(self, model, **hints):
        return "users"

    def db_for_write(self, model, **hints):
        return "users"

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db in ("users", "events")
