"""
A ``connection_created`` receiver that looks the connection's alias up, as project code does.

Installed by the test settings (with ``django.contrib.postgres`` on
PostgreSQL, whose own receiver does the same): every connection the runner
opens for its own work must look like Django's own connection to no
database (``NO_DB_ALIAS``, which receivers skip), or this fails the run.
"""

from typing import Any

from django.db import connections
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.signals import connection_created

#: The aliases this receiver saw, for the tests that check it ran.
SEEN: set[str] = set()


def look_alias_up(sender: object, connection: Any, **kwargs: object) -> None:
    if connection.alias == NO_DB_ALIAS:
        return
    # Raises ConnectionDoesNotExist for an alias that is not configured.
    connections[connection.alias]
    SEEN.add(connection.alias)


connection_created.connect(look_alias_up, dispatch_uid="tests.connection_receivers.look_alias_up")
