"""The adapters the shared conformance runner calls stay in place and keep working."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from eventbus.errors import InvalidPatternError, InvalidScheduleError


def _adapters() -> ModuleType:
    path = Path(__file__).parent.parent / "bench" / "adapters.py"
    spec = importlib.util.spec_from_file_location("conformance_adapters", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ADAPTERS = _adapters()
EVENT = {"id": "1", "account": "1", "source": "shop", "time": "t", "region": "r",
         "detail-type": "X", "detail": {"total": 5}}  # fmt: skip


def test_match_adapter_judges_and_refuses_as_test_event_pattern() -> None:
    assert ADAPTERS.match({"detail": {"total": [5.0]}}, EVENT) is True
    with pytest.raises(InvalidPatternError):
        ADAPTERS.match({"detail": {"total": 5}}, EVENT)


def test_transform_adapter_renders_a_template() -> None:
    assert ADAPTERS.transform(EVENT, {"t": "$.detail.total"}, '{"t": <t>}') == '{"t": 5}'


def test_schedule_adapters_validate_and_count_a_matching_start() -> None:
    assert ADAPTERS.validate("rate(5 minutes)") is True
    with pytest.raises(InvalidScheduleError):
        ADAPTERS.validate("rate(5 minute)")
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert ADAPTERS.next_times("cron(0 * * * ? *)", start, 2)[0] == start
