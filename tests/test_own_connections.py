"""The runner's own connections (locks, catalog queries) look like Django's no-database connection."""

from __future__ import annotations

import multiprocessing

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.signals import connection_created
from django.test import SimpleTestCase, TestCase

from multidb_runner.isolation.mirrors import MirrorConnection
from multidb_runner.setup.locks import TestDatabaseLocks
from multidb_runner.setup.servers import KeptServerConnections, own_connection

from . import connection_receivers


class OwnConnectionTests(SimpleTestCase):
    databases = {"default"}

    def test_the_suite_runs_with_alias_lookups_in_receivers(self):
        # The settings install them; the run got this far, so they never failed.
        self.assertIn(connection_receivers.look_alias_up, connection_created._live_receivers(None)[0])
        if connections["default"].vendor == "postgresql":
            self.assertIn("django.contrib.postgres", settings.INSTALLED_APPS)

    def test_lock_connection_is_sent_as_no_database(self):
        connection = connections["default"]
        if connection.vendor == "sqlite":
            self.skipTest("SQLite locks are files")
        seen: list[str] = []

        def record(sender, connection, **kwargs):
            seen.append(connection.alias)

        connection_created.connect(record)
        locks = TestDatabaseLocks()
        try:
            locks.acquire("default", connection, "multidb_runner_own_connection_probe")
        finally:
            locks.release()
            connection_created.disconnect(record)
        self.assertEqual(seen, [NO_DB_ALIAS])

    def test_own_connection_reaches_no_database(self):
        wrapper = own_connection(connections["default"])
        self.assertEqual(wrapper.alias, NO_DB_ALIAS)
        self.assertIsNone(wrapper.settings_dict["NAME"])

    def test_own_connection_through_a_mirror_is_of_its_backend_with_its_settings(self):
        settings_dict = {**connections["replica"].settings_dict, "USER": "mirror_user"}
        mirror = MirrorConnection(connections["default"], "replica", settings_dict)
        wrapper = own_connection(mirror, "reports")
        self.assertIs(type(wrapper), connections["default"].__class__)
        self.assertEqual((wrapper.settings_dict["USER"], wrapper.settings_dict["NAME"]), ("mirror_user", "reports"))


def session_query(vendor: str) -> str:
    """The query that names the server session it runs in."""
    return "SELECT pg_backend_pid()" if vendor == "postgresql" else "SELECT CONNECTION_ID()"


def send_session_id(kept: KeptServerConnections, alias: str, writer) -> None:
    """In a forked child: send back the session a statement of ``kept`` runs in."""
    connection = connections[alias]
    writer.send(kept.execute(connection, session_query(connection.vendor))[0][0])


class KeptServerConnectionTests(SimpleTestCase):
    databases = {"default"}

    def test_statements_share_one_session_and_a_forked_worker_never_uses_it(self):
        connection = connections["default"]
        if connection.vendor not in ("postgresql", "mysql"):
            self.skipTest("SQLite has no server")
        query = session_query(connection.vendor)
        kept = KeptServerConnections()
        with kept.keep():
            session = kept.execute(connection, query)[0][0]
            self.assertEqual(kept.execute(connection, query)[0][0], session)
            # A parallel worker under fork inherits the object: its parent's socket is not its own.
            context = multiprocessing.get_context("fork")
            reader, writer = context.Pipe(duplex=False)
            child = context.Process(target=send_session_id, args=(kept, "default", writer))
            child.start()
            child.join(60)
            self.assertEqual(child.exitcode, 0)
            self.assertNotEqual(reader.recv(), session)
            self.assertEqual(kept.execute(connection, query)[0][0], session)
        # Closed with the block: the next statement opens a connection of its own.
        self.assertIsNone(kept.kept)


class ReceiverSawTestAliasesTests(TestCase):
    def test_receiver_saw_the_aliases_used(self):
        connections["default"].ensure_connection()
        self.assertIn("default", connection_receivers.SEEN)
