"""
Give test classes the aliases they may use, and take it back after the run.

Stock Django lets a ``TransactionTestCase`` use only ``default`` unless the
class lists more in ``databases``. The runner sets ``databases`` on every
test class that kept Django's default, expands ``"__all__"`` to the concrete
aliases, and adds the primary of every mirror a class may use. The original
values are restored when the run ends.
"""

from __future__ import annotations

import sys
import sysconfig
import unittest
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from django.test import SimpleTestCase, TransactionTestCase
from django.test import testcases as django_testcases
from django.test.utils import iter_test_cases  # type: ignore[attr-defined]

from .changes import ChangeStack, attribute_replaced
from .planning.aliases import with_primaries

ALL_ALIASES = "__all__"
_MISSING = object()


def third_party_paths() -> tuple[str, ...]:
    """Return the folders that hold installed (not project) code."""
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")}
    paths.update(path for path in sys.path if path.endswith(("site-packages", "dist-packages")))
    return tuple(sorted(paths))


def is_project_class(cls: type, installed_paths: tuple[str, ...]) -> bool:
    """
    Return True if ``cls`` belongs to the project rather than Django or a library.

    A ``databases`` attribute set by Django itself or by an installed
    third-party base class is Django's default as far as the project is
    concerned; one set by the project's own code is a declaration.
    """
    module_name = cls.__module__ or ""
    if module_name == "django" or module_name.startswith("django."):
        return False
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None) or ""
    return not (filename and filename.startswith(installed_paths))


def declared_databases(cls: type, installed_paths: tuple[str, ...]) -> Any:
    """
    Return the ``databases`` value the project declared for ``cls``, or _MISSING.

    The first class in the MRO whose own ``__dict__`` sets ``databases``
    decides; if that class is Django's or a library's, nothing was declared.
    """
    for klass in cls.__mro__:
        if "databases" in vars(klass):
            if is_project_class(klass, installed_paths):
                return vars(klass)["databases"]
            return _MISSING
    return _MISSING


def class_key(cls: type) -> str:
    """Name a test class the same way in every process."""
    return f"{cls.__module__}.{cls.__qualname__}"


def test_classes(suite: unittest.TestSuite) -> list[type[SimpleTestCase]]:
    """Return the distinct Django test classes of ``suite``, in suite order."""
    seen: dict[type[SimpleTestCase], None] = {}
    for test in iter_test_cases(suite):
        if isinstance(test, SimpleTestCase):
            seen.setdefault(type(test), None)
    return list(seen)


class DatabasesInjector:
    """Set ``databases`` on test classes and remember what to restore."""

    def __init__(
        self,
        injected_aliases: Iterable[str],
        all_aliases: Iterable[str],
        mirrors: Mapping[str, str],
        selection_source: str | None = None,
    ) -> None:
        self.injected_aliases = frozenset(with_primaries(injected_aliases, mirrors))
        self.all_aliases = frozenset(all_aliases)  # what "__all__" means: every usable alias
        self.mirrors = dict(mirrors)
        #: Where a narrowed selection came from (``--databases``, the setting), named in failures.
        self.selection_source = selection_source
        self.originals: dict[type, Any] = {}
        #: class -> its own ``_disallowed_database_msg`` before the run (narrowed classes only).
        self.original_messages: dict[type, Any] = {}
        self.installed_paths = third_party_paths()

    @property
    def narrowed(self) -> bool:
        """Whether classes keeping the default get fewer aliases than the project has."""
        return self.selection_source is not None and not self.all_aliases <= self.injected_aliases

    def narrowed_message(self) -> str:
        """
        Return Django's "queries to ... are not allowed" message, for a class the selection narrowed.

        Django's own message asks to add the alias to the class's
        ``databases``, which the class never declared: the fix is the
        selection. A format string, as Django's (``%(alias)r``...).
        """
        selected = ", ".join(sorted(self.injected_aliases)).replace("%", "%%")
        source = str(self.selection_source).replace("%", "%%")
        return (
            "Database %(operation)s to %(alias)r are not allowed in this test: %(test)s keeps "
            f"Django's default databases, and the runner gave it only the aliases selected by "
            f"{source} ({selected}). Add %(alias)r to that selection (--databases or "
            "MULTIDB_RUNNER['DATABASES']), or declare the aliases the class uses in "
            "%(test)s.databases."
        )

    def declaration(self, cls: type[SimpleTestCase]) -> Any:
        """
        Return the ``databases`` value the project declared for ``cls``, or ``_MISSING``.

        A method, so that a subclass can tell declarations apart where the
        class's module does not (pytest-django's per-test classes).
        """
        return declared_databases(cls, self.installed_paths)

    def stock_databases(self, cls: type[SimpleTestCase]) -> frozenset[str]:
        """
        Return the aliases stock Django sets up for ``cls``: its ``databases`` as the run found it.

        Read before injection. What ``DiscoverRunner.get_databases()``
        counts: a ``TestCase`` keeping Django's default means ``default``,
        a ``SimpleTestCase`` none, ``"__all__"`` every alias.
        """
        databases: Any = getattr(cls, "databases", frozenset())
        if databases == ALL_ALIASES:
            return self.all_aliases
        if isinstance(databases, str):
            return frozenset()
        return frozenset(databases)

    def databases_for(self, cls: type[SimpleTestCase]) -> frozenset[str] | None:
        """Return the aliases ``cls`` may use during the run, or None to leave it alone."""
        declared = self.declaration(cls)
        if declared is _MISSING:
            if issubclass(cls, TransactionTestCase):
                return self.injected_aliases
            return None
        return self.databases_declared(declared)

    def databases_declared(self, declared: Any) -> frozenset[str] | None:
        """Return the aliases a declared ``databases`` value gives, or None to leave it to Django."""
        if declared == ALL_ALIASES:
            return self.all_aliases
        if isinstance(declared, str) or not declared:
            # A malformed value is left for Django to report; an empty set
            # (SimpleTestCase) asks for no database at all.
            return None
        return frozenset(with_primaries(declared, self.mirrors))

    def declared(self, cls: type[SimpleTestCase]) -> frozenset[str] | None:
        """Return the aliases ``cls`` declared itself, or None if it kept Django's default."""
        declared = self.declaration(cls)
        if declared is _MISSING or (isinstance(declared, str) and declared != ALL_ALIASES):
            return None
        return self.all_aliases if declared == ALL_ALIASES else frozenset(declared)

    def inject(self, classes: Iterable[type[SimpleTestCase]]) -> None:
        """Set ``databases`` on every class that needs it."""
        for cls in classes:
            databases = self.databases_for(cls)
            if databases is None or cls in self.originals:
                continue
            self.originals[cls] = vars(cls).get("databases", _MISSING)
            setattr(cls, "databases", databases)  # noqa: B010 - any class, not only SimpleTestCase
            if databases is self.injected_aliases and self.narrowed:
                self.original_messages[cls] = vars(cls).get("_disallowed_database_msg", _MISSING)
                setattr(cls, "_disallowed_database_msg", self.narrowed_message())  # noqa: B010

    def messages(self) -> dict[str, str]:
        """Return the failure message of each narrowed class, keyed by ``module.qualname`` (for workers)."""
        return {class_key(cls): vars(cls)["_disallowed_database_msg"] for cls in self.original_messages}

    def given(self) -> dict[str, frozenset[str]]:
        """Return what each injected class was given, keyed by ``module.qualname``."""
        return {class_key(cls): vars(cls)["databases"] for cls in self.originals}

    def restore(self) -> None:
        """Put back every class's own ``databases``, as it was before the run."""
        for cls, original in self.originals.items():
            restore_attribute(cls, "databases", original)
        self.originals.clear()
        for cls, original in self.original_messages.items():
            restore_attribute(cls, "_disallowed_database_msg", original)
        self.original_messages.clear()


