"""Hypothesis strategies for PutEvents entries: any shape, odd types, deep or huge values."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

__all__ = ["ENTRIES"]

_TEXT = st.one_of(st.text(max_size=8), st.sampled_from(["\ud800", "aws.x", "{}", '{"a":1}']))
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_DETAILS = st.one_of(
    _TEXT,
    _JSON_VALUES.map(lambda v: orjson.dumps(v, default=str).decode() if _dumpable(v) else "{"),
    st.integers(1, 1100).map(lambda n: '{"a":' + "[" * n + "]" * n + "}"),
    st.integers(-(2**70), 2**70).map(lambda n: f'{{"n": {n}}}'),
)
_TIMES = st.one_of(
    st.datetimes(timezones=st.timezones()), st.floats(), st.integers(), _TEXT,
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "2022-01-01"]),
)  # fmt: skip
ENTRIES = st.fixed_dictionaries(
    {},
    optional={
        "Source": st.one_of(_TEXT, _JSON_VALUES), "DetailType": st.one_of(_TEXT, _JSON_VALUES),
        "Detail": st.one_of(_DETAILS, _JSON_VALUES), "Time": st.one_of(_TIMES, _JSON_VALUES),
        "Resources": st.one_of(st.lists(_TEXT, max_size=3), _JSON_VALUES),
        "EventBusName": st.one_of(_TEXT, _JSON_VALUES), "TraceHeader": _TEXT,
        "IdempotencyKey": st.one_of(_TEXT, _JSON_VALUES),
    },
)  # fmt: skip


def _dumpable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True
