"""
``runtests.py``: option values are never taken for test labels.

``-v 2``, ``-k NAME``, ``--parallel 2``: without a label, the ``tests``
package runs, whatever values the options take, in their ``--opt value``
and ``--opt=value`` forms.
"""

import os
import subprocess
import sys

from django.test import SimpleTestCase

import runtests

from .e2e import REPO, make_temp_dir


class TestCommandArgumentsTests(SimpleTestCase):
    def assertArguments(self, args, expected):
        self.assertEqual(runtests.test_command_arguments(args), expected)

    def test_option_values_are_not_labels(self):
        for args in (
            ["-v", "2"],
            ["-k", "test_plan"],
            ["--parallel", "2"],
            ["--parallel=2"],
            ["-v2", "--tag", "slow", "--exclude-tag=fast"],
            ["--shard", "1/2", "--db-suffix", "ci", "--start-method", "spawn"],
            ["--databases", "default", "--junit-xml", "report.xml", "--timing"],
        ):
            with self.subTest(args=args):
                self.assertArguments(args, ["tests", *args, "--noinput"])

    def test_labels_are_kept(self):
        self.assertArguments(["-k", "x", "tests.test_plan"], ["-k", "x", "tests.test_plan", "--noinput"])
        self.assertArguments(["tests.test_plan", "-v", "2"], ["tests.test_plan", "-v", "2", "--noinput"])

    def test_input(self):
        self.assertArguments(["--no-input", "-v", "2"], ["tests", "--no-input", "-v", "2"])
        self.assertArguments(["--interactive", "-v", "2"], ["tests", "-v", "2"])

    def test_mistakes_are_left_to_the_test_command(self):
        self.assertArguments(["--parallel", "many"], ["--parallel", "many"])


class SelectedByNameTarget(SimpleTestCase):
    """The one test that ``runtests.py -k`` selects in the subprocess below."""

    def test_runtests_picks_me_by_name(self):
        self.assertEqual(os.environ["DJANGO_SETTINGS_MODULE"], "tests.settings")


class RunTestsTests(SimpleTestCase):
    def test_name_pattern_and_verbosity_without_a_label(self):
        # From another folder: the ``tests`` package runs, not what the folder holds.
        folder = make_temp_dir(self)
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "MULTIDB_TEST_DATA"))
        }
        completed = subprocess.run(
            [sys.executable, str(REPO / "runtests.py"), "-k", "test_runtests_picks_me_by_name", "-v", "2"],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        output = completed.stdout + completed.stderr
        self.assertEqual(completed.returncode, 0, output)
        self.assertIn(
            "test_runtests_picks_me_by_name (tests.test_runtests.SelectedByNameTarget"
            ".test_runtests_picks_me_by_name) ... ok",
            completed.stderr,
        )
        self.assertIn("Ran 1 test", completed.stderr)
