"""
Every change a run makes to Django and to the project's classes, in one stack.

A run changes Django in many places: skip decorators and deserialization
patched, test database names given a suffix, ``databases`` set on test
classes, legacy models treated as managed and routed, aliases pointed at
test databases ahead of their set-up, mirrors served by their primary's
connection, the isolation layer's hooks, signal handlers, the start method.
Each goes on a ``ChangeStack`` together with what undoes it, when it is
made; closing the stack undoes them newest first, every undo running even
if one fails (``contextlib.ExitStack``'s rules: the last error is raised,
the earlier ones chained to it). That order is the only restore order of a
run, whether it ends with success, failure, a signal or a failed set-up.

A stack is made of segments: the set-up opens one, and its teardown closes
it (the test databases, clones, locks and mirrors go with it), leaving the
changes made for the whole run in place until the run ends.

The run-wide changes a parallel worker must repeat (a spawned or
forkserver worker starts from a fresh interpreter) are also kept as
picklable descriptions, ``Change`` objects: a worker replays the list on a
stack of its own, instead of re-deriving each change by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@contextmanager
def attribute_replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """Give ``owner`` (a class or a module) ``value`` as its own attribute ``name`` while active, then its own back."""
    original = vars(owner)[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


class Change(Protocol):
    """A picklable description of a run-wide change, which a worker process replays."""

    def apply(self, stack: ChangeStack) -> None:
        """Make the change in this process, with what undoes it on ``stack``."""


class Segment:
    """The changes made since a point of the run (the set-up's), undone together."""

    def __init__(self) -> None:
        self.undo = ExitStack()


class ChangeStack:
    """The run's changes to Django, each with what undoes it; closed newest first."""

    def __init__(self) -> None:
        self.segments: list[Segment] = [Segment()]
        #: The run-wide changes a worker process replays, in the order made.
        self.replayable: list[Change] = []

    def callback(self, undo: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Record a change already made: ``undo(*args, **kwargs)`` undoes it."""
        self.segments[-1].undo.callback(undo, *args, **kwargs)

    def enter(self, change: AbstractContextManager[T]) -> T:
        """Make the change a context manager makes; leaving it undoes it."""
        return self.segments[-1].undo.enter_context(change)

    def apply(self, change: Change) -> None:
        """Make ``change`` here, and keep it for the worker processes to replay."""
        change.apply(self)
        self.replayable.append(change)

    def record(self, change: Change) -> None:
        """Keep for the worker processes a change made here by other means (its undo recorded already)."""
        self.replayable.append(change)

    def replay(self, changes: Iterable[Change]) -> None:
        """Make, in a worker process, the changes the main process described."""
        for change in changes:
            self.apply(change)

    def open_segment(self) -> Segment:
        """Start a segment: the changes made from now on are undone by ``close(segment)``."""
        segment = Segment()
        self.segments.append(segment)
        return segment

    def close(self, segment: Segment | None = None) -> None:
        """
        Undo the changes of ``segment`` and of every newer one, newest first (all of them: None).

        A segment closed already (or never opened here) undoes nothing.
        """
        if segment is None:
            index = 0
        elif segment in self.segments:
            index = self.segments.index(segment)
        else:
            return
        closing = self.segments[index:]
        self.segments = self.segments[:index] or [Segment()]
        with ExitStack() as chain:
            # Last in, first out: the newest segment is undone first.
            for each in closing:
                chain.callback(each.undo.close)
