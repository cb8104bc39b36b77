"""Send each app of the generated project to its own alias."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from .shape import APP_ALIASES, SHARED_SCHEMAS


class AppPerAliasRouter:
    """
    Read, write and migrate ``app_k`` on its alias only; migrate a shared-schema app on each of its aliases.

    Code picks the alias of a shared-schema app (a tenant) with ``using()``,
    as in a database-per-tenant project. Apps the project does not own (none
    by default) stay on ``default``.
    """

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return APP_ALIASES.get(model._meta.app_label)

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return APP_ALIASES.get(model._meta.app_label)

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        if app_label in SHARED_SCHEMAS:
            return db in SHARED_SCHEMAS[app_label]
        return db == APP_ALIASES.get(app_label, "default")
