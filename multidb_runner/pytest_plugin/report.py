"""The plugin's part of pytest's terminal summary: the runner's report, merged over xdist workers."""

from __future__ import annotations

from typing import Any

import pytest

from ..reports.usage_report import ClassDatabases, format_usage_report


def merge(
    outputs: list[dict[str, Any]],
) -> tuple[dict[str, ClassDatabases], dict[str, set[str]], list[str], set[str]]:
    """
    Merge the report data of several processes (a serial run has one).

    A test database was never created if no process created it.
    """
    classes: dict[str, ClassDatabases] = {}
    used: dict[str, set[str]] = {}
    messages: list[str] = []
    not_set_up = set.intersection(*(set(output["not_set_up"]) for output in outputs)) if outputs else set()
    for output in outputs:
        for key, value in output["classes"].items():
            declared = value["declared"]
            classes[key] = ClassDatabases(
                declared=None if declared is None else frozenset(declared), given=frozenset(value["given"])
            )
        for key, aliases in output["used"].items():
            used.setdefault(key, set()).update(aliases)
        messages += [message for message in output["messages"] if message not in messages]
    return classes, used, messages, not_set_up


def summary_lines(config: pytest.Config) -> list[str]:
    """Return the lines to show at the end of the session."""
    from .state import RUN_KEY

    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return []
    controller = config.pluginmanager.get_plugin("multidb_runner.pytest_plugin.xdist")
    outputs = list(controller.outputs.values()) if controller is not None and controller.outputs else []
    if not outputs:
        outputs = [run.report_data()]
    classes, used, messages, not_set_up = merge(outputs)
    lines: list[str] = []
    for message in messages:
        lines.extend(message.splitlines())
    if run.session.config.report_db_usage:
        lines.extend(format_usage_report(classes, used, not_set_up=not_set_up).splitlines())
    if controller is not None and controller.destroyed:
        lines.append(
            "Destroyed the test databases left by workers that died: " + ", ".join(sorted(controller.destroyed)) + "."
        )
    return lines
