"""
Inject the fault that FAULTS_AT="<phase>:<action>[:<alias>]" asks for.

Actions: ``raise`` raises ``RuntimeError("injected fault at <phase>")``;
``sigint``, ``sigterm`` and ``sighup`` send that signal with ``os.kill``,
which Python delivers right after ``os.kill`` returns (no sleep, no race).

Phases, in the order a run meets them (the alias defaults to ``other``, a
database set up after ``default``, or ``legacy`` for the legacy tables):

- ``creating``: right after ``_create_test_db`` returned for the alias: the
  test database exists and Django has not yet switched NAME to it.
- ``migrating``: in a RunPython migration of the alias's app.
- ``legacy``: before the runner creates the alias's legacy tables.
- ``cloning``: after the first worker clone of the alias was made.
- ``serializing``: before the alias's test database is serialized.
- ``tests``: in ``faultapp.tests.FaultInTest``, after it committed rows; the
  signal goes to the main process (from a parallel worker too).
- ``teardown``: before the first test database (or clone) is destroyed.

Every fault fires at most once, in the main process only (except in
``tests``), and leaves the marker file ``fired-<phase>`` first, so that the
harness knows the run got there. Installed by ``FaultsConfig.ready()``.
"""

import os
import signal
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from . import markers

DEFAULT_ALIASES = {
    "creating": "other",
    "migrating": "other",
    "legacy": "legacy",
    "cloning": "other",
    "serializing": "other",
    "tests": None,
    "teardown": None,
}
SIGNALS = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sighup": signal.SIGHUP}


@dataclass(frozen=True)
class Fault:
    phase: str
    action: str
    alias: str | None


def planned_fault():
    """Return the Fault that FAULTS_AT asks for, or None."""
    spec = os.environ.get("FAULTS_AT")
    if not spec:
        return None
    phase, action, *rest = spec.split(":")
    if phase not in DEFAULT_ALIASES or (action != "raise" and action not in SIGNALS) or len(rest) > 1:
        raise RuntimeError(f"FAULTS_AT={spec!r} is not <phase>:<action>[:<alias>].")
    return Fault(phase, action, rest[0] if rest else DEFAULT_ALIASES[phase])


def main_pid():
    """Return the pid of the run's main process (set when the main process installs the faults)."""
    return int(os.environ["FAULTS_MAIN_PID"])


class Injector:
    """Fire one fault, once."""

    def __init__(self, fault):
        self.fault = fault
        self.fired = False

    def at(self, phase, alias=None):
        """Fire the fault if the run is at its phase (and alias), in the main process."""
        fault = self.fault
        if self.fired or phase != fault.phase or os.getpid() != main_pid():
            return
        if fault.alias is not None and alias != fault.alias:
            return
        self.fire()

    def fire(self):
        self.fired = True
        markers.touch(f"fired-{self.fault.phase}")
        if self.fault.action == "raise":
            raise RuntimeError(f"injected fault at {self.fault.phase}")
        os.kill(main_pid(), SIGNALS[self.fault.action])


#: The injector of this process, if FAULTS_AT asks for a fault.
injector = None


def install():
    """Install the wrapper that FAULTS_AT's phase needs."""
    global injector
    # A worker inherits the main process's value.
    os.environ.setdefault("FAULTS_MAIN_PID", str(os.getpid()))
    fault = planned_fault()
    if fault is None or injector is not None:
        return
    injector = Injector(fault)
    install_wrapper = WRAPPERS.get(fault.phase)
    if install_wrapper is not None:
        install_wrapper(injector)


def wrap_create_test_db(injector):
    from django.conf import settings

    # The SQLite backend overrides _create_test_db: wrap each backend's own.
    classes = {import_module(f"{db['ENGINE']}.creation").DatabaseCreation for db in settings.DATABASES.values()}
    for creation_class in classes:
        original = creation_class._create_test_db

        def _create_test_db(self, *args, original=original, **kwargs):
            name = original(self, *args, **kwargs)
            injector.at("creating", self.connection.alias)
            return name

        creation_class._create_test_db = _create_test_db


#: Where the runner may define create_legacy_tables (its layout has changed before).
LEGACY_MODULES = ("multidb_runner.setup.legacy", "multidb_runner.legacy")


def legacy_module():
    """Import the runner's module that defines ``create_legacy_tables``."""
    import multidb_runner

    # Looked for beside the imported package: another copy of the package
    # on the path (an editable install) must not answer for a missing module.
    package = Path(multidb_runner.__file__).parent
    for name in LEGACY_MODULES:
        if package.joinpath(*name.split(".")[1:]).with_suffix(".py").exists():
            return import_module(name)
    raise RuntimeError(f"None of {', '.join(LEGACY_MODULES)} exists in {package}: update LEGACY_MODULES.")


def wrap_create_legacy_tables(injector):
    # Replaced before the runner is imported, so that it gets the wrapper
    # however it imports the function.
    legacy = legacy_module()
    original = legacy.create_legacy_tables

    def create_legacy_tables(connection, *args, **kwargs):
        injector.at("legacy", connection.alias)
        return original(connection, *args, **kwargs)

    legacy.create_legacy_tables = create_legacy_tables


def wrap_clone_test_db(injector):
    from django.db.backends.base.creation import BaseDatabaseCreation

    original = BaseDatabaseCreation.clone_test_db

    def clone_test_db(self, *args, **kwargs):
        original(self, *args, **kwargs)
        injector.at("cloning", self.connection.alias)

    BaseDatabaseCreation.clone_test_db = clone_test_db


def wrap_serialize_db_to_string(injector):
    from django.db.backends.base.creation import BaseDatabaseCreation

    original = BaseDatabaseCreation.serialize_db_to_string

    def serialize_db_to_string(self, *args, **kwargs):
        injector.at("serializing", self.connection.alias)
        return original(self, *args, **kwargs)

    BaseDatabaseCreation.serialize_db_to_string = serialize_db_to_string


def wrap_destroy_test_db(injector):
    from django.db.backends.base.creation import BaseDatabaseCreation

    original = BaseDatabaseCreation.destroy_test_db

    def destroy_test_db(self, *args, **kwargs):
        injector.at("teardown")
        return original(self, *args, **kwargs)

    BaseDatabaseCreation.destroy_test_db = destroy_test_db


WRAPPERS = {
    "creating": wrap_create_test_db,
    "legacy": wrap_create_legacy_tables,
    "cloning": wrap_clone_test_db,
    "serializing": wrap_serialize_db_to_string,
    "teardown": wrap_destroy_test_db,
}


def in_migration(apps, schema_editor):
    """RunPython code of the ``fault`` migrations: the ``migrating`` phase."""
    if injector is not None:
        injector.at("migrating", schema_editor.connection.alias)


def in_test():
    """
    The ``tests`` phase, called by a test after it committed rows.

    The signal goes to the main process, as Ctrl-C or ``kill`` would. In a
    parallel worker the test then waits for the main process to end: the
    run must stop the worker rather than let the test finish.
    """
    if injector is None or injector.fault.phase != "tests":
        return
    injector.fire()
    if os.getpid() != main_pid():
        markers.wait_for(lambda: not markers.is_running(main_pid()), "the main process to stop")
