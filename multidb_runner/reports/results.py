"""
Record what each test did and how long it took: JUnit XML and a durations file.

The recording sits on the main process's test result. In a parallel run the
events of each worker are replayed there all at once, so durations cannot be
measured in the main process: they come from the workers as ``addDuration``
events (unittest sends them itself from Python 3.12; ``workers`` sends them
on older Pythons).
"""

from __future__ import annotations

import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TestRecord:
    """The outcome of one test."""

    test_id: str
    class_name: str
    name: str
    outcome: str = "passed"  # passed, failure, error, skipped
    message: str = ""
    details: str = ""
    duration: float | None = None
    extra: list[tuple[str, str, str]] = field(default_factory=list)


def split_test_id(test: unittest.TestCase) -> tuple[str, str]:
    """Return (class name, test name) of ``test``, as CI systems show them."""
    test_id = test.id().split(" ", 1)[0]
    class_name, _, name = test_id.rpartition(".")
    return class_name or test_id, name or test_id


class RecordingResult(unittest.TextTestResult):
    """A TextTestResult that also keeps every test's outcome and duration."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: dict[str, TestRecord] = {}
        self._started: dict[str, float] = {}

    def record(self, test: unittest.TestCase) -> TestRecord:
        test_id = test.id()
        if test_id not in self.records:
            class_name, name = split_test_id(test)
            self.records[test_id] = TestRecord(test_id, class_name, name)
        return self.records[test_id]

    def startTest(self, test: unittest.TestCase) -> None:
        self._started[test.id()] = time.perf_counter()
        self.record(test)
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        started = self._started.pop(test.id(), None)
        record = self.record(test)
        if record.duration is None and started is not None and sys.version_info < (3, 12):
            # Serial run on a Python whose unittest sends no addDuration.
            record.duration = time.perf_counter() - started

    def addDuration(self, test: unittest.TestCase, elapsed: float) -> None:
        self.record(test).duration = elapsed
        parent = getattr(super(), "addDuration", None)
        if parent is not None:
            parent(test, elapsed)

    def set_outcome(self, test: unittest.TestCase, outcome: str, err: Any = None, message: str = "") -> None:
        record = self.record(test)
        details = self._exc_info_to_string(err, test) if err is not None else ""  # type: ignore[attr-defined]
        if err is not None and not message:
            message = f"{getattr(err[0], '__name__', err[0])}: {err[1]}"
        if record.outcome in ("failure", "error") and outcome in ("failure", "error"):
            record.extra.append((outcome, message, details))
            return
        record.outcome, record.message, record.details = outcome, message, details

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self.set_outcome(test, "error", err)

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self.set_outcome(test, "failure", err)

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self.set_outcome(test, "skipped", message=reason)

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self.set_outcome(test, "failure", message="Unexpected success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.set_outcome(test, "failure" if failed else "error", err, f"{subtest}: {err[1]}")

    def class_durations(self) -> dict[str, float]:
        """Return the total duration of each test class that ran."""
        totals: dict[str, float] = {}
        for record in self.records.values():
            if record.duration is not None and record.outcome != "skipped":
                totals[record.class_name] = totals.get(record.class_name, 0.0) + record.duration
        return totals


def write_junit_xml(path: str, records: Mapping[str, TestRecord], name: str = "multidb_runner") -> None:
    """Write a JUnit XML report: one testsuite per class, one testcase per test."""
    by_class: dict[str, list[TestRecord]] = {}
    for record in records.values():
        by_class.setdefault(record.class_name, []).append(record)
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for class_name in sorted(by_class):
        cases = by_class[class_name]
        counts = {
            "tests": len(cases),
            "failures": sum(case.outcome == "failure" for case in cases),
            "errors": sum(case.outcome == "error" for case in cases),
            "skipped": sum(case.outcome == "skipped" for case in cases),
            "time": sum(case.duration or 0.0 for case in cases),
        }
        attributes = {"name": class_name, **{key: format_number(value) for key, value in counts.items()}}
        suite = ET.SubElement(root, "testsuite", attributes)
        for case in cases:
            element = ET.SubElement(
                suite, "testcase", classname=class_name, name=case.name, time=format_number(case.duration or 0.0)
            )
            if case.outcome == "skipped":
                ET.SubElement(element, "skipped", message=case.message)
            elif case.outcome in ("failure", "error"):
                for outcome, message, details in [(case.outcome, case.message, case.details), *case.extra]:
                    child = ET.SubElement(element, outcome, message=message.splitlines()[0] if message else "")
                    child.text = details
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, format_number(value))
    ET.indent(root)
    partial = f"{path}.partial"
    ET.ElementTree(root).write(partial, encoding="utf-8", xml_declaration=True)
    os.replace(partial, path)


def format_number(value: float) -> str:
    """Format a count as an integer and a time with millisecond precision."""
    return str(value) if isinstance(value, int) else f"{value:.3f}"
