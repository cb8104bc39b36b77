"""
Every change the isolation layer makes to Django's classes, in one place.

Like ``override_settings`` pairs ``enable()`` with ``disable()``, a
``ClassPatches`` records what each attribute was before it replaced it and
puts everything back, newest first. Each attribute is replaced at most once:
a step that two concerns change (the end-of-test flush is both selective and
hidden from the usage report) is composed by the layer before it is set,
never by stacking replacements in a careful order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: An attribute the owner did not define itself (inherited, or absent).
ABSENT = object()


@dataclass
class Switch:
    """A replacement put in place only while some condition holds (see ``ClassPatches.switch``)."""

    owner: Any
    name: str
    value: Any
    original: Any
    on: bool = False

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        if on:
            setattr(self.owner, self.name, self.value)
        elif self.original is ABSENT:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self.original)
        self.on = on


@dataclass
class ClassPatches:
    """The attributes replaced on Django's classes (and modules), and what they were."""

    #: (owner, name, what owner.__dict__ held before), oldest first.
    replaced: list[tuple[Any, str, Any]] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)

    def original(self, owner: Any, name: str) -> Any:
        """Return what ``owner`` itself defines as ``name`` now (before any replacement of ours)."""
        for replaced_owner, replaced_name, original in self.replaced:
            if replaced_owner is owner and replaced_name == name:
                return original
        return vars(owner)[name]

    def replace(self, owner: Any, name: str, value: Any) -> None:
        """Set ``owner.name`` to ``value`` until ``restore()``; once per attribute."""
        if any(o is owner and n == name for o, n, _ in self.replaced):
            raise RuntimeError(f"{owner!r}.{name} is already replaced: compose the change instead.")
        self.replaced.append((owner, name, vars(owner).get(name, ABSENT)))
        setattr(owner, name, value)

    def switch(self, owner: Any, name: str, value: Any) -> Switch:
        """Return a replacement of ``owner.name`` that is off until switched on."""
        switch = Switch(owner, name, value, vars(owner).get(name, ABSENT))
        self.switches.append(switch)
        return switch

    def restore(self) -> None:
        """Put every attribute back as it was, newest first."""
        while self.switches:
            self.switches.pop().set(False)
        while self.replaced:
            owner, name, original = self.replaced.pop()
            if original is ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    @property
    def installed(self) -> bool:
        return bool(self.replaced or self.switches)
