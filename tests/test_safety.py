"""Unit tests of the real-database check (pure logic)."""

import os
import shutil
import socket
import tempfile
from unittest import TestCase

from multidb_runner.config import ConfigurationError
from multidb_runner.setup.addresses import DEFAULT_SOCKET, THIS_MACHINE, LocalMachine, ServerAddress, server_address
from multidb_runner.setup.safety import check_test_databases_are_not_real, clash, database_identity
from multidb_runner.setup.servers import ServerFingerprint


class DatabaseIdentityTests(TestCase):
    def test_local_host_spellings_and_default_port_are_one_server(self):
        a = database_identity("postgresql", {"HOST": "localhost", "PORT": ""}, "app", environ={})
        b = database_identity("postgresql", {"HOST": "127.0.0.1", "PORT": "5432"}, "app", environ={})
        c = database_identity("postgresql", {"HOST": "LOCALHOST", "PORT": 5432}, "app", environ={})
        self.assertEqual(a, b)
        self.assertEqual(b, c)

    def test_other_server_port_or_vendor_differ(self):
        base = database_identity("postgresql", {"HOST": "db", "PORT": ""}, "app")
        self.assertNotEqual(base, database_identity("postgresql", {"HOST": "db2", "PORT": ""}, "app"))
        self.assertNotEqual(base, database_identity("postgresql", {"HOST": "db", "PORT": "5433"}, "app"))
        self.assertNotEqual(base, database_identity("mysql", {"HOST": "db", "PORT": ""}, "app"))

    def test_sqlite_paths_are_resolved(self):
        here = os.getcwd()
        self.assertEqual(
            database_identity("sqlite", {}, "db.sqlite3"),
            database_identity("sqlite", {}, os.path.join(here, "sub", "..", "db.sqlite3")),
        )

    def test_sqlite_path_objects(self):
        from pathlib import Path

        self.assertEqual(
            database_identity("sqlite", {}, Path("db.sqlite3")), database_identity("sqlite", {}, "db.sqlite3")
        )

    def test_sqlite_in_memory_has_no_identity(self):
        self.assertIsNone(database_identity("sqlite", {}, ":memory:"))
        self.assertIsNone(database_identity("sqlite", {}, "file:memorydb_default?mode=memory&cache=shared"))
        self.assertIsNone(database_identity("sqlite", {}, ""))


class CheckTests(TestCase):
    def test_test_database_equal_to_a_real_one_is_refused(self):
        real = {
            "default": database_identity("postgresql", {"HOST": "db"}, "app"),
            "reports": database_identity("postgresql", {"HOST": "db"}, "reports"),
        }
        test = {"default": database_identity("postgresql", {"HOST": "db"}, "reports")}
        with self.assertRaises(ConfigurationError) as ctx:
            check_test_databases_are_not_real(test, real)
        message = str(ctx.exception)
        self.assertIn("test database of alias 'default' ('reports')", message)
        self.assertIn("real database of alias 'reports'", message)
        self.assertNotIn("PASSWORD", message)

    def test_distinct_names_pass(self):
        real = {"default": database_identity("postgresql", {"HOST": "db"}, "app")}
        test = {"default": database_identity("postgresql", {"HOST": "db"}, "test_app"), "mem": None}
        check_test_databases_are_not_real(test, real)


class CloneCheckTests(TestCase):
    def test_a_clone_named_like_a_real_database_is_refused(self):
        from multidb_runner.setup.safety import check_clones_are_not_real

        real = {"crm": database_identity("sqlite", {}, "/srv/db/test_shop_2.sqlite3")}
        clones = {
            "default": [
                database_identity("sqlite", {}, "/srv/db/test_shop_1.sqlite3"),
                database_identity("sqlite", {}, "/srv/db/test_shop_2.sqlite3"),
            ]
        }
        with self.assertRaises(ConfigurationError) as ctx:
            check_clones_are_not_real(clones, real)
        message = str(ctx.exception)
        self.assertIn("worker 2's clone of the test database of alias 'default'", message)
        self.assertIn("the real database of alias 'crm'", message)

    def test_clones_of_their_own_pass(self):
        from multidb_runner.setup.safety import check_clones_are_not_real

        real = {"default": database_identity("postgresql", {"HOST": "db"}, "shop")}
        clones = {"default": [database_identity("postgresql", {"HOST": "db"}, f"test_shop_{n}") for n in (1, 2)]}
        check_clones_are_not_real(clones, real)
        check_clones_are_not_real({"memory": [None, None]}, real)

    def test_clone_names_follow_the_backends(self):
        from multidb_runner.setup.test_names import clone_name

        self.assertEqual(clone_name("sqlite", "/srv/db/test_shop.sqlite3", 2), "/srv/db/test_shop_2.sqlite3")
        self.assertEqual(clone_name("postgresql", "test_shop", 1), "test_shop_1")
        self.assertIsNone(clone_name("sqlite", "file:memorydb_default?mode=memory&cache=shared", 1))


