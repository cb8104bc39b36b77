"""
The errors the runner reports to its users, each with one clear message.

Every error a user can see is defined here, and listed with its fix in the
documentation's page of errors. Most were first defined beside the code
that raises them; each is still importable from there, and keeps the name
that tracebacks, pickles between processes and the documentation show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import CommandError

# Imported by CommandError's module already: no cost at import time.
from django.db import DatabaseError

ErrorType = TypeVar("ErrorType", bound=type[BaseException])


def shown_as(module: str) -> Callable[[ErrorType], ErrorType]:
    """
    Name an error after ``module``, the place users know it from.

    A traceback names an exception ``module.Name``, and pickle finds it by
    that name; the old module still has it.
    """

    def rename(error: ErrorType) -> ErrorType:
        error.__module__ = module
        return error

    return rename


class ConfigurationError(CommandError):
    """
    A mistake in the runner's configuration, reported before anything is created.

    It subclasses CommandError so that ``manage.py test`` prints the message
    alone, without a traceback, and exits with a non-zero status.
    """


# Before anything is created.


@shown_as("multidb_runner.setup.locks")
class DatabaseInUse(ConfigurationError):
    """Another live run holds a test database this run would use."""


@shown_as("multidb_runner.setup.reachability")
class CannotConnect(CommandError):
    """The server of a test database to set up before the tests cannot be connected to; nothing was created."""


@shown_as("multidb_runner.setup.databases")
class TestDatabaseLeftOver(CommandError):
    """A leftover test database, and no answer to Django's question about it."""


# While the tests run.


@shown_as("multidb_runner.setup.lazy")
class TestDatabaseSetupError(Exception):
    """A test database set up on first use could not be set up."""


@shown_as("multidb_runner.isolation.read_only")
class ReadOnlyMirrorError(DatabaseError):
    """A write was sent through a mirror: a read replica would refuse it."""


@shown_as("multidb_runner.parallel")
class WorkerProblem(Exception):
    """A worker could not report the result of some tests."""


@shown_as("multidb_runner.setup.locks")
class ClaimLost(ConfigurationError):
    """This run lost the claim on one of its test databases, and could not take it back."""


# When the run stops or cleans up.


@shown_as("multidb_runner.interrupts")
class TestRunInterrupted(CommandError):
    """The run was stopped with Ctrl-C (or SIGTERM, SIGHUP): it fails, whatever the tests did."""


@shown_as("multidb_runner.output")
class OutputClosed(CommandError):
    """The run's output lost its reader (a pipe such as ``| head`` closed): the run stopped and cleaned up."""


@shown_as("multidb_runner.setup.safety")
class UnsafeDestruction(ConfigurationError):
    """The runner was about to destroy (or clone over) a database that is a configured real database."""


def sentence(text: object) -> str:
    """
    Return ``text`` ending with exactly one full stop, for quoting an error in a message of ours.

    An exception's message may or may not end with one (Django's and the
    drivers' vary); appending a period to one that has it reads "yourself..".
    """
    text = str(text).rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
