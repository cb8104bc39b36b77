"""Unit tests of the JUnit XML report and the durations file."""

import json
import xml.etree.ElementTree as ET
from unittest import TestCase

from multidb_runner.config import ConfigurationError
from multidb_runner.reports.durations import read_durations, write_durations
from multidb_runner.reports.results import TestRecord, write_junit_xml

from .e2e import make_temp_dir


class JUnitXmlTests(TestCase):
    def test_report(self):
        path = make_temp_dir(self) / "report.xml"
        records = {
            "a.T.test_ok": TestRecord("a.T.test_ok", "a.T", "test_ok", duration=0.25),
            "a.T.test_bad": TestRecord(
                "a.T.test_bad", "a.T", "test_bad", "failure", "AssertionError: 1 != 2", "Traceback...", 1.5
            ),
            "b.U.test_skip": TestRecord("b.U.test_skip", "b.U", "test_skip", "skipped", "needs postgres"),
            "b.U.test_err": TestRecord("b.U.test_err", "b.U", "test_err", "error", "KeyError: 'x'\nmore", "tb", 0.1),
        }
        write_junit_xml(str(path), records)
        root = ET.parse(path).getroot()
        self.assertEqual(root.tag, "testsuites")
        self.assertEqual(
            {key: root.get(key) for key in ("tests", "failures", "errors", "skipped", "time")},
            {"tests": "4", "failures": "1", "errors": "1", "skipped": "1", "time": "1.850"},
        )
        cases = {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}
        self.assertEqual(cases[("a.T", "test_ok")].get("time"), "0.250")
        failure = cases[("a.T", "test_bad")].find("failure")
        self.assertEqual((failure.get("message"), failure.text), ("AssertionError: 1 != 2", "Traceback..."))
        self.assertEqual(cases[("b.U", "test_skip")].find("skipped").get("message"), "needs postgres")
        self.assertEqual(cases[("b.U", "test_err")].find("error").get("message"), "KeyError: 'x'")
        self.assertEqual([suite.get("name") for suite in root.iter("testsuite")], ["a.T", "b.U"])


class DurationsFileTests(TestCase):
    def test_missing_file_is_empty_and_writes_merge(self):
        path = str(make_temp_dir(self) / "durations.json")
        self.assertEqual(read_durations(path), {})
        write_durations(path, {"a.T": 1.23456, "b.U": 2.0})
        write_durations(path, {"b.U": 3.0, "c.V": 0.5})
        self.assertEqual(read_durations(path), {"a.T": 1.2346, "b.U": 3.0, "c.V": 0.5})
        with open(path) as handle:
            self.assertEqual(json.load(handle)["format"], 2)

    def test_format_1_files_are_read(self):
        path = make_temp_dir(self) / "durations.json"
        path.write_text('{"format": 1, "classes": {"a.T": 1.5}}')
        self.assertEqual(read_durations(str(path)), {"a.T": 1.5})

    def test_shards_balance_with_the_same_durations_until_the_round_completes(self):
        path = str(make_temp_dir(self) / "durations.json")
        write_durations(path, {"a.T": 1.0, "b.U": 1.0})
        # Shard 1/2 reports: what shard 2/2 reads next is unchanged.
        write_durations(path, {"a.T": 9.0}, shard=(1, 2))
        self.assertEqual(read_durations(path), {"a.T": 1.0, "b.U": 1.0})
        # Shard 1/2 again (a retried job) does not complete the round either.
        write_durations(path, {"a.T": 8.0}, shard=(1, 2))
        self.assertEqual(read_durations(path), {"a.T": 1.0, "b.U": 1.0})
        # Shard 2/2 completes it: the next round balances with what was measured.
        write_durations(path, {"b.U": 5.0}, shard=(2, 2))
        self.assertEqual(read_durations(path), {"a.T": 8.0, "b.U": 5.0})
        with open(path) as handle:
            self.assertEqual(set(json.load(handle)), {"format", "classes"})

    def test_rounds_of_different_sizes_are_counted_apart(self):
        path = str(make_temp_dir(self) / "durations.json")
        write_durations(path, {"a.T": 2.0}, shard=(1, 3))
        write_durations(path, {"b.U": 2.0}, shard=(2, 2))
        write_durations(path, {"c.V": 2.0}, shard=(3, 3))
        self.assertEqual(read_durations(path), {})
        write_durations(path, {"d.W": 2.0}, shard=(1, 2))
        self.assertEqual(set(read_durations(path)), {"a.T", "b.U", "c.V", "d.W"})

    def test_invalid_file(self):
        path = make_temp_dir(self) / "durations.json"
        for content in ("not json", '{"classes": {"a": "slow"}}', "[1, 2]", '{"classes": {}, "shards": {"2": "x"}}'):
            path.write_text(content)
            with self.subTest(content=content), self.assertRaisesRegex(ConfigurationError, "--durations-file"):
                read_durations(str(path))
