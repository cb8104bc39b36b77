"""Each option is defined once (``multidb_runner.options``); --help, the README and the docs agree with it."""

import argparse
import re
from pathlib import Path
from unittest import TestCase

from multidb_runner import DEFAULTS, MultiDBRunner
from multidb_runner.options import OPTIONS

REPO = Path(__file__).resolve().parent.parent


class OptionTableTests(TestCase):
    def test_help_is_the_tables(self):
        parser = argparse.ArgumentParser()
        MultiDBRunner.add_arguments(parser)
        actions = {action.dest: action for action in parser._actions}
        for option in OPTIONS:
            with self.subTest(option=option.flag):
                self.assertIn(option.flag, actions[option.dest].option_strings)
                self.assertEqual(actions[option.dest].help, option.help)

    def test_defaults_are_the_tables(self):
        self.assertEqual(DEFAULTS, {option.setting: option.default for option in OPTIONS})

    def test_runner_takes_each_option_as_a_keyword(self):
        runner = MultiDBRunner(**{option.dest: None for option in OPTIONS}, verbosity=0)
        self.addCleanup(runner.restore_run_state)
        self.assertEqual(set(runner.options), {option.dest for option in OPTIONS})
        sharded = MultiDBRunner(shard="1/2", verbosity=0)
        self.addCleanup(sharded.restore_run_state)
        self.assertEqual(sharded.options["shard"], "1/2")


class DocumentedOptionsTests(TestCase):
    def test_readme_names_every_key_with_its_default_and_every_flag(self):
        readme = (REPO / "README.md").read_text()
        shown = dict(re.findall(r'^\s+"([A-Z_]+)": (.+),$', readme, flags=re.M))
        for option in OPTIONS:
            with self.subTest(option=option.setting):
                self.assertEqual(shown.get(option.setting), repr(option.default))
                self.assertIn(f"`{option.flag}", readme)

    def test_configuration_page_names_every_key_and_flag(self):
        page = (REPO / "docs" / "configuration.rst").read_text()
        for option in OPTIONS:
            with self.subTest(option=option.setting):
                self.assertIn(f'"{option.setting}"', page)
                self.assertIn(f"``{option.flag}", page)
