"""
Which test databases get the same schema and data from the same migrations.

``migrate`` runs the same migrations on every alias; what differs between
two aliases is what the routers allow on each (``allow_migrate``), the
connection (engine, server, user, options, ``TEST`` settings), and any code
of the project that tells aliases apart. When none of these differs, the
second test database would be a copy of the first, and is made as one
(``copies.py``): a copy costs milliseconds, a migrate seconds.

"Same" is decided from facts that cannot be wrong, and anything in doubt
keeps the alias on its own ``migrate``:

- identical connection settings but for the database names;
- identical answers of the project's routers for every model, every app,
  and every migration operation that asks them (``RunPython`` and
  ``RunSQL`` with their hints, model operations by model name), given
  without a database: they are asked before any test database exists, so
  a router that queries its database (django-pgtrigger's test router reads
  the server's version) is refused the connection, and its aliases migrate;
- no migration code of the project that could tell the aliases apart: a
  ``RunPython`` function whose code names an alias or reads
  ``settings_dict`` or ``DATABASES``, a ``pre_migrate`` or ``post_migrate``
  receiver outside Django (it is given the alias), or a ``RunSQL`` that
  changes a database as a whole;
- the backend can copy a database (PostgreSQL, SQLite).

While the first of a group migrates, the other aliases' connections are
watched: a statement sent through one of them (a data migration writing
elsewhere through the routers) puts the group in doubt, and the others
migrate (``copies.py``).
"""

from __future__ import annotations

import dis
import functools
import re
import types
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import connections, router
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython, RunSQL
from django.db.models.signals import post_migrate, pre_migrate

#: Backends whose test database the runner can copy (``copies.py``).
COPYABLE_VENDORS = frozenset({"postgresql", "sqlite", "mysql"})
#: Settings that name a database, left out of the comparison.
NAME_KEYS = frozenset({"NAME"})
TEST_NAME_KEYS = frozenset({"NAME", "MIRROR", "DEPENDENCIES"})
#: Names in code that reads which database it runs on.
TELLING_NAMES = frozenset({"settings_dict", "DATABASES"})
#: The methods whose first argument is an app label, which may share its name with an alias.
APP_LABEL_METHODS = frozenset({"get_model", "get_app_config"})
WHOLE_DATABASE_SQL = re.compile(r"\bDATABASE\b", re.IGNORECASE)
ABSENT = object()


class ConnectionRefused(Exception):
    """A router asked for a connection while the aliases were compared."""


def own_wrappers() -> list[Any]:
    """
    Return this thread's database wrappers, each once.

    A mirror served by its primary's connection is a stand-in that sets
    attributes on the primary (``isolation/mirrors.py``): its primary's
    wrapper stands for it.
    """
    found: list[Any] = []
    for connection in connections.all():
        try:
            target = object.__getattribute__(connection, "_primary")
        except AttributeError:
            target = connection
        if not any(target is seen for seen in found):
            found.append(target)
    return found


@contextmanager
def connections_refused() -> Iterator[None]:
    """
    Refuse every connection (``ensure_connection``) while the routers are asked.

    Stock Django asks the routers during ``migrate``, once the test database
    exists and the alias names it. Asked before, a router that queries its
    database would connect to the real one, or fail where none exists: its
    answers depend on the database, and its aliases are in doubt. Set on
    each connection object for the questions only, never on a class.
    """

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefused

    saved = [(connection, vars(connection).get("ensure_connection", ABSENT)) for connection in own_wrappers()]
    for connection, _ in saved:
        connection.ensure_connection = refuse
    try:
        yield
    finally:
        for connection, original in saved:
            if original is ABSENT:
                del connection.ensure_connection
            else:
                connection.ensure_connection = original


def router_answer(db: str, app_label: str, **hints: Any) -> bool:
    """
    Return what the project's routers answer to ``allow_migrate`` (True when none answers).

    Django's ``ConnectionRouter.allow_migrate``, asked of the project's
    routers only: the runner's legacy router answers for unmanaged models,
    which ``migrate`` never creates.
    """
    for each in router.routers:
        method = getattr(each, "allow_migrate", None)
        if method is None:
            continue
        answer = method(db, app_label, **hints)
        if answer is not None:
            return bool(answer)
    return True


def code_objects(function: Any) -> Iterator[types.CodeType]:
    """Yield the code of ``function`` and of every function defined in it."""
    code = getattr(function, "__code__", None)
    if code is None:
        code = getattr(getattr(function, "__call__", None), "__code__", None)  # noqa: B004 - a callable object
    pending = [code] if code is not None else []
    while pending:
        current = pending.pop()
        yield current
        pending.extend(const for const in current.co_consts if isinstance(const, types.CodeType))


