"""Invalid patterns are refused at compile time with EventBridge's reason, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from eventbus.errors import InvalidPatternError
from eventbus.patterns import Matcher, compile_pattern

from .cases import case_id, load_cases

INVALID = load_cases("invalid_patterns.yaml")


@pytest.mark.parametrize("case", INVALID, ids=case_id)
def test_invalid_pattern_is_refused_with_the_reference_reason(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidPatternError) as caught:
        compile_pattern(case["pattern"])
    assert (caught.value.path, caught.value.reason) == (case["path"], case["reason"])
    assert str(caught.value) == f"{case['path']}: {case['reason']}"


def test_invalid_pattern_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Empty arrays are not allowed"):
        compile_pattern({"a": []})


def test_matcher_add_refuses_an_invalid_pattern_and_keeps_nothing() -> None:
    matcher = Matcher()
    with pytest.raises(InvalidPatternError):
        matcher.add("bad", {"a": "b"})
    assert "bad" not in matcher


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "this is not json",
            "Unrecognized token 'this': was expecting (JSON String, Number, Array, Object or "
            "token 'null', 'true' or 'false')",
        ),
        (
            "{'bad': 'quotation'}",
            "Unexpected character (''' (code 39)): was expecting double-quote to start field name",
        ),
        (
            '{"not": closed mark"',
            "Unrecognized token 'closed': was expecting (JSON String, Number, Array, Object or "
            "token 'null', 'true' or 'false')",
        ),
        ('["not", "a", "dict"]', "Filter is not an object"),
        ('{"c": [NaN]}', "Non-standard token 'NaN'"),
    ],
)
def test_json_text_errors_read_like_jacksons(text: str, reason: str) -> None:
    with pytest.raises(InvalidPatternError) as caught:
        compile_pattern(text)
    assert caught.value.reason.startswith(reason)


def test_json_text_with_a_duplicate_key_keeps_the_last() -> None:
    text = '{"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}'
    compiled = compile_pattern(text)
    assert compiled.matches({"location": "eu-west"})
    assert not compiled.matches({"location": "us-east"})


def test_json_text_validates_every_occurrence_of_a_duplicate_key() -> None:
    with pytest.raises(InvalidPatternError, match="must be an object or an array"):
        compile_pattern('{"a": 1, "a": ["x"]}')


def test_pattern_longer_than_the_limit_is_refused() -> None:
    long_value = "x" * 4100
    with pytest.raises(InvalidPatternError, match="4096"):
        compile_pattern({"a": [long_value]})
    with pytest.raises(InvalidPatternError, match="4096"):
        compile_pattern('{"a": ["' + long_value + '"]}')


def test_pattern_of_exactly_the_limit_is_accepted() -> None:
    text = '{"a": ["' + "x" * (4096 - 11) + '"]}'
    assert len(text) == 4096
    assert compile_pattern(text).matches({"a": "x" * (4096 - 11)})


def test_or_expanding_past_1000_combinations_is_refused() -> None:
    eleven = [{f"k{i}": ["v"]} for i in range(11)]
    pattern = {"a": {"$or": eleven}, "b": {"$or": eleven}, "c": {"$or": eleven}}
    with pytest.raises(InvalidPatternError, match="1000"):
        compile_pattern(pattern)


def test_or_of_exactly_1000_combinations_is_accepted() -> None:
    ten = [{f"k{i}": ["v"]} for i in range(10)]
    compiled = compile_pattern({"a": {"$or": ten}, "b": {"$or": ten}, "c": {"$or": ten}})
    assert compiled.matches({"a": {"k3": "v"}, "b": {"k9": "v"}, "c": {"k0": "v"}})
