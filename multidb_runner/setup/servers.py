"""
The runner's own connections to a database server.

The run locks, catalog queries and server checks connect on their own,
outside ``connections``. Each such connection is made the way Django makes
its own connection to no database (``_nodb_cursor()``): under Django's
``NO_DB_ALIAS``. Receivers of ``connection_created`` already skip that
alias, since stock Django sends it while creating test databases;
``django.contrib.postgres``'s type handlers, for one, would otherwise look
an unknown alias up in ``connections`` and fail the run.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper


def own_connection(connection: BaseDatabaseWrapper, name: Any = None) -> BaseDatabaseWrapper:
    """
    Return a new, unconnected wrapper to ``connection``'s server, on database ``name``.

    ``name`` None connects to no database (PostgreSQL: ``postgres``), as
    Django's ``_nodb_cursor()`` does.
    """
    return type(connection)({**connection.settings_dict, "NAME": name}, alias=NO_DB_ALIAS)