def restore_attribute(cls: type, name: str, original: Any) -> None:
    """Give ``cls`` back its own ``name`` as it was (``_MISSING``: it had none)."""
    if original is not _MISSING:
        setattr(cls, name, original)
    elif name in vars(cls):
        delattr(cls, name)


DeferredSkip = Callable[[Callable[[], bool], str, str], Callable[[Any], Any]]


def deferred_skip_accepting_all(original: DeferredSkip) -> DeferredSkip:
    """
    Wrap ``django.test.testcases._deferredSkip`` so ``"__all__"`` classes work.

    Stock Django checks ``connection.alias not in cls.databases`` when a class
    is decorated with ``skipUnlessDBFeature``; with ``databases = "__all__"``
    that is a substring test that fails, and the class errors with ValueError.
    While decorating, such a class is shown its concrete aliases instead.
    """

    def deferred_skip(condition: Callable[[], bool], reason: str, name: str) -> Callable[[Any], Any]:
        decorator = original(condition, reason, name)

        def decorate(test_item: Any) -> Any:
            if not (isinstance(test_item, type) and getattr(test_item, "databases", None) == ALL_ALIASES):
                return decorator(test_item)
            from django.db import connections

            own = vars(test_item).get("databases", _MISSING)
            setattr(test_item, "databases", frozenset(connections))  # noqa: B010
            try:
                return decorator(test_item)
            finally:
                if own is _MISSING:
                    delattr(test_item, "databases")
                else:
                    setattr(test_item, "databases", own)  # noqa: B010

        return decorate

    deferred_skip.wrapped = original  # type: ignore[attr-defined]
    return deferred_skip


def all_aliases_skip_decorators() -> AbstractContextManager[None]:
    """Patch Django's deferred skip decorators for ``"__all__"`` while active."""
    original: DeferredSkip = vars(django_testcases)["_deferredSkip"]
    return attribute_replaced(django_testcases, "_deferredSkip", deferred_skip_accepting_all(original))


@dataclass(frozen=True)
class SkipDecoratorsForAllAliases:
    """The run-wide change ``all_aliases_skip_decorators`` makes (a worker replays it before importing tests)."""

    def apply(self, stack: ChangeStack) -> None:
        stack.enter(all_aliases_skip_decorators())


@dataclass(frozen=True)
class InjectedDatabases:
    """
    What the injection gave each test class, keyed by ``class_key``, as a parallel worker repeats it.

    A worker imports test modules when it receives their classes, one
    class at a time: ``apply_to_suite()`` gives each received class its
    ``databases`` (and the failure message of a class the ``--databases``
    selection narrowed). Nothing to do when the worker starts.
    """

    given: dict[str, frozenset[str]]
    messages: dict[str, str]
    per_suite = True

    def apply(self, stack: ChangeStack) -> None:
        """Nothing yet: the classes arrive with each suite (``apply_to_suite``)."""

    def apply_to_suite(self, suite: unittest.TestSuite) -> None:
        for cls in test_classes(suite):
            databases = self.given.get(class_key(cls))
            if databases is not None:
                cls.databases = databases  # type: ignore[assignment]
            message = self.messages.get(class_key(cls))
            if message is not None:
                cls._disallowed_database_msg = message  # type: ignore[attr-defined]
