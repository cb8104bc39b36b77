"""
How an alias reaches its database server, spelled one way for each way there.

Settings can name one server many ways: ``HOST = ''``, ``'localhost'``,
``'127.0.0.1'``, ``'::1'`` or the machine's own name; a port left empty or
given as the default; ``OPTIONS`` that name the host or port; environment
variables (``PGHOST``, ``PGPORT``, ``MYSQL_UNIX_PORT``...) that the client
library reads when the settings say nothing. ``server_address()`` folds
each such spelling into one ``ServerAddress``, following the rules of
libpq and of mysqlclient as Django's backends call them.

Two equal addresses are one server. Two different addresses may still be
one server (a Unix socket and a TCP port of the same server, a service
name, an option file, a DNS alias, a proxy): the spelling cannot tell, and
the real-database check asks the servers themselves (``servers.py``).
Everything here is pure: the environment and the machine's names are
arguments.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace

#: The ports the client libraries use when nothing names one.
DEFAULT_PORTS = {"postgresql": "5432", "mysql": "3306", "oracle": "1521"}
#: What ``ServerAddress.where`` says for this machine over TCP, however it was named.
THIS_MACHINE = "this machine"
#: What ``ServerAddress.where`` says for the client library's compiled-in socket.
DEFAULT_SOCKET = "the default socket"
#: Host names that are this machine without asking anything.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
#: mysqlclient ``OPTIONS`` that make the server the option file's (or a protocol's) to choose.
MYSQL_OPAQUE_OPTIONS = ("read_default_file", "read_default_group", "protocol", "named_pipe")


@dataclass(frozen=True)
class ServerAddress:
    """One way to reach a server: over TCP, through a Unix socket, or by a name only the client resolves."""

    #: "tcp", "socket", "service" (a PostgreSQL service), "option file" (MySQL), "hosts" (a libpq list), "file".
    kind: str
    #: The host (THIS_MACHINE for any spelling of this machine), the socket, the service or option file.
    where: str
    port: str = ""

    def __str__(self) -> str:
        """Say where, for a message (settings hold no password here)."""
        if self.kind == "tcp" and self.where == THIS_MACHINE:
            return f"this machine's port {self.port}"
        if self.kind == "tcp":
            return f"{self.where} port {self.port}"
        if self.kind == "socket" and self.port:
            # PostgreSQL: a directory, and the port names the socket in it.
            return f"the Unix socket directory {self.where} (port {self.port})"
        if self.kind == "socket":
            return f"the Unix socket {self.where}"
        return f"the {self.kind} {self.where!r}" + (f" ({self.port})" if self.port else "")

    def folded(self, machine: LocalMachine) -> ServerAddress:
        """Return this address with a host that is one of ``machine``'s names or addresses as THIS_MACHINE."""
        if self.kind == "tcp" and self.where != THIS_MACHINE and machine.is_local(self.where):
            return replace(self, where=THIS_MACHINE)
        return self


@dataclass(frozen=True)
class LocalMachine:
    """The names and addresses of the machine the run is on, beyond the loopback ones."""

    names: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    @classmethod
    def here(cls) -> LocalMachine:
        """Return this machine's host name, fully qualified name and the addresses they resolve to."""
        return local_machine()

    def is_local(self, host: str) -> bool:
        """Return whether ``host`` (a name or an address) is this machine."""
        host = host.strip().lower().rstrip(".")
        if host in LOOPBACK_NAMES:
            return True
        address = ip_address(host)
        if address is not None:
            return address.is_loopback or address.is_unspecified or str(address) in self.addresses
        return host in self.names


@functools.cache
def local_machine() -> LocalMachine:
    """Ask the resolver, once per process, for this machine's names and their addresses."""
    names = {socket.gethostname().lower()}
    try:
        names.add(socket.getfqdn().lower())
    except OSError:  # pragma: no cover - a resolver that fails outright
        pass
    addresses: set[str] = set()
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None)
        except OSError:
            continue
        for info in infos:
            address = ip_address(str(info[4][0]).split("%", 1)[0])
            if address is not None:
                addresses.add(str(address))
    return LocalMachine(frozenset(names - {""}), frozenset(addresses))


def ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return ``host`` as an IP address (``[::1]`` and IPv4-mapped IPv6 too), or None for a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def server_address(
    vendor: str,
    settings_dict: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
    machine: LocalMachine | None = None,
) -> ServerAddress:
    """
    Return the server that ``settings_dict`` reaches, as the client library would find it.

    ``environ`` is the environment the client library reads (default:
    ``os.environ``); ``machine`` this machine's names and addresses, folded
    into THIS_MACHINE with the loopback ones (default: the loopback ones
    only; ``ServerAddress.folded()`` adds the others where a comparison
    needs them, so that the resolver is asked only then).
    """
    environ = os.environ if environ is None else environ
    options = settings_dict.get("OPTIONS") or {}
    assert isinstance(options, Mapping)
    host = text(settings_dict.get("HOST"))
    port = text(settings_dict.get("PORT"))
    if vendor == "postgresql":
        return postgresql_address(host, port, options, environ, machine)
    if vendor == "mysql":
        return mysql_address(host, port, options, environ, machine)
    return tcp_address(host, port or DEFAULT_PORTS.get(vendor, ""), machine)


def postgresql_address(
    host: str, port: str, options: Mapping[str, object], environ: Mapping[str, str], machine: LocalMachine | None
) -> ServerAddress:
    """
    Find the server as libpq does: HOST and PORT, else OPTIONS, else a service, else PGHOST and PGPORT.

    Django passes ``OPTIONS`` as connection keywords and then HOST and PORT
    over them. What a service file names is read by libpq before the
    environment: a service (``OPTIONS['service']`` or ``PGSERVICE``) leaves
    whatever the settings do not name to the service.
    """
    host = host or text(options.get("hostaddr")) or text(options.get("host"))
    port = port or text(options.get("port"))
    service = text(options.get("service")) or text(environ.get("PGSERVICE"))
    if service and not (host and port):
        return ServerAddress("service", service, f"{host}:{port}" if host or port else "")
    host = host or text(environ.get("PGHOSTADDR")) or text(environ.get("PGHOST"))
    port = port or text(environ.get("PGPORT")) or DEFAULT_PORTS["postgresql"]
    if "," in host or "," in port:
        return ServerAddress("hosts", host, port)
    if not host:
        return ServerAddress("socket", DEFAULT_SOCKET, port)
    if host.startswith("/"):
        # The socket is <directory>/.s.PGSQL.<port>.
        return ServerAddress("socket", os.path.realpath(host), port)
    if host.startswith("@"):
        return ServerAddress("socket", host, port)  # Linux's abstract namespace
    return tcp_address(host, port, machine)


def mysql_address(
    host: str, port: str, options: Mapping[str, object], environ: Mapping[str, str], machine: LocalMachine | None
) -> ServerAddress:
    """
    Find the server as mysqlclient does: OPTIONS over HOST and PORT; ``localhost`` is the Unix socket.

    Django turns a HOST starting with ``/`` into ``unix_socket``, then lets
    ``OPTIONS`` override. The client library reaches an empty host or
    ``localhost`` through the socket (``MYSQL_UNIX_PORT``, or its compiled-in
    default) and ignores the port; any other host over TCP. An option file
    may name the server itself.
    """
    unix_socket = host if host.startswith("/") else ""
    host = "" if unix_socket else host
    unix_socket = text(options.get("unix_socket")) or unix_socket
    host = text(options.get("host")) or host
    port = text(options.get("port")) or port
    opaque = [key for key in MYSQL_OPAQUE_OPTIONS if options.get(key)]
    if opaque:
        spelled = ", ".join(f"{key}={text(options.get(key))}" for key in opaque)
        return ServerAddress("option file", f"{spelled}; host={host}; socket={unix_socket}", port)
    if host in ("", "localhost"):
        unix_socket = unix_socket or text(environ.get("MYSQL_UNIX_PORT"))
        return ServerAddress("socket", os.path.realpath(unix_socket) if unix_socket else DEFAULT_SOCKET)
    return tcp_address(host, port or text(environ.get("MYSQL_TCP_PORT")) or DEFAULT_PORTS["mysql"], machine)


def tcp_address(host: str, port: str, machine: LocalMachine | None) -> ServerAddress:
    """Return a TCP address, with every spelling of this machine folded into THIS_MACHINE."""
    host = host.strip().lower().rstrip(".")
    if not host or is_this_machine(host, machine):
        return ServerAddress("tcp", THIS_MACHINE, port)
    address = ip_address(host)
    return ServerAddress("tcp", str(address) if address is not None else host, port)


def is_this_machine(host: str, machine: LocalMachine | None) -> bool:
    """Return whether ``host`` is a loopback spelling, or one of ``machine``'s names and addresses."""
    return LocalMachine().is_local(host) or (machine is not None and machine.is_local(host))


def text(value: object) -> str:
    """Return a setting as stripped text ('' for None)."""
    return "" if value is None else str(value).strip()
