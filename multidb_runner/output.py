"""
Standard output and error whose reader went away: the cleanup completes, the run ends cleanly.

``manage.py test 2>&1 | head -2`` closes the pipe once ``head`` has its
lines. Python ignores SIGPIPE, so the next write raises BrokenPipeError:
in a test's line of dots it stops the run (as in stock Django), but in the
cleanup it stops the cleanup too, and the test databases stay behind (stock
Django leaves them too). While the runner cleans up, a write to a stream
whose reader is gone is sent to ``os.devnull`` instead, as Python's
documentation recommends for BrokenPipeError; a run cut short that way
then ends with one message and exit status 141 (128 + SIGPIPE, what a
command killed by SIGPIPE gives), with nothing left behind.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Iterator
from typing import Any, TextIO

# Defined with the other errors users see; importable from here as before.
from .errors import OutputClosed as OutputClosed

#: The exit status of a run cut short by a closed output (a process killed by SIGPIPE gives it too).
OUTPUT_CLOSED_STATUS = 128 + getattr(signal, "SIGPIPE", 13)
STANDARD_STREAMS = ("stdout", "stderr")
#: What the messages call the standard streams, by file descriptor.
STREAM_NAMES = {1: "output", 2: "error"}


class DiscardingStream:
    """A standard stream that, once its reader is gone, writes to ``os.devnull`` instead of failing."""

    def __init__(self, stream: TextIO, on_discard: Any) -> None:
        self.stream = stream
        self.on_discard = on_discard

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self.on_discard(self.stream)
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self.on_discard(self.stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class RunOutput:
    """The run's standard streams: which lost their reader, and the cleanup that writes regardless."""

    def __init__(self) -> None:
        #: The file descriptors sent to os.devnull.
        self.discarded: set[int] = set()

    @contextlib.contextmanager
    def never_failing(self) -> Iterator[None]:
        """
        Let what runs inside write to stdout and stderr even if their reader is gone.

        Such a stream is sent to ``os.devnull`` from then on, for good: the
        lines that follow (the test command's, Python's own flush at exit)
        would fail too.
        """
        saved = {name: getattr(sys, name) for name in STANDARD_STREAMS}
        for name, stream in saved.items():
            setattr(sys, name, DiscardingStream(stream, self.discard))
        try:
            yield
        finally:
            for name, stream in saved.items():
                # What is still buffered, or a reader gone while nothing was written.
                wrapper = getattr(sys, name)
                if isinstance(wrapper, DiscardingStream):
                    wrapper.flush()
                setattr(sys, name, stream)
                if reader_gone(stream):
                    self.discard(stream)

    def discard(self, stream: TextIO) -> None:
        """Send ``stream`` to ``os.devnull`` from now on (Python's recipe for BrokenPipeError)."""
        try:
            descriptor = stream.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a file (captured output): nothing to point elsewhere
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, descriptor)
        finally:
            os.close(devnull)
        self.discarded.add(descriptor)
        # What the failed write left in the buffer goes there too.
        with contextlib.suppress(Exception):
            stream.flush()

    def lost_reader(self) -> bool:
        """Return whether stdout or stderr lost its reader in this run (discarding it if not done yet)."""
        for name in STANDARD_STREAMS:
            stream = getattr(sys, name)
            if reader_gone(stream):
                self.discard(stream)
        return bool(self.discarded)

    def error(self) -> OutputClosed:
        """Return the error that ends a run cut short by a closed output."""
        streams = " and ".join(STREAM_NAMES.get(descriptor, "output") for descriptor in sorted(self.discarded))
        return OutputClosed(
            f"The reader of the test run's standard {streams or 'output'} went away (a pipe such as "
            "'| head' was closed), so the run was stopped; it is reported as failed. Test databases "
            "were destroyed unless --keepdb was given.",
            returncode=OUTPUT_CLOSED_STATUS,
        )


def reader_gone(stream: TextIO) -> bool:
    """
    Return whether ``stream`` is a pipe whose reading end is closed, without writing to it.

    ``poll()`` reports an error on such a pipe (Linux, macOS); where there
    is no ``poll()``, only a failed write tells.
    """
    poll = getattr(select, "poll", None)
    if poll is None:
        return False
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    poller = poll()
    poller.register(descriptor, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
