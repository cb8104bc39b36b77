"""
Ctrl-C, SIGTERM and SIGHUP: a clean, failed end of the run, at any phase.

unittest's own handler stops a serial run after the current test and the
run then ends with "OK", and during database setup it does nothing at all;
SIGTERM (a cancelled CI job, ``timeout``, ``docker stop``) and SIGHUP kill
the process with everything left behind. Here each stops the run at once
(setup, tests and workers are abandoned; the runner's cleanup then destroys
the test databases), except while the databases are being destroyed: then
it is only remembered, so that the cleanup completes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Defined with the other errors users see; importable from here as before.
from .errors import TestRunInterrupted as TestRunInterrupted

#: The signals that end a run cleanly; each gives exit code 128 + its number.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class CurrentTestRecorder:
    """A result mixin that keeps the test being run on ``current_test_box[0]``."""

    current_test_box: list[Any]

    def startTest(self, test: Any) -> None:
        self.current_test_box[0] = test
        super().startTest(test)  # type: ignore[misc]

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)  # type: ignore[misc]
        self.current_test_box[0] = None


class StopSignals:
    """The run's handlers of the stop signals, and what they saw."""

    def __init__(self) -> None:
        self.interrupted = False
        #: The signal that stopped the run (SIGINT for Ctrl-C), if any.
        self.stop_signal: int | None = None
        #: While true, a signal is only remembered (the cleanup must complete).
        self.protecting_cleanup = False
        #: The test running in this process, if any (kept by CurrentTestRecorder).
        self.current_test_box: list[Any] = [None]
        #: The test that was running when a signal stopped the run.
        self.interrupted_test: Any = None
        self.saved_handlers: dict[int, Any] = {}

    def install(self) -> None:
        """Handle the stop signals from now on (in the main thread only)."""
        for signum in STOP_SIGNALS:
            try:
                self.saved_handlers[signum] = signal.signal(signum, self.on_signal)
            except ValueError:  # not the main thread: leave signals alone
                return

    def on_signal(self, signum: int, frame: Any) -> None:
        if not self.interrupted:
            # unittest's stopTest still runs on the way out: remember the test now.
            self.interrupted_test = self.current_test_box[0]
        self.interrupted = True
        if self.stop_signal is None:
            self.stop_signal = signum
        if not self.protecting_cleanup:
            raise KeyboardInterrupt

    @contextmanager
    def cleanup_protected(self) -> Iterator[None]:
        """Only remember a signal while active, so that what runs inside completes."""
        self.protecting_cleanup = True
        try:
            yield
        finally:
            self.protecting_cleanup = False

    def check(self) -> None:
        """Stop now if a stop signal arrived since the run started."""
        if self.interrupted:
            raise KeyboardInterrupt

    def error(self) -> TestRunInterrupted:
        """Return the error that ends a run stopped by Ctrl-C or another signal."""
        signum = self.stop_signal or signal.SIGINT
        how = "interrupted (Ctrl-C)" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        return TestRunInterrupted(
            f"The test run was {how}; it is reported as failed. "
            "Test databases were destroyed unless --keepdb was given.",
            returncode=128 + signum,
        )

    def restore(self) -> None:
        """Give the signals their handlers from before the run."""
        while self.saved_handlers:
            signum, handler = self.saved_handlers.popitem()
            signal.signal(signum, handler)
