"""
End-to-end: --coverage on the shop project, serial and parallel.

The project's .coveragerc measures its own apps and writes the data to
SHOP_DB_DIR; coverage_strict.rc adds fail_under = 100 and html/xml output.
"""

import re
import sys

from .e2e import run_manage
from .test_end_to_end import ShopTestCase

TOTAL = re.compile(r"^TOTAL\s+(\d+)\s+(\d+)\s+([\d.]+)%$", re.MULTILINE)


class CoverageTests(ShopTestCase):
    def total(self, result):
        self.assertEqual(result.returncode, 0, result)
        match = TOTAL.search(result.stdout)
        self.assertIsNotNone(match, result)
        return match.groups()

    def test_parallel_figure_equals_serial_for_every_start_method(self):
        serial = self.total(self.manage("test", "--coverage"))
        self.assertGreater(float(serial[2]), 40)
        for method in ("fork", "spawn", "forkserver"):
            with self.subTest(method=method):
                parallel = self.manage("test", "--coverage", "--parallel", "2", "--start-method", method)
                self.assertEqual(self.total(parallel), serial)
                self.assertIn("Ran 9 tests", parallel.stderr)
        # One combined data file, no per-process leftovers, no test database.
        self.assertEqual(self.files(), [".coverage"])

    def test_plain_coverage_run_misses_the_workers(self):
        ours = self.total(self.manage("test", "--coverage", "--parallel", "2"))
        environment = {"SHOP_DB_DIR": str(self.db_dir)}
        plain = run_manage(
            "shop", "test", "--parallel", "2", env=environment, python=[sys.executable, "-m", "coverage", "run"]
        )
        self.assertEqual(plain.returncode, 0, plain)
        report = run_manage("shop", "report", env=environment, python=[sys.executable, "-m", "coverage"])
        plain_total = TOTAL.search(report.stdout).groups()
        self.assertLess(float(plain_total[2]), float(ours[2]))

    def test_fail_under_and_html_xml_from_the_configuration(self):
        result = self.manage("test", "--coverage", "--parallel", "2", "-v", "0", COVERAGE_RCFILE="coverage_strict.rc")
        self.assertEqual(result.returncode, 1, result)
        self.assertNotIn("FAILED", result.stderr)
        self.assertRegex(result.stderr, r"Coverage failure: total of [\d.]+% is less than fail_under=100\.")
        self.assertTrue((self.db_dir / "htmlcov" / "index.html").exists())
        self.assertIn("<coverage", (self.db_dir / "coverage.xml").read_text())

    def test_under_coverage_run_without_parallel_mode(self):
        ours = self.total(self.manage("test", "--coverage", "--parallel", "2"))
        environment = {"SHOP_DB_DIR": str(self.db_dir)}
        wrapped = run_manage(
            "shop",
            "test",
            "--coverage",
            "--parallel",
            "2",
            env=environment,
            python=[sys.executable, "-m", "coverage", "run"],
        )
        self.assertEqual(self.total(wrapped), ours)

    def test_setting_turns_it_on(self):
        result = self.manage("test", "checks.test_mirror", SHOP_MULTIDB_RUNNER='{"COVERAGE": true}')
        self.total(result)
        self.assertEqual(self.files(), [".coverage"])
