"""
Give pytest-django's per-test classes the aliases they may use.

pytest-django runs a test that asks for the database (the ``django_db``
mark, the ``db`` / ``transactional_db`` fixtures and their kin) inside a
``TestCase`` or ``TransactionTestCase`` subclass it makes for that test,
with ``databases`` set only when the mark names them, and calls its
``setUpClass()`` right away. The class is made while the test's fixtures
are set up, long after collection, so the runner's injection, which runs
over the collected classes, never sees it.

While the plugin is active, ``TransactionTestCase.__init_subclass__`` hands
each such class to the runner's injector the moment it is made, before
Django reads ``databases``. The mark's ``databases`` counts as the test's
declaration (pytest-django's module is installed code, where the runner
would otherwise take a ``databases`` for Django's default).
"""

from __future__ import annotations

from typing import Any

from django.test import TransactionTestCase

from ..injection import DatabasesInjector
from ..reports.usage_report import ClassDatabases

#: The module of pytest-django's per-test classes (``_django_db_helper``).
PYTEST_DJANGO_FIXTURES = "pytest_django.fixtures"
_ABSENT = object()


def is_per_test_class(cls: type) -> bool:
    """Return True for a class pytest-django made for one test."""
    return cls.__module__ == PYTEST_DJANGO_FIXTURES


class PerTestInjector(DatabasesInjector):
    """The runner's injector, reading a per-test class's own ``databases`` as the mark's declaration."""

    def declaration(self, cls: type[Any]) -> Any:
        if is_per_test_class(cls) and "databases" in vars(cls):
            return vars(cls)["databases"]
        return super().declaration(cls)

    @classmethod
    def like(cls, injector: DatabasesInjector) -> PerTestInjector:
        """Return an injector that gives what the runner's ``injector`` gives."""
        return cls(injector.injected_aliases, injector.all_aliases, injector.mirrors, injector.selection_source)


class PerTestInjection:
    """
    Inject every per-test class as it is made, and take it all back at the end.

    ``name_for`` names the test a class is made for: with the usage report
    on, the class's ``__qualname__`` gets it, so that each test has a line
    of its own instead of sharing pytest-django's one class name.
    """

    def __init__(self, injector: PerTestInjector, class_databases: dict[str, ClassDatabases]) -> None:
        self.injector = injector
        #: The runner's ``class_databases`` (the usage report), added to.
        self.class_databases = class_databases
        self.name_for: Any = None
        self.original: Any = _ABSENT
        self.installed = False

    def install(self) -> None:
        """Hook the making of ``TransactionTestCase`` subclasses."""
        if self.installed:
            return
        self.original = vars(TransactionTestCase).get("__init_subclass__", _ABSENT)
        original = self.original
        injection = self

        def __init_subclass__(cls: type[TransactionTestCase], /, **kwargs: Any) -> None:
            if original is _ABSENT:
                super(TransactionTestCase, cls).__init_subclass__(**kwargs)
            else:
                original.__get__(None, cls)(**kwargs)
            if is_per_test_class(cls):
                injection.inject(cls)

        setattr(TransactionTestCase, "__init_subclass__", classmethod(__init_subclass__))  # noqa: B010
        self.installed = True

    def inject(self, cls: type[TransactionTestCase]) -> None:
        """Give one per-test class its aliases (and, for the usage report, its test's name)."""
        from ..injection import class_key

        if self.name_for is not None:
            name = self.name_for()
            if name:
                cls.__qualname__ = f"{cls.__qualname__}[{name}]"
        declared = self.injector.declared(cls)
        self.injector.inject([cls])
        if not isinstance(cls.databases, str):
            self.class_databases[class_key(cls)] = ClassDatabases(declared=declared, given=frozenset(cls.databases))

    def remove(self) -> None:
        """Stop hooking, and give every per-test class its own ``databases`` back."""
        if self.installed:
            if self.original is _ABSENT:
                delattr(TransactionTestCase, "__init_subclass__")
            else:
                setattr(TransactionTestCase, "__init_subclass__", self.original)  # noqa: B010
            self.installed = False
        self.injector.restore()
