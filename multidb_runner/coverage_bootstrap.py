"""
Run a Python command measured by coverage from its first line.

``--coverage`` restarts ``manage.py test`` as
``python -m multidb_runner.coverage_bootstrap manage.py test ...`` (or
``... -m django test ...``), as ``coverage run`` would, so that the lines run
while Django and the project are imported count too. Saving, combining and
reporting are the runner's job.
"""

from __future__ import annotations

import os
import runpy
import sys

from multidb_runner.reports.coverage_support import new_measurement


def main(argv: list[str]) -> None:
    """Start measuring, then run ``argv`` (a script and its arguments, or ``-m module ...``)."""
    new_measurement().start()
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
