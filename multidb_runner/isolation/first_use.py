"""
See the first use of an alias: the hooks that lazy set-up and lazy transactions share.

A connection is first used when it connects or gets a cursor
(``ensure_connection``, ``temporary_connection``), or when any transaction
API asks whether it is in an atomic block (``in_atomic_block``: ``atomic``,
``get_rollback``, ``on_commit`` read it first). These points are replaced on each backend's
wrapper class once, and only while some listener waits for a first use:
a run where everything is set up and no ``TestCase`` scope is pending pays
nothing for them.

Listeners hear in order: the database is set up (``setup/lazy.py``) before
a ``TestCase``'s transaction is opened on it (``transactions.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from django.db.backends.base.base import BaseDatabaseWrapper

from .patches import ClassPatches, Switch


class FirstUseListener(Protocol):
    """Something that acts on the first use of some aliases."""

    @property
    def waiting(self) -> bool:
        """Whether some alias's first use is still awaited."""

    def before_use(self, connection: BaseDatabaseWrapper) -> None:
        """Act before ``connection`` is used (nothing, if its alias is not awaited)."""


class FirstUseHooks:
    """The connections' first-use points, switched on while a listener waits."""

    def __init__(self, listeners: list[FirstUseListener]) -> None:
        self.listeners = listeners
        self.switches: list[Switch] = []

    def notify(self, connection: BaseDatabaseWrapper) -> None:
        """Tell the waiting listeners, in order, that ``connection`` is about to be used."""
        for listener in self.listeners:
            if listener.waiting:
                listener.before_use(connection)

    def install(self, patches: ClassPatches, wrapper_classes: Iterable[type[BaseDatabaseWrapper]]) -> None:
        """
        Prepare the replacements on each of ``wrapper_classes`` (off until ``refresh()`` finds a listener waiting).

        On the backends' own classes, not on ``BaseDatabaseWrapper``: Django
        (``SimpleTestCase``'s check of threaded connections) and pytest-django
        (its database blocker) replace ``BaseDatabaseWrapper.ensure_connection``
        for a while and put back what they found; the hook calls whatever is
        there at the time, after telling the listeners.
        """
        for wrapper_class in dict.fromkeys(wrapper_classes):
            hooks = self.hooks_for(wrapper_class)
            self.switches += [patches.switch(wrapper_class, name, value) for name, value in hooks.items()]
        self.refresh()

    def hooks_for(self, wrapper_class: type[BaseDatabaseWrapper]) -> dict[str, Any]:
        """Return the first-use points of ``wrapper_class``."""
        notify = self.notify

        def in_atomic_block(connection: BaseDatabaseWrapper) -> bool:
            notify(connection)
            return connection.__dict__.get("in_atomic_block", False)  # type: ignore[no-any-return]

        def set_in_atomic_block(connection: BaseDatabaseWrapper, value: bool) -> None:
            connection.__dict__["in_atomic_block"] = value

        return {
            "ensure_connection": self.notifying(wrapper_class, "ensure_connection"),
            # Django closes a connection it opened just for this (reading a
            # feature of the server, on first use): it must be open for good
            # first, or it would be closed with the test's transactions inside.
            "temporary_connection": self.notifying(wrapper_class, "temporary_connection"),
            "in_atomic_block": property(in_atomic_block, set_in_atomic_block),
        }

    def notifying(self, wrapper_class: type[BaseDatabaseWrapper], name: str) -> Any:
        """
        Return ``wrapper_class``'s method ``name`` telling the listeners first.

        It then calls the class's own method, if it has one, or else the one
        found after it at call time (``BaseDatabaseWrapper``'s, or whatever
        replaces it for a while).
        """
        notify = self.notify
        own = vars(wrapper_class).get(name)

        def method(connection: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
            notify(connection)
            if own is not None:
                return own(connection, *args, **kwargs)
            return getattr(super(wrapper_class, connection), name)(*args, **kwargs)

        method.__name__ = name
        return method

    def refresh(self) -> None:
        """Watch the first-use points while some listener waits, and only then."""
        on = any(listener.waiting for listener in self.listeners)
        for switch in self.switches:
            switch.set(on)

    def remove(self) -> None:
        for switch in self.switches:
            switch.set(False)
        self.switches = []
