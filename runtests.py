#!/usr/bin/env python
"""
Run multidb_runner's own test suite through ``manage.py test``.

``tests/settings.py`` sets TEST_RUNNER to MultiDBRunner, so every run of
this suite goes through the runner itself. Extra arguments are passed to
the test command: ``python runtests.py tests.test_plan -v 2 --parallel 2``.
"""

import atexit
import os
import shutil
import sys
import tempfile
import warnings

#: The label run when the command line names none.
DEFAULT_LABEL = "tests"


def test_command_arguments(args):
    """
    Return the arguments of Django's ``test`` command for ``runtests.py ARGS``.

    The ``tests`` package when ``args`` name no test label, and ``--noinput``
    unless ``--interactive`` is given. Labels are told from option values
    (``-v 2``, ``-k NAME``, ``--parallel 2``) by the ``test`` command's own
    parser, with every option of the test runner.
    """
    from django.core.management.base import CommandError
    from django.core.management.commands.test import Command

    interactive = "--interactive" in args
    args = [arg for arg in args if arg != "--interactive"]
    parser = Command().create_parser(sys.argv[0], "test")
    try:
        options, _ = parser.parse_known_args(args)
    except CommandError:
        # A mistake on the command line: the test command reports it.
        return args
    if not options.args:
        args = [DEFAULT_LABEL, *args]
    if options.interactive and not interactive:
        # A test database left by an interrupted run is replaced without asking.
        args.append("--noinput")
    return args


if __name__ == "__main__":
    warnings.simplefilter("error", DeprecationWarning)
    warnings.simplefilter("error", PendingDeprecationWarning)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    if not os.environ.get("MULTIDB_TEST_DATA_DIR"):
        # SQLite test databases of this run go to a folder of its own, removed at
        # the end (by the restarted process, with --coverage).
        os.environ["MULTIDB_TEST_DATA_DIR"] = tempfile.mkdtemp(prefix="multidb_runner_run_")
        # Owned by this process id, which a --coverage restart (exec) keeps
        # and subprocesses of the suite do not share.
        os.environ["MULTIDB_TEST_DATA_DIR_OWNER"] = str(os.getpid())
    if os.environ.get("MULTIDB_TEST_DATA_DIR_OWNER") == str(os.getpid()):
        atexit.register(shutil.rmtree, os.environ["MULTIDB_TEST_DATA_DIR"], ignore_errors=True)
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "test", *test_command_arguments(sys.argv[1:])])
