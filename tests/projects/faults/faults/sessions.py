"""
Record the server session of every connection the run opens (FAULTS_RECORD_SESSIONS=1).

The harness ends these sessions the way a server's ``wait_timeout``, a
proxy's idle timeout or ``pg_terminate_backend`` would: every session of
the run, the runner's own lock connections included (they are sent
``connection_created`` too, under Django's no-database alias). Each id goes
on a line of the marker file ``sessions``.
"""

import os

from django.db.backends.signals import connection_created

from . import markers

QUERIES = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}


def record_session(sender, connection, **kwargs):
    query = QUERIES.get(connection.vendor)
    folder = markers.marker_dir()
    if query is None or folder is None:
        return
    # The driver's own cursor: nothing of Django's sees this query.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(query)
        (session,) = cursor.fetchone()
    finally:
        cursor.close()
    with open(folder / "sessions", "a") as sessions:
        sessions.write(f"{session}\n")


def install():
    if os.environ.get("FAULTS_RECORD_SESSIONS") == "1":
        connection_created.connect(record_session, dispatch_uid="faults.sessions.record_session")
