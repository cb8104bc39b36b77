"""Unit tests of how --coverage restarts the command (pure logic)."""

from unittest import TestCase

from multidb_runner.reports.coverage_support import restart_command

BOOT = ["-m", "multidb_runner.coverage_bootstrap"]


class RestartCommandTests(TestCase):
    def test_script(self):
        self.assertEqual(
            restart_command(["python", "manage.py", "test", "-v", "2"], "/py"),
            ["/py", *BOOT, "manage.py", "test", "-v", "2"],
        )

    def test_module(self):
        self.assertEqual(
            restart_command(["python", "-m", "django", "test", "--settings", "s"], "/py"),
            ["/py", *BOOT, "-m", "django", "test", "--settings", "s"],
        )

    def test_interpreter_options_are_kept(self):
        self.assertEqual(
            restart_command(["python", "-W", "error::DeprecationWarning", "-X", "dev", "-u", "runtests.py"], "/py"),
            ["/py", "-W", "error::DeprecationWarning", "-X", "dev", "-u", *BOOT, "runtests.py"],
        )
        self.assertEqual(
            restart_command(["python", "-Werror", "-m", "django", "test"], "/py"),
            ["/py", "-Werror", *BOOT, "-m", "django", "test"],
        )

    def test_commands_that_cannot_be_restarted(self):
        for argv in (["python", "-c", "import x"], ["python"], ["python", "-"], ["python", "-m"]):
            with self.subTest(argv=argv):
                self.assertIsNone(restart_command(argv, "/py"))
