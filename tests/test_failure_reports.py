"""A failing target is a warning on the default log level: once at first, then a summary."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventbus.config import load_rules
from eventbus.lanes import FailureReporter, Lane

RULES = """rules:
  - name: r
    event_pattern: {source: [a]}
    targets: [{id: t, type: log}]
"""


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


@pytest.fixture
def records() -> Iterator[Records]:
    handler, logger = Records(), logging.getLogger("eventbus.worker")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def lane(tmp_path: Path) -> Lane:
    (tmp_path / "r.yaml").write_text(RULES)
    bus = load_rules(tmp_path).buses["default"]
    rule = bus.rules["r"]
    return Lane(bus, rule, rule.targets[0], instance=None, concurrency=1)


def test_the_first_failure_is_a_warning_then_one_summary_per_interval(
    records: Records, lane: Lane
) -> None:
    now = [0.0]
    reporter = FailureReporter(interval=60, clock=lambda: now[0])
    for _ in range(100):  # 100 failures within the first minute: one warning
        reporter.failed(lane, "TARGET_ERROR", "connection refused")
        now[0] += 0.5
    assert records.warnings() == ["target failing"]
    now[0] = 60.0
    reporter.failed(lane, "TARGET_ERROR", "connection refused")  # a minute on: the summary
    assert records.warnings()[1:] == ["target still failing"]
    summary = records.records[-1].fields  # type: ignore[attr-defined]
    assert summary["failures"] == 100 and summary["target"] == "t"


def test_a_success_says_so_and_the_next_failure_is_reported_at_once(
    records: Records, lane: Lane
) -> None:
    reporter = FailureReporter(interval=60, clock=lambda: 0.0)
    reporter.succeeded(lane)  # a target that never failed says nothing
    reporter.failed(lane, "TARGET_ERROR", "down")
    reporter.succeeded(lane)
    reporter.failed(lane, "TARGET_ERROR", "down again")
    assert records.warnings() == ["target failing",
                                  "target delivering again",
                                  "target failing"]  # fmt: skip
