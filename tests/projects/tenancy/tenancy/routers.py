from django.db import connections

TENANT_APPS = {"ledger"}


class TenancyRouter:
    """``catalog`` and Django's apps on default; ``ledger`` on the tenants and, but for entries, on the archive."""

    def db_for_read(self, model, **hints):
        return "default" if model._meta.app_label not in TENANT_APPS else None

    def db_for_write(self, model, **hints):
        return self.db_for_read(model, **hints)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label in TENANT_APPS:
            if db == "archive":
                return model_name != "entry"
            return db.startswith("tenant_")
        return db == "default"


class QueryingTenancyRouter(TenancyRouter):
    """The same answers, after a query on the alias's database (django-pgtrigger's test router reads the version)."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        with connections[db].cursor() as cursor:
            cursor.execute("SELECT 1")
        return super().allow_migrate(db, app_label, model_name=model_name, **hints)
