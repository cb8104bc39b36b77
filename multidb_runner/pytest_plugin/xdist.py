"""
pytest-xdist: the controller cleans up after a worker that died.

Each worker is a session of its own: pytest-django gives its databases
their ``_gw0``... suffix, and its runner creates, locks and destroys them
like a serial run's. A worker that dies (a crash, ``os._exit``, a kill)
cannot clean up: before creating anything, each worker writes the names
of the test databases it may create to a file in a folder the controller
gave it, and removes the file once its cleanup is done. When a worker goes
down with an error, and when the session ends, the controller destroys the
databases named in the files left: each only if it exists, after taking the
runner's lock on it (a database some live run holds is left alone), and
never a configured real database.

Workers also send their database usage and the runner's warnings, for the
controller's terminal summary.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ..planning.suffixes import suffixed_test_name
from ..session import MultiDBSession
from ..setup.catalog import database_exists, is_in_memory_name
from ..setup.databases import TestDatabase, destroy_test_database
from ..setup.locks import DatabaseInUse, TestDatabaseLocks
from ..setup.safety import real_databases_now
from ..setup.test_names import test_database_name

#: The key of ``workerinput`` naming the folder of the workers' manifests.
MANIFEST_DIR = "multidb_runner_manifests"
#: The key of ``workeroutput`` holding a worker's usage and messages.
OUTPUT_KEY = "multidb_runner"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class WorkerManifest:
    """The file where a worker lists the test databases it may create."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_worker(cls, config: pytest.Config) -> WorkerManifest | None:
        """Return this worker's manifest, or None outside an xdist worker (or without a controller's folder)."""
        workerinput: dict[str, Any] = getattr(config, "workerinput", {})
        folder = workerinput.get(MANIFEST_DIR)
        if not folder:
            return None
        return cls(Path(folder) / f"{workerinput['workerid']}.json")

    def write(self, session: MultiDBSession, aliases: set[str], *, keepdb: bool) -> None:
        """List the test databases ``session`` may create for ``aliases`` (named as its setup will name them)."""
        if keepdb:
            return  # --reuse-db: kept databases are never destroyed
        entries = []
        for alias in sorted(aliases):
            if alias in session.mirrors:
                continue
            connection = connections_of(alias)
            name = suffixed_test_name(connection.vendor, test_database_name(alias), session.config.db_suffix)
            if connection.vendor == "sqlite" and is_in_memory_name(name):
                continue  # gone with the process
            entries.append({"alias": alias, "name": name})
        self.path.write_text(json.dumps(entries))

    def remove(self) -> None:
        """Say the cleanup is done: nothing for the controller to destroy."""
        self.path.unlink(missing_ok=True)


def connections_of(alias: str) -> Any:
    from django.db import connections

    return connections[alias]


def send_to_controller(config: pytest.Config, data: dict[str, Any]) -> None:
    """Hand this worker's usage and messages to the controller."""
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[OUTPUT_KEY] = data


def destroy_left_databases(manifest: Path, config: pytest.Config) -> list[str]:
    """Destroy the test databases a dead worker listed in ``manifest``; return those destroyed."""
    from pytest_django.plugin import blocking_manager_key

    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    destroyed = []
    with config.stash[blocking_manager_key].unblock():
        real_databases = real_databases_now()
        for entry in entries:
            alias, name = entry["alias"], entry["name"]
            connection = connections_of(alias)
            locks = TestDatabaseLocks()
            try:
                locks.acquire(alias, connection, name)
            except DatabaseInUse:
                continue  # a live run holds it
            try:
                if database_exists(connection, name):
                    real_name = connection.settings_dict["NAME"]
                    destroy_test_database(
                        TestDatabase(connection, real_name, name),
                        verbosity=0,
                        keepdb=False,
                        real_databases=real_databases,
                    )
                    destroyed.append(name)
            finally:
                locks.release()
    manifest.unlink(missing_ok=True)
    return destroyed


class Controller:
    """The xdist controller's part: the manifests' folder, the workers' reports, the cleanup."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.folder = Path(tempfile.mkdtemp(prefix="multidb_runner_xdist_"))
        #: workerid -> what the worker sent when it finished.
        self.outputs: dict[str, dict[str, Any]] = {}
        self.destroyed: list[str] = []

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[MANIFEST_DIR] = str(self.folder)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        workerid = node.workerinput["workerid"]
        output = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
        if output:
            self.outputs[workerid] = output
        if error is not None:
            self.destroyed += destroy_left_databases(self.folder / f"{workerid}.json", self.config)

    def finish(self) -> None:
        """Destroy what any worker left, and remove the folder."""
        for manifest in sorted(self.folder.glob("*.json")):
            self.destroyed += destroy_left_databases(manifest, self.config)
        shutil.rmtree(self.folder, ignore_errors=True)
