"""The errors the runner reports: one clear message, no traceback, a non-zero exit."""

from __future__ import annotations

from django.core.management.base import CommandError


class ConfigurationError(CommandError):
    """
    A mistake in the runner's configuration, reported before anything is created.

    It subclasses CommandError so that ``manage.py test`` prints the message
    alone, without a traceback, and exits with a non-zero status.
    """


def sentence(text: object) -> str:
    """
    Return ``text`` ending with exactly one full stop, for quoting an error in a message of ours.

    An exception's message may or may not end with one (Django's and the
    drivers' vary); appending a period to one that has it reads "yourself..".
    """
    text = str(text).rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
