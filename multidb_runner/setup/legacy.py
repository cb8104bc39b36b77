"""
Tables for legacy (``managed = False``) models in the test databases.

Stock Django never creates these tables: migrations record ``managed: False``
(so flipping ``_meta.managed`` at run time does not reach migration state)
and legacy routers usually refuse ``allow_migrate`` for them. The runner
treats them as managed for the run, creates their tables after migrations in
the test database of every alias they belong to, and answers
``allow_migrate`` for them there so ``flush``, ``loaddata`` and sequence
resets include them like any other table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import DatabaseError, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionRouter

from ..changes import ChangeStack, attribute_replaced
from ..errors import ConfigurationError, sentence

ModelType = type[models.Model]


def find_legacy_models() -> list[ModelType]:
    """Return every concrete ``managed = False`` model that is not proxy or swapped."""
    return [
        model
        for model in apps.get_models()
        if not model._meta.managed and not model._meta.proxy and not model._meta.swapped
    ]


def auto_created_through_models(model: ModelType) -> list[ModelType]:
    """Return the auto-created M2M tables that ``model`` owns."""
    throughs: list[ModelType] = [field.remote_field.through for field in model._meta.local_many_to_many]  # type: ignore[misc]
    return [through for through in throughs if through._meta.auto_created]


class ManagedFlip:
    """Treat legacy models (and their M2M tables) as managed until restored."""

    def __init__(self) -> None:
        self.flipped: list[ModelType] = []

    def apply(self, legacy_models: Iterable[ModelType]) -> None:
        for model in legacy_models:
            for candidate in (model, *auto_created_through_models(model)):
                if not candidate._meta.managed:
                    candidate._meta.managed = True
                    self.flipped.append(candidate)

    def restore(self) -> None:
        self.suspend()
        self.flipped.clear()

    def suspend(self) -> None:
        """Treat the flipped models as unmanaged again, until ``resume()``."""
        for model in self.flipped:
            model._meta.managed = False

    def resume(self) -> None:
        for model in self.flipped:
            model._meta.managed = True

    @contextmanager
    def resumed(self) -> Iterator[None]:
        """Treat the legacy models as managed while active (in ``suspended()``: their tables' indexes)."""
        self.resume()
        try:
            yield
        finally:
            self.suspend()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """
        Leave the legacy models unmanaged while active (while migrations run).

        In an app without migrations, ``migrate``'s syncdb creates the tables
        of managed models: a legacy model treated as managed would get its
        table then, before the migrations of the other apps, and clash with a
        managed model's table of the same name (a read-only twin) or with a
        table or view a migration creates later. The runner creates legacy
        tables itself, after the migrations, where nothing else did.
        """
        self.suspend()
        try:
            yield
        finally:
            self.resume()


def aliases_for_model(model: ModelType, candidates: Iterable[str], mirrors: Mapping[str, str]) -> list[str]:
    """
    Return the aliases among ``candidates`` whose test database needs ``model``'s table.

    Those are where the routers send its reads and writes (a mirror counts as
    its primary) and every alias whose router allows migrating it, provided
    the model may live on that backend (``required_db_vendor`` and
    ``required_db_features``). Call this after the model is treated as managed.
    """
    candidates = list(candidates)
    wanted = {router.db_for_write(model), router.db_for_read(model)}
    wanted = {mirrors.get(alias, alias) for alias in wanted if alias}
    wanted.update(alias for alias in candidates if router.allow_migrate_model(alias, model))
    return [alias for alias in candidates if alias in wanted and model._meta.can_migrate(alias)]


class LegacyTablesRouter:
    """
    Allow migrating a legacy model on the aliases where the runner gives it a table.

    Asked before the project's routers for the run (``router_installed``).
    It answers only for those (alias, model) pairs and defers to the
    project's routers otherwise.
    """

    def __init__(self, tables_by_alias: Mapping[str, Iterable[ModelType]]) -> None:
        self.allowed: set[tuple[str, str, str]] = set()
        for alias, legacy_models in tables_by_alias.items():
            for model in legacy_models:
                for candidate in (model, *auto_created_through_models(model)):
                    self.allowed.add((alias, candidate._meta.app_label, candidate._meta.model_name or ""))

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if model_name and (db, app_label, model_name) in self.allowed:
            return True
        return None


def router_installed(legacy_router: LegacyTablesRouter) -> AbstractContextManager[None]:
    """
    Ask ``legacy_router`` before the project's routers while active.

    Django's ``ConnectionRouter.allow_migrate`` consults it first; it never
    appears in ``router.routers``, so code that reads or overrides the list
    (``override_settings(DATABASE_ROUTERS=...)``) sees only the project's
    routers, and the legacy tables stay reachable all the same.
    """
    original = vars(ConnectionRouter)["allow_migrate"]

    def allow_migrate(self: ConnectionRouter, db: str, app_label: str, **hints: Any) -> bool:
        answer = legacy_router.allow_migrate(db, app_label, **hints)
        if answer is not None:
            return answer
        return original(self, db, app_label, **hints)  # type: ignore[no-any-return]

    return attribute_replaced(ConnectionRouter, "allow_migrate", allow_migrate)


@dataclass(frozen=True)
class LegacyRoutes:
    """The change ``router_installed`` makes, as a worker replays it: the (alias, app_label, model_name) allowed."""

    allowed: frozenset[tuple[str, str, str]]

    def apply(self, stack: ChangeStack) -> None:
        legacy_router = LegacyTablesRouter({})
        legacy_router.allowed = set(self.allowed)
        stack.enter(router_installed(legacy_router))


@dataclass(frozen=True)
class ManagedModels:
    """The legacy models treated as managed for the run, by (app_label, model_name), as a worker replays them."""

    models: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, models: Iterable[ModelType]) -> ManagedModels:
        return cls(tuple((model._meta.app_label, model._meta.model_name or "") for model in models))

    def apply(self, stack: ChangeStack) -> None:
        flip = ManagedFlip()
        flip.apply(apps.get_model(app_label, model_name) for app_label, model_name in self.models)
        stack.callback(flip.restore)


