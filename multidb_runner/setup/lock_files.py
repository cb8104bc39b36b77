"""
Lock files: an exclusive ``flock`` that the process holds, whatever happens to its connections.

Two kinds, both released by the kernel when the process ends, however it
ends: the lock file beside a SQLite test database file
(``test_shop.sqlite3.lock``), and the claim file of a test database, in a
folder that every run on the machine shares (``<temporary
folder>/multidb_runner-claims/``), named after the database's server and
name. A claim file keeps a second run on the same machine off a live run's
test database even when the live run's lock connection to the server was
cut: a lock that lives on a connection dies with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .addresses import THIS_MACHINE
from .catalog import sqlite_path
from .safety import database_identity

try:
    import fcntl
except ImportError:  # Windows: nothing is locked there.
    fcntl = None  # type: ignore[assignment]

#: The claims folder's name in the temporary folder.
CLAIMS_FOLDER = "multidb_runner-claims"


def lock_file_path(test_name: str) -> str:
    """Return the lock file beside the SQLite test database file ``test_name``."""
    return f"{sqlite_path(test_name)}.lock"


def claim_key(vendor: str, settings_dict: Mapping[str, Any], test_name: str) -> str:
    """
    Return what names test database ``test_name`` on the server of ``settings_dict``, for its claim file.

    The server as the real-database check sees it (local host spellings
    folded, default ports filled in), with a Unix socket directory counted
    as this machine: two spellings of one server must share one claim.
    """
    identity = database_identity(vendor, settings_dict, test_name)
    assert identity is not None
    server = identity.server
    # A socket is on this machine: one claim with the TCP spellings of it.
    host = THIS_MACHINE if server.kind in ("tcp", "socket") and server.port else f"{server.kind}:{server.where}"
    if server.kind == "tcp":
        host = server.where
    return f"{vendor}://{host}:{server.port}/{identity.name}"


def claim_file_path(key: str) -> str | None:
    """
    Return the claim file of ``key`` in the claims folder (created if need be); None if there is none to use.

    The folder is shared by every user of the machine, like the temporary
    folder itself (sticky, writable by all). The file is named after the
    end of the key (server and database, readable) and a hash of the whole
    key (unique).
    """
    if fcntl is None:
        return None
    folder = os.path.join(tempfile.gettempdir(), CLAIMS_FOLDER)
    try:
        os.mkdir(folder, 0o1777)
        os.chmod(folder, 0o1777)  # the umask narrowed it
    except FileExistsError:
        pass
    except OSError:
        return None
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[-80:]
    return os.path.join(folder, f"{readable}-{digest}.lock")


def open_lock_file(path: str) -> int:
    """Open (or create) the lock file ``path``; read-only if it is another user's (``flock`` needs no more)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


def read_holder(fd: int) -> str:
    """Return the pid written in a lock file, or ''."""
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


class LockFileTaken(Exception):
    """Another process holds the lock file; ``holder`` is its pid, if it wrote one."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


@dataclass
class FileLock:
    """An exclusive ``flock`` on the file ``path``, holding the owner's pid; the file is removed at release."""

    path: str
    fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise LockFileTaken."""
        if fcntl is None:
            return
        while True:
            fd = open_lock_file(self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(fd)
                os.close(fd)
                raise LockFileTaken(holder) from None
            # The previous holder removes the file when it is done: a lock on
            # a file no longer at this path locks nothing. Try again.
            if self.is_at_path(fd):
                break
            os.close(fd)
        with contextlib.suppress(OSError):  # another user's file: no pid then
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def is_at_path(self, fd: int) -> bool:
        """Return whether ``fd`` is the file at ``path`` now."""
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def still_held(self) -> bool:
        """
        Return whether the lock still guards its path, taking it on a new file if its file was removed.

        A lock on a removed file (a clean-up of the temporary folder, an
        ``rm``) would let the next run lock a new file at the same path.
        """
        if self.fd is None or self.is_at_path(self.fd):
            return True
        old, self.fd = self.fd, None
        try:
            self.acquire()
        except LockFileTaken:
            return False
        finally:
            os.close(old)
        return True

    def release(self) -> None:
        if self.fd is None:
            return
        # Remove the file while still holding the lock (see acquire); in a
        # shared folder, another user's file stays.
        if self.is_at_path(self.fd):
            with contextlib.suppress(OSError):
                os.remove(self.path)
        os.close(self.fd)
        self.fd = None