def string_constants(constants: Iterable[Any]) -> Iterator[str]:
    """Yield the strings among ``constants``, also inside tuples and frozensets (``x in {"a", "b"}``)."""
    for constant in constants:
        if isinstance(constant, str):
            yield constant
        elif isinstance(constant, (tuple, frozenset)):
            yield from string_constants(constant)


def is_djangos(function: Any) -> bool:
    """Return True for a function of Django itself."""
    module = getattr(function, "__module__", None) or ""
    return module == "django" or module.startswith("django.")


def may_tell_aliases_apart(function: Any, aliases: frozenset[str]) -> bool:
    """
    Return True if ``function``'s code could behave differently on two aliases.

    Django's own code never does (it receives the alias and uses it).
    Project code that names an alias in a literal, or reads the
    connection's settings, might: ``if schema_editor.connection.alias ==
    "default"``. Code that cannot be read counts as telling them apart.
    """
    if is_djangos(function):
        return False
    found = list(code_objects(function))
    if not found:
        return True
    for code in found:
        if TELLING_NAMES.intersection(code.co_names):
            return True
        if names_an_alias(code, aliases):
            return True
    return False


def names_an_alias(code: types.CodeType, aliases: frozenset[str]) -> bool:
    """
    Return True if ``code`` has an alias's name in a literal, other than as an app label.

    ``apps.get_model("other", "Seed")`` names the app ``other``, which may
    share its name with an alias: the literal right after ``get_model`` (or
    ``get_app_config``) is an app label. Anywhere else (``alias ==
    "default"``, ``using("tenant_1")``, ``alias in {"a", "b"}``) it may tell
    the aliases apart.
    """
    if not aliases.intersection(string_constants(code.co_consts)):
        return False
    previous = None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_CONST" and aliases.intersection(string_constants([instruction.argval])):
            is_app_label = (
                previous is not None
                and previous.opname in ("LOAD_ATTR", "LOAD_METHOD")
                and previous.argval in APP_LABEL_METHODS
            )
            if not is_app_label:
                return True
        if instruction.opname not in ("CACHE", "EXTENDED_ARG"):
            previous = instruction
    return False


def migration_operations(loader: MigrationLoader) -> Iterator[tuple[str, Any]]:
    """Yield (app_label, operation) for every migration on disk, nested operations included."""
    for (app_label, _name), migration in sorted(loader.disk_migrations.items()):
        pending = list(migration.operations)
        while pending:
            operation = pending.pop(0)
            pending.extend(getattr(operation, "database_operations", []) or [])
            yield app_label, operation


def migrate_receivers() -> list[Any]:
    """Return the functions connected to ``pre_migrate`` and ``post_migrate`` (a dead weak reference: none)."""
    found = []
    for signal in (pre_migrate, post_migrate):
        for entry in signal.receivers:
            reference = entry[1]
            receiver = reference() if isinstance(reference, weakref.ReferenceType) else reference
            if receiver is not None:
                found.append(getattr(receiver, "__func__", receiver))
    return found


def project_migrate_receivers() -> list[Any]:
    """Return the ``pre_migrate``/``post_migrate`` receivers that are not Django's (they may do anything)."""
    return [receiver for receiver in migrate_receivers() if not is_djangos(receiver)]


