"""
Measure coverage in the main process and in every parallel worker.

``coverage run manage.py test --parallel 2`` misses the workers' code unless
the project configures ``concurrency = multiprocessing`` and runs a combine
step. With ``--coverage`` the runner does both: it restarts the command under
``multidb_runner.coverage_bootstrap`` so that measurement starts before
Django and the project are imported (as ``coverage run`` would), starts a
measurement in each worker (fork, spawn or forkserver), then combines the
data and reports, honouring the project's coverage configuration (source,
omit, fail_under, and html/xml output when the configuration has a section
for them).
"""

from __future__ import annotations

import multiprocessing.util
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import coverage

from ..errors import sentence

#: Set in the environment of the restarted command.
BOOTSTRAP_ENVIRONMENT = "MULTIDB_RUNNER_COVERAGE"
#: Options of the Python interpreter that take a value.
INTERPRETER_OPTIONS_WITH_VALUE = {"-W", "-X", "--check-hash-based-pycs"}


def restart_command(orig_argv: Sequence[str], executable: str) -> list[str] | None:
    """
    Return the command that reruns this process under the coverage bootstrap.

    ``orig_argv`` is ``sys.orig_argv``: the interpreter, its options, then a
    script or ``-m module``, then the script's arguments. Return None when the
    process cannot be rerun that way (``-c``, an interactive interpreter).
    """
    interpreter_options: list[str] = []
    arguments = list(orig_argv[1:])
    while arguments and arguments[0].startswith("-") and arguments[0] != "-":
        option = arguments.pop(0)
        if option == "-m":
            if not arguments:
                return None
            return [executable, *interpreter_options, "-m", "multidb_runner.coverage_bootstrap", "-m", *arguments]
        if option == "-c":
            return None
        interpreter_options.append(option)
        if option in INTERPRETER_OPTIONS_WITH_VALUE and arguments:
            interpreter_options.append(arguments.pop(0))
    if not arguments or arguments[0] == "-":
        return None
    return [executable, *interpreter_options, "-m", "multidb_runner.coverage_bootstrap", *arguments]


def new_measurement() -> coverage.Coverage:
    """Return a Coverage that reads the project's configuration and writes its own data file."""
    return coverage.Coverage(data_suffix=True, config_file=True)


def start_in_main_process() -> coverage.Coverage:
    """
    Make sure this process is measured from its start; return its Coverage.

    If it is not measured yet, the old data files are erased and the command
    is run again under the bootstrap (this call then never returns). Where
    that is impossible, measurement starts here, later than it should.
    """
    current = coverage.Coverage.current()
    if current is not None:
        return current
    if not os.environ.get(BOOTSTRAP_ENVIRONMENT):
        command = restart_command(getattr(sys, "orig_argv", []), sys.executable)
        if command is not None:
            new_measurement().erase()
            sys.stdout.flush()
            sys.stderr.flush()
            os.environ[BOOTSTRAP_ENVIRONMENT] = "1"
            os.execv(command[0], command)
    measurement = new_measurement()
    measurement.erase()
    measurement.start()
    return measurement


def start_in_worker() -> None:
    """
    Measure this worker until it exits.

    Under fork the main process's measurement is inherited: it is stopped
    (its data is the main process's to save) and a new one starts.
    """
    inherited = coverage.Coverage.current()
    if inherited is not None:
        inherited.stop()
    measurement = new_measurement()
    measurement.start()

    def save() -> None:
        measurement.stop()
        measurement.save()

    # Run when the worker process ends normally (multiprocessing's own exit).
    multiprocessing.util.Finalize(None, save, exitpriority=32)


def configured_sections(measurement: coverage.Coverage) -> set[str]:
    """Return the report sections the project's configuration files set up."""
    sections: set[str] = set()
    pattern = re.compile(r"^\s*\[(?:coverage:|tool\.coverage\.)?(html|xml|json|lcov)\]\s*$", re.MULTILINE)
    for path in getattr(measurement.config, "config_files_read", []):
        try:
            with open(path, encoding="utf-8") as handle:
                sections.update(pattern.findall(handle.read()))
        except OSError:
            continue
    return sections


def finish(main: coverage.Coverage, log: Any) -> bool:
    """
    Save, combine and report; return False if coverage is below ``fail_under``.

    ``log`` prints an informational line (the runner's ``log``); failures are
    written to standard error whatever the verbosity.
    """
    main.stop()
    main.save()
    combined = coverage.Coverage(config_file=True)
    main_file = os.path.abspath(main.get_data().data_filename())
    combined_file = os.path.abspath(combined.config.data_file)
    if main_file == combined_file and os.path.exists(main_file):
        # Measured by a `coverage run` without parallel mode: its data is in
        # the combined file itself, which combining skips and replaces. Give
        # it a parallel file's name first.
        os.replace(main_file, f"{main_file}.main")
    combined.combine()
    combined.save()
    try:
        total = combined.report()
    except coverage.CoverageException as exc:
        sys.stderr.write(f"Coverage report failed: {sentence(exc)}\n")
        return False
    sections = configured_sections(combined)
    if "html" in sections:
        combined.html_report()
        log(f"Coverage HTML written to {combined.get_option('html:directory')}/")
    if "xml" in sections:
        combined.xml_report()
        log(f"Coverage XML written to {combined.get_option('xml:output')}")
    if "json" in sections:
        combined.json_report()
    fail_under = float(combined.get_option("report:fail_under") or 0)  # type: ignore[arg-type]
    precision = int(combined.get_option("report:precision") or 0)  # type: ignore[arg-type]
    if fail_under and round(total, precision) < fail_under:
        sys.stderr.write(f"Coverage failure: total of {total:.{precision}f}% is less than fail_under={fail_under:g}.\n")
        return False
    return True
