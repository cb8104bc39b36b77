"""
See the first use of an alias: the hooks that lazy set-up and lazy transactions share.

A connection is first used when it connects or gets a cursor
(``ensure_connection``), or when any transaction API asks whether it is in
an atomic block (``in_atomic_block``: ``atomic``, ``get_rollback``,
``on_commit`` read it first). Both points are replaced on
``BaseDatabaseWrapper`` once, and only while some listener waits for a
first use: a run where everything is set up and no ``TestCase`` scope is
pending pays nothing for them.

Listeners hear in order: the database is set up (``setup/lazy.py``) before
a ``TestCase``'s transaction is opened on it (``transactions.py``).
"""

from __future__ import annotations

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

    def install(self, patches: ClassPatches) -> None:
        """Prepare the replacements (off until ``refresh()`` finds a listener waiting)."""
        ensure_connection = patches.original(BaseDatabaseWrapper, "ensure_connection")
        notify = self.notify

        def ensure_connection_on_first_use(connection: BaseDatabaseWrapper) -> None:
            notify(connection)
            ensure_connection(connection)

        def in_atomic_block(connection: BaseDatabaseWrapper) -> bool:
            notify(connection)
            return connection.__dict__.get("in_atomic_block", False)  # type: ignore[no-any-return]

        def set_in_atomic_block(connection: BaseDatabaseWrapper, value: bool) -> None:
            connection.__dict__["in_atomic_block"] = value

        hooks: dict[str, Any] = {
            "ensure_connection": ensure_connection_on_first_use,
            "in_atomic_block": property(in_atomic_block, set_in_atomic_block),
        }
        self.switches = [patches.switch(BaseDatabaseWrapper, name, value) for name, value in hooks.items()]
        self.refresh()

    def refresh(self) -> None:
        """Watch the first-use points while some listener waits, and only then."""
        on = any(listener.waiting for listener in self.listeners)
        for switch in self.switches:
            switch.set(on)

    def remove(self) -> None:
        for switch in self.switches:
            switch.set(False)
        self.switches = []
