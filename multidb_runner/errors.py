"""The errors the runner reports: one clear message, no traceback, a non-zero exit."""

from __future__ import annotations

from django.core.management.base import CommandError


class ConfigurationError(CommandError):
    """
    A mistake in the runner's configuration, reported before anything is created.

    It subclasses CommandError so that ``manage.py test`` prints the message
    alone, without a traceback, and exits with a non-zero status.
    """