class SchemaFacts:
    """What decides an alias's migrated schema and data, read once for every alias."""

    def __init__(self, aliases: frozenset[str]) -> None:
        #: Every configured alias: a literal naming one in migration code is a doubt.
        self.aliases = aliases
        self.models = sorted(apps.get_models(include_auto_created=True), key=lambda model: model._meta.label_lower)
        self.app_labels = sorted(config.label for config in apps.get_app_configs())
        #: The migrations on disk, read once (schema keys read their files through it too).
        self.loader = MigrationLoader(None, ignore_no_migrations=True)
        self.operations = list(migration_operations(self.loader))
        self.cache_models = [
            cache.cache_model_class
            for cache in (caches[name] for name in settings.CACHES)
            if hasattr(cache, "cache_model_class")
        ]

    @functools.cached_property
    def code_in_doubt(self) -> bool:
        """Whether the project's code that runs during migrate might tell aliases apart."""
        # A receiver is given the alias, and may do anything with it.
        if project_migrate_receivers():
            return True
        functions: list[Any] = []
        for _app_label, operation in self.operations:
            if isinstance(operation, RunPython):
                functions += [operation.code, operation.reverse_code]
            elif isinstance(operation, RunSQL) and WHOLE_DATABASE_SQL.search(str(operation.sql)):
                return True
        return any(function is not None and may_tell_aliases_apart(function, self.aliases) for function in functions)

    def app_reaches(self, alias: str, app_label: str) -> bool:
        """
        Return whether anything of ``app_label`` may reach ``alias``'s test database when it migrates.

        The app itself, one of its models, or one of its migrations'
        operations, as the routers answer. An app that reaches no alias
        leaves only its migrations' names there (``django_migrations``).
        When in doubt (a router that fails to answer, or needs a database:
        see ``connections_refused()``), it does.
        """
        try:
            with connections_refused():
                return self.app_reaches_as_answered(alias, app_label)
        except Exception:
            return True

    def app_reaches_as_answered(self, alias: str, app_label: str) -> bool:
        """Return ``app_reaches()``'s answer from the routers, raising what they raise."""
        if router_answer(alias, app_label):
            return True
        connection = connections[alias]
        for model in self.models:
            if model._meta.app_label == app_label and model._meta.can_migrate(connection):
                if router_answer(alias, app_label, model_name=model._meta.model_name, model=model):
                    return True
        for label, operation in self.operations:
            if label != app_label:
                continue
            if isinstance(operation, (RunPython, RunSQL)):
                if router_answer(alias, app_label, **operation.hints):
                    return True
                continue
            name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
            if not isinstance(name, str) or router_answer(alias, app_label, model_name=name.lower()):
                return True
        return False

    def answers(self, alias: str) -> tuple[bool, ...]:
        """Return the routers' answers for ``alias``, in a fixed order (the same questions for every alias)."""
        answers = [router_answer(alias, label) for label in self.app_labels]
        answers += [
            model._meta.can_migrate(connections[alias])
            and router_answer(alias, model._meta.app_label, model_name=model._meta.model_name, model=model)
            for model in [*self.models, *self.cache_models]
        ]
        for app_label, operation in self.operations:
            if isinstance(operation, (RunPython, RunSQL)):
                answers.append(router_answer(alias, app_label, **operation.hints))
            else:
                name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
                if isinstance(name, str):
                    answers.append(router_answer(alias, app_label, model_name=name.lower()))
        return tuple(answers)

    def answers_without_database(self, alias: str) -> tuple[bool, ...] | None:
        """
        Return ``answers(alias)`` asked with every connection refused; None if a router needs a database.

        The runner asks before the test database exists (see
        ``connections_refused()``). A router that fails without a database
        answers None too: ``migrate`` asks it again on the test database, as
        stock Django does, and raises what it raises.
        """
        try:
            with connections_refused():
                return self.answers(alias)
        except Exception:
            return None


def connection_facts(alias: str) -> tuple[Any, ...]:
    """Return ``alias``'s connection settings that decide its schema: all but the database names."""
    settings_dict = connections[alias].settings_dict
    test_settings = settings_dict.get("TEST") or {}
    return (
        connections[alias].vendor,
        repr(sorted((key, repr(value)) for key, value in settings_dict.items() if key not in (NAME_KEYS | {"TEST"}))),
        repr(sorted((key, repr(value)) for key, value in test_settings.items() if key not in TEST_NAME_KEYS)),
    )


def schema_groups(firsts: Sequence[str], facts_of: Callable[[], SchemaFacts]) -> list[tuple[str, ...]]:
    """
    Return the groups of ``firsts`` (the first aliases of test databases) that get the same schema.

    Only groups of two or more, each in the order of ``firsts``; none when
    the project's migration code is in doubt, or a router cannot answer
    without a database. ``facts_of()`` gives the run's facts (read only
    when two candidates share a backend that can be copied).
    """
    candidates = [alias for alias in firsts if connections[alias].vendor in COPYABLE_VENDORS]
    if len(candidates) < 2:
        return []
    facts = facts_of()
    if facts.code_in_doubt:
        return []
    by_key: dict[tuple[Any, ...], list[str]] = {}
    for alias in candidates:
        answers = facts.answers_without_database(alias)
        if answers is None:
            return []
        by_key.setdefault((connection_facts(alias), answers), []).append(alias)
    return [tuple(group) for group in by_key.values() if len(group) > 1]


def group_of(groups: Iterable[tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Return each alias's group."""
    return {alias: group for group in groups for alias in group}