#: This machine, as the resolver would describe it (data, not a mock: the functions take it as an argument).
MACHINE = LocalMachine(names=frozenset({"ci-runner", "ci-runner.example.org"}), addresses=frozenset({"10.1.2.3"}))


def pg(environ=None, **settings):
    return server_address("postgresql", settings, {} if environ is None else environ, MACHINE)


def my(environ=None, **settings):
    return server_address("mysql", settings, {} if environ is None else environ, MACHINE)


class PostgreSQLAddressTests(TestCase):
    """libpq's rules, as Django's backend calls it: HOST and PORT over OPTIONS, then a service, then PGHOST/PGPORT."""

    def test_every_spelling_of_this_machine_over_tcp_is_one(self):
        expected = ServerAddress("tcp", THIS_MACHINE, "5432")
        for host in ("localhost", "127.0.0.1", "127.0.1.1", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"):
            with self.subTest(host=host):
                self.assertEqual(pg(HOST=host), expected)
        for host in ("ci-runner", "CI-Runner.example.org.", "10.1.2.3"):
            with self.subTest(host=host):
                self.assertEqual(pg(HOST=host), expected)

    def test_an_omitted_port_is_pgport_else_5432(self):
        self.assertEqual(pg(HOST="db", PORT=""), pg(HOST="db", PORT="5432"))
        self.assertEqual(pg({"PGPORT": "6543"}, HOST="db"), pg(HOST="db", PORT="6543"))
        self.assertEqual(pg({"PGPORT": "6543"}, HOST="db", PORT="5432"), pg(HOST="db", PORT=5432))

    def test_an_empty_host_is_pghost_else_the_default_socket(self):
        self.assertEqual(pg(HOST=""), ServerAddress("socket", DEFAULT_SOCKET, "5432"))
        self.assertEqual(pg({"PGHOST": "127.0.0.1"}, HOST=""), pg(HOST="localhost"))
        self.assertEqual(pg({"PGHOST": "/run/postgresql"}), pg(HOST="/run/postgresql"))
        self.assertEqual(pg({"PGHOST": "/run/postgresql"}, HOST="db"), pg(HOST="db"))

    def test_socket_directories_are_compared_as_real_paths(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        link = os.path.join(folder, "link")
        os.symlink(folder, link)
        self.assertEqual(pg(HOST=link + "/", PORT="5433"), ServerAddress("socket", os.path.realpath(folder), "5433"))
        # The socket file is named after the port: another port is another socket.
        self.assertNotEqual(pg(HOST=folder, PORT="5433"), pg(HOST=folder))

    def test_a_socket_and_tcp_are_spelled_apart(self):
        self.assertNotEqual(pg(HOST="/var/run/postgresql"), pg(HOST="localhost"))

    def test_options_name_the_host_and_port_unless_host_and_port_do(self):
        self.assertEqual(pg(OPTIONS={"host": "localhost", "port": "5433"}), pg(HOST="127.0.0.1", PORT="5433"))
        self.assertEqual(pg(OPTIONS={"hostaddr": "127.0.0.1"}), pg(HOST="localhost"))
        self.assertEqual(pg(HOST="db", PORT="5433", OPTIONS={"host": "other", "port": "1"}), pg(HOST="db", PORT="5433"))

    def test_a_service_names_the_server_unless_host_and_port_do(self):
        self.assertEqual(pg(OPTIONS={"service": "shop"}), ServerAddress("service", "shop"))
        self.assertEqual(pg({"PGSERVICE": "shop", "PGHOST": "db"}), ServerAddress("service", "shop"))
        self.assertEqual(pg(HOST="db", OPTIONS={"service": "shop"}), ServerAddress("service", "shop", "db:"))
        self.assertEqual(pg(HOST="localhost", PORT="5432", OPTIONS={"service": "shop"}), pg(HOST="127.0.0.1"))

    def test_a_list_of_hosts_is_kept_as_written(self):
        self.assertEqual(pg(HOST="db1,db2", PORT="5432,5433"), ServerAddress("hosts", "db1,db2", "5432,5433"))

    def test_other_hosts_are_compared_by_name(self):
        self.assertEqual(pg(HOST="DB.example.org"), pg(HOST="db.example.org."))
        self.assertNotEqual(pg(HOST="db1"), pg(HOST="db2"))
        self.assertEqual(pg(HOST="10.0.0.7"), ServerAddress("tcp", "10.0.0.7", "5432"))


class MySQLAddressTests(TestCase):
    """mysqlclient's rules, as Django's backend calls it: OPTIONS over HOST and PORT; localhost is the socket."""

    def test_an_empty_host_and_localhost_are_the_socket_whatever_the_port(self):
        default = ServerAddress("socket", DEFAULT_SOCKET)
        self.assertEqual(my(HOST=""), default)
        self.assertEqual(my(HOST="localhost", PORT="3307"), default)
        socket_path = "/run/mysqld/mysqld.sock"
        self.assertEqual(my({"MYSQL_UNIX_PORT": socket_path}, HOST="localhost"), my(HOST=socket_path))

    def test_a_socket_in_host_or_options_is_one(self):
        socket_path = "/run/mysqld/mysqld.sock"
        self.assertEqual(my(HOST=socket_path), my(OPTIONS={"unix_socket": socket_path}))
        self.assertEqual(my(HOST=socket_path), ServerAddress("socket", os.path.realpath(socket_path)))

    def test_tcp_spellings_of_this_machine_and_the_default_port(self):
        expected = ServerAddress("tcp", THIS_MACHINE, "3306")
        for settings in ({"HOST": "127.0.0.1"}, {"HOST": "::1", "PORT": "3306"}, {"HOST": "ci-runner", "PORT": 3306}):
            with self.subTest(settings=settings):
                self.assertEqual(my(**settings), expected)
        self.assertEqual(my({"MYSQL_TCP_PORT": "3307"}, HOST="127.0.0.1"), my(HOST="127.0.0.1", PORT="3307"))

    def test_options_override_host_and_port(self):
        options = {"host": "127.0.0.1", "port": 3306}
        self.assertEqual(my(HOST="db", PORT="1", OPTIONS=options), my(HOST="localhost.", PORT=""))
        self.assertEqual(my(HOST="db", OPTIONS={"host": "localhost"}), my(HOST=""))

    def test_the_socket_and_tcp_are_spelled_apart(self):
        self.assertNotEqual(my(HOST="localhost"), my(HOST="127.0.0.1"))

    def test_an_option_file_names_the_server(self):
        address = my(HOST="127.0.0.1", OPTIONS={"read_default_file": "/etc/mysql/my.cnf"})
        self.assertEqual(address.kind, "option file")
        self.assertNotEqual(address, my(HOST="127.0.0.1"))


class LocalMachineTests(TestCase):
    def test_loopback_and_the_machines_own_names_and_addresses(self):
        for host in ("localhost", "127.0.0.1", "127.9.9.9", "::1", "0.0.0.0", "ci-runner", "10.1.2.3"):
            with self.subTest(host=host):
                self.assertTrue(MACHINE.is_local(host))
        for host in ("db", "10.1.2.4", "ci-runner.other.org"):
            with self.subTest(host=host):
                self.assertFalse(MACHINE.is_local(host))

    def test_this_machines_name_is_local(self):
        here = LocalMachine.here()
        self.assertTrue(here.is_local(socket.gethostname()))
        self.assertEqual(server_address("postgresql", {"HOST": socket.gethostname()}, {}, here), pg(HOST="localhost"))

    def test_the_resolver_is_asked_only_to_compare(self):
        # Without a machine, only the loopback spellings are folded: no resolver call per alias.
        self.assertEqual(
            server_address("postgresql", {"HOST": "ci-runner"}, {}), ServerAddress("tcp", "ci-runner", "5432")
        )
        name = database_identity("postgresql", {"HOST": "ci-runner"}, "shop", environ={})
        loopback = database_identity("postgresql", {"HOST": "::1"}, "shop", environ={})
        self.assertEqual(clash(name, loopback, None, MACHINE), "")
        self.assertIn("could not ask", clash(name, loopback, None, LocalMachine()))


class ClashTests(TestCase):
    """Same vendor and name: one spelling decides; two spellings ask the servers; a doubt is a clash."""

    socket_dir = database_identity("postgresql", {"HOST": "/var/run/postgresql"}, "shop", environ={})
    local_tcp = database_identity("postgresql", {"HOST": "127.0.0.1"}, "shop", environ={})

    def never_asked(self, a, b):
        raise AssertionError(f"asked about {a} and {b}")

    def test_one_spelling_is_the_same_database_without_asking(self):
        same = database_identity("postgresql", {"HOST": "localhost", "PORT": "5432"}, "shop", environ={})
        self.assertEqual(clash(self.local_tcp, same, self.never_asked), "")

    def test_another_name_or_vendor_is_another_database_without_asking(self):
        other_name = database_identity("postgresql", {"HOST": "/var/run/postgresql"}, "crm", environ={})
        mysql = database_identity("mysql", {"HOST": "/var/run/postgresql"}, "shop", environ={})
        self.assertIsNone(clash(self.local_tcp, other_name, self.never_asked))
        self.assertIsNone(clash(self.socket_dir, mysql, self.never_asked))
        self.assertIsNone(clash(None, self.local_tcp, self.never_asked))

    def test_two_spellings_take_the_servers_answer(self):
        self.assertIsNone(clash(self.socket_dir, self.local_tcp, lambda a, b: False))
        reason = clash(self.socket_dir, self.local_tcp, lambda a, b: True)
        self.assertIn(f"the Unix socket directory {os.path.realpath('/var/run/postgresql')} (port 5432)", reason)
        self.assertIn("by the servers' own account", reason)

    def test_no_answer_counts_as_the_same_database(self):
        for same_server in (None, lambda a, b: None):
            reason = clash(self.socket_dir, self.local_tcp, same_server)
            self.assertIn("could not ask both, so it counts them as one", reason)

    def test_the_message_names_both_spellings_and_no_password(self):
        tcp = {"HOST": "127.0.0.1", "PASSWORD": "s3cret"}
        socket_dir = {"HOST": "/var/run/postgresql", "PASSWORD": "s3cret"}
        real = {"default": database_identity("postgresql", tcp, "shop", environ={})}
        test = {"reports": database_identity("postgresql", socket_dir, "shop", environ={})}
        with self.assertRaises(ConfigurationError) as ctx:
            check_test_databases_are_not_real(test, real, lambda a, b: True)
        message = str(ctx.exception)
        self.assertIn("the test database of alias 'reports' ('shop') is the real database of alias 'default'.", message)
        self.assertIn("this machine's port 5432", message)
        self.assertNotIn("s3cret", message)
        check_test_databases_are_not_real(test, real, lambda a, b: False)


class FingerprintTests(TestCase):
    """What a server says about itself: the identifier decides where both have it, else the instance."""

    def test_identifiers_decide_where_both_have_one(self):
        primary = ServerFingerprint("7714", ("5432", "1700000000.5"))
        standby = ServerFingerprint("7714", ("5433", "1700000100.25"))
        self.assertTrue(primary.is_same_server(standby))
        self.assertFalse(primary.is_same_server(ServerFingerprint("9999", ("5432", "1700000000.5"))))

    def test_without_an_identifier_on_both_sides_the_instance_decides(self):
        readable = ServerFingerprint("7714", ("5432", "1700000000.5"))
        self.assertTrue(readable.is_same_server(ServerFingerprint(None, ("5432", "1700000000.5"))))
        self.assertFalse(readable.is_same_server(ServerFingerprint(None, ("5432", "1700000001.5"))))

    def test_mysql_start_times_may_differ_by_a_second(self):
        first = ServerFingerprint(None, ("db", "3306", "/var/lib/mysql/"), started=1_700_000_000)
        self.assertTrue(first.is_same_server(ServerFingerprint(None, first.instance, started=1_700_000_001)))
        self.assertFalse(first.is_same_server(ServerFingerprint(None, first.instance, started=1_700_000_005)))
        other_host = ServerFingerprint(None, ("db2", "3306", "/var/lib/mysql/"), 1_700_000_000)
        self.assertFalse(first.is_same_server(other_host))
