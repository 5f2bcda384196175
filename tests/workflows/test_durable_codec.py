"""Replies are stored as JSON and read back as the same reply: replay depends on it."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from eventbus.workflows.commands import (
    ExecutionTimeout,
    StopExecution,
    TaskResult,
    TaskStarted,
    TimerFired,
)
from eventbus.workflows.store import reply_from_json, reply_to_json

moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                       timezones=st.just(UTC))
texts = st.none() | st.text(max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10,
)
replies = st.one_of(
    st.builds(TaskResult, st.text(min_size=1, max_size=36), moments, json_values, texts, texts,
              st.booleans(), st.booleans(), texts),
    st.builds(TaskStarted, st.text(min_size=1, max_size=36), moments, texts),
    st.builds(TimerFired, st.text(min_size=1, max_size=36), moments),
    st.builds(ExecutionTimeout, moments),
    st.builds(StopExecution, moments, texts, texts),
)


@given(replies)
def test_a_stored_reply_reads_back_equal_to_the_one_stored(reply: object) -> None:
    assert reply_from_json(reply_to_json(reply)) == reply  # type: ignore[arg-type]
