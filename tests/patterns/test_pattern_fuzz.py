"""Fuzzing pattern compilation: any pattern, however malformed, compiles or raises
``InvalidPatternError``; a compiled pattern judges any event without raising."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.errors import InvalidPatternError
from eventbus.patterns import compile_pattern
from eventbus.patterns.parse import MAX_PATTERN_DEPTH

from .strategies import EVENTS

_OPERATORS = [
    "prefix", "suffix", "anything-but", "numeric", "exists", "cidr", "wildcard",
    "equals-ignore-case", "exactly", "$or", "source", "detail",
]  # fmt: skip
_KEYS = st.one_of(st.sampled_from([*_OPERATORS, "a", "", "\ud800"]), st.text(max_size=3))
_ODD = st.one_of(
    st.sampled_from([10**400, -(10**30), 2**63, float("nan"), float("inf"), -0.0, 1e308]),
    st.sampled_from(["\ud800", "\udc00*", "*\ud83d", "10.0.0.0/8", "::/0", "a*b*c", "\\*", "<"]),
    st.sampled_from([">", ">=", "<", "=", "<=", b"bytes", (1, 2), frozenset({1})]),
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4), _ODD
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_KEYS, inner, max_size=3)
        | st.dictionaries(st.integers(), inner, max_size=1)
    ),
    max_leaves=10,
)
_PATTERNS = st.one_of(st.dictionaries(_KEYS, _VALUES, max_size=3), _VALUES)


def _deep(depth: int, kind: str) -> str:
    inner = "[" * depth + "1" + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth
    return '{"a":' + inner + "}"


def _text(pattern: Any, cut: int) -> str:
    text = json.dumps(pattern, default=str)
    return text[: len(text) - cut]  # a cut leaves text that is rarely JSON at all


_TEXTS = st.one_of(
    st.builds(_text, _PATTERNS, st.integers(0, 3)),
    st.builds(_deep, st.integers(MAX_PATTERN_DEPTH - 3, 2000), st.sampled_from("[{")),
    st.text(max_size=20),
)


def _compiles_or_refuses(pattern: Any, events: list[dict[str, Any]]) -> None:
    try:
        compiled = compile_pattern(pattern)
    except InvalidPatternError:
        return
    for event in events:
        assert isinstance(compiled.matches(event), bool)


@settings(max_examples=100, deadline=None)
@given(_PATTERNS, st.lists(EVENTS, max_size=2))
def test_any_pattern_value_compiles_or_raises_invalid_pattern_error(
    pattern: Any, events: list[dict[str, Any]]
) -> None:
    _compiles_or_refuses(pattern, events)


@settings(max_examples=100, deadline=None)
@given(_TEXTS, st.lists(EVENTS, max_size=2))
def test_any_pattern_text_compiles_or_raises_invalid_pattern_error(
    text: str, events: list[dict[str, Any]]
) -> None:
    _compiles_or_refuses(text, events)


def test_a_pattern_nested_past_the_limit_is_refused_as_text_and_as_a_value() -> None:
    value: Any = 1
    for _ in range(2000):
        value = [value]
    for pattern in ({"a": value}, _deep(2000, "["), _deep(MAX_PATTERN_DEPTH, "{")):
        try:
            compile_pattern(pattern)
        except InvalidPatternError as e:
            assert (
                e.reason
                == f"Pattern nests objects and arrays deeper than {MAX_PATTERN_DEPTH} levels"
            )
        else:
            raise AssertionError(f"compiled {str(pattern)[:40]}")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    compile_pattern('{"a": ["' + "[" * (MAX_PATTERN_DEPTH + 1) + '"]}')