def table_key(connection: BaseDatabaseWrapper) -> Callable[[str], str]:
    """
    Return how ``connection``'s database compares table names.

    SQLite's names are case-insensitive, and so are MySQL's and MariaDB's
    where ``lower_case_table_names`` is set (Windows, macOS, many hosted
    servers): ``A01`` is the table ``a01`` there.
    """
    convert = connection.introspection.identifier_converter
    folded = connection.vendor == "sqlite"
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@lower_case_table_names")
            row = cursor.fetchone()
        folded = bool(row and int(row[0]))
    if folded:
        return lambda name: str(convert(name)).lower()
    return lambda name: str(convert(name))


def existing_tables(connection: BaseDatabaseWrapper, key: Callable[[str], str]) -> dict[str, str]:
    """Map the tables and views of ``connection``'s database (by ``key``) to their type ("t" or "v")."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_table_list(cursor)
    return {key(info.name): info.type for info in found}


def legacy_table_names(model: ModelType) -> list[str]:
    """Return the tables of ``model``: its own and its auto-created M2M tables."""
    return [model._meta.db_table, *(m2m._meta.db_table for m2m in auto_created_through_models(model))]


def create_legacy_tables(connection: BaseDatabaseWrapper, legacy_models: Iterable[ModelType]) -> list[str]:
    """
    Create the missing tables of ``legacy_models`` in ``connection``'s test database.

    A table or view that already exists (a managed model's table that an
    unmanaged twin reads, a kept database, a table made by ``migrate
    --run-syncdb`` when migrations are disabled, a view made by a RunSQL
    migration; compared as the database compares names) is left alone. Foreign keys get a constraint only when
    the table they point to exists in the same database: a legacy model that
    refers to a table of another database must not fail to be created.
    Return the legacy tables of this database, M2M tables included, whoever
    created them (views are not listed).
    """
    legacy_models = list(legacy_models)
    convert = table_key(connection)
    present = existing_tables(connection, convert)
    to_create = []
    claimed = set(present)
    for model in legacy_models:
        # One table per name: two unmanaged twins of one table get it once.
        if convert(model._meta.db_table) not in claimed:
            to_create.append(model)
            claimed.add(convert(model._meta.db_table))
    will_exist = set(present) | {convert(name) for model in to_create for name in legacy_table_names(model)}
    with ExitStack() as stack:
        for model in to_create:
            for candidate in (model, *auto_created_through_models(model)):
                for field in candidate._meta.local_fields:
                    target = getattr(field.remote_field, "model", None)
                    if (
                        target is not None
                        and getattr(field, "db_constraint", False)
                        and convert(target._meta.db_table) not in will_exist
                    ):
                        stack.enter_context(constraint_dropped(field))
        current = None
        try:
            with connection.schema_editor() as editor:
                for current in to_create:
                    editor.create_model(current)
                current = None
        except DatabaseError as exc:
            which = f"legacy model {current._meta.label}" if current is not None else "legacy models"
            raise ConfigurationError(
                f"Could not create the table of {which} in the test database of alias "
                f"{connection.alias!r}: {sentence(exc)} Make the router refuse that model on this "
                "alias, or run with --no-managed-legacy."
            ) from exc
    created = {convert(name) for model in to_create for name in legacy_table_names(model)}
    return [
        name
        for model in legacy_models
        for name in legacy_table_names(model)
        if convert(name) in created or present.get(convert(name)) == "t"
    ]


@contextmanager
def constraint_dropped(field: Any) -> Iterator[None]:
    """Create ``field`` without its foreign key constraint while active."""
    field.db_constraint = False
    try:
        yield
    finally:
        field.db_constraint = True


def tables_by_alias(
    legacy_models: Iterable[ModelType], aliases: Iterable[str], mirrors: Mapping[str, str]
) -> dict[str, list[ModelType]]:
    """Map each alias of ``aliases`` to the legacy models that need a table there."""
    aliases = list(aliases)
    result: dict[str, list[ModelType]] = {alias: [] for alias in aliases}
    for model in legacy_models:
        for alias in aliases_for_model(model, aliases, mirrors):
            result[alias].append(model)
    return {alias: found for alias, found in result.items() if found}


def route_legacy_models(
    creations: Sequence[tuple[str, Sequence[str]]], mirrors: Mapping[str, str], flip: ManagedFlip
) -> tuple[dict[str, list[ModelType]], LegacyTablesRouter | None]:
    """
    Treat legacy models as managed and route them to their test databases.

    ``creations`` is the plan's (first alias, aliases sharing its test
    database). Return the legacy models to create, keyed by the first alias
    of each test database, and the router that lets flush, loaddata and
    sequence resets reach them (None when there are none).
    """
    legacy_models = find_legacy_models()
    if not legacy_models:
        return {}, None
    flip.apply(legacy_models)
    # Aliases sharing a test database count as that database's first alias.
    database_of = {alias: first for first, aliases in creations for alias in aliases}
    route = dict(database_of)
    route.update({mirror: database_of[primary] for mirror, primary in mirrors.items() if primary in database_of})
    by_alias = tables_by_alias(legacy_models, list(database_of), route)
    by_database: dict[str, list[ModelType]] = {}
    for alias, found in by_alias.items():
        models = by_database.setdefault(database_of[alias], [])
        models.extend(model for model in found if model not in models)
    routed = {alias: by_database[first] for alias, first in database_of.items() if first in by_database}
    return by_database, LegacyTablesRouter(routed)
