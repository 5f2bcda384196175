"""The Matcher's contract: add replaces, remove refuses unknown names, match lists names once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eventbus.patterns import CompiledPattern, Matcher, compile_pattern

ORDER = {"source": "shop", "detail": {"total": 150, "items": [{"sku": "a"}, {"sku": "b"}]}}


def test_match_lists_each_matching_name_once_sorted() -> None:
    matcher = Matcher()
    matcher.add("zeta", {"source": ["shop"]})
    matcher.add("alpha", {"$or": [{"source": ["shop"]}, {"detail": {"total": [150]}}]})
    matcher.add("other", {"source": ["bank"]})
    assert matcher.match(ORDER) == ["alpha", "zeta"]


def test_add_with_an_existing_name_replaces_the_pattern() -> None:
    matcher = Matcher()
    matcher.add("r", {"source": ["shop"]})
    matcher.add("r", {"source": ["bank"]})
    assert matcher.match(ORDER) == []
    assert len(matcher) == 1


def test_remove_forgets_the_pattern() -> None:
    matcher = Matcher()
    matcher.add("r", {"source": ["shop"]})
    matcher.remove("r")
    assert matcher.match(ORDER) == []
    assert "r" not in matcher


def test_remove_of_an_unknown_name_raises_key_error() -> None:
    with pytest.raises(KeyError):
        Matcher().remove("nope")


def test_add_accepts_json_text_and_compiled_patterns() -> None:
    matcher = Matcher()
    matcher.add("text", '{"source": ["shop"]}')
    matcher.add("compiled", compile_pattern({"detail": {"items": {"sku": ["b"]}}}))
    assert matcher.match(ORDER) == ["compiled", "text"]


def test_adding_after_matching_extends_the_matcher() -> None:
    matcher = Matcher()
    matcher.add("a", {"source": ["shop"]})
    assert matcher.match(ORDER) == ["a"]
    matcher.add("b", {"detail": {"total": [{"numeric": [">", 100]}]}})
    assert matcher.match(ORDER) == ["a", "b"]


def test_compiled_pattern_names_its_top_level_fields() -> None:
    compiled = compile_pattern({"source": ["s"], "detail": {"a.b": ["x"]}, "x.y": ["z"]})
    assert compiled.fields == {"source", "detail", "x"}
    assert isinstance(compiled, CompiledPattern)


def test_explain_is_none_on_a_match_and_names_the_failing_field_otherwise() -> None:
    assert compile_pattern({"source": ["shop"]}).explain(ORDER) is None
    compiled = compile_pattern({"source": ["shop"], "detail": {"total": [{"numeric": [">", 200]}]}})
    assert compiled.explain(ORDER).startswith("detail.total: ")  # type: ignore[union-attr]
    assert compile_pattern({"x": ["y"]}).explain(ORDER).startswith("x: ")  # type: ignore[union-attr]


def test_an_event_dict_with_non_string_keys_is_matched_by_its_string_keys() -> None:
    event = {1: "x", "a.b": "y", (2, 3): {"c": 1}}
    assert compile_pattern({"a": {"b": ["y"]}}).matches(event)  # type: ignore[arg-type]
    assert Matcher().match(event) == []  # type: ignore[arg-type]


def test_matching_a_non_object_event_raises_type_error() -> None:
    with pytest.raises(TypeError):
        compile_pattern({"a": ["b"]}).matches(["not", "an", "object"])  # type: ignore[arg-type]


def test_importing_patterns_loads_no_redis_asyncio_or_httpx() -> None:
    code = (
        "import sys, eventbus.patterns, eventbus.patterns.reference; "
        "print(sorted(m for m in ('redis', 'asyncio', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_events_of_many_key_layouts_match_as_the_reference_says() -> None:
    # The flattening remembers, per node, which keys of an object lead somewhere, by the
    # object's key tuple: more layouts than it keeps, dotted keys, dict subclasses and an int
    # too large for a float must all give the reference's answers.
    from collections import OrderedDict

    from eventbus.patterns.reference import reference_matches

    patterns = {
        "total": {"detail": {"total": [{"numeric": [">", 10]}], "status": ["paid"]}},
        "big": {"detail": {"big": [{"exists": True}], "k2": [2]}},
        "nested": {"detail": {"a": {"b": [{"prefix": "x"}]}}},
    }
    matcher = Matcher()
    for name, pattern in patterns.items():
        matcher.add(name, pattern)
    events = []
    for i in range(200):
        detail: dict[str, object] = {f"k{j}": j for j in range(i % 7)}
        detail[f"extra{i}"] = i  # a new key tuple for every event
        detail.update(total=i, status="paid" if i % 3 else "new")
        if i % 5 == 0:
            detail["big"] = 10**400
        if i % 4 == 0:
            detail["a.b"] = "xy"
        elif i % 4 == 1:
            detail["a"] = {"b": ["x", "y"]}
        events.append({"detail": OrderedDict(detail) if i % 6 == 0 else detail})
    answers = set()
    for event in events + events[:10]:
        expected = sorted(n for n, p in patterns.items() if reference_matches(p, event))
        assert matcher.match(event) == expected, event
        answers.add(tuple(expected))
    assert len(answers) > 4  # the events tell the patterns apart


@pytest.mark.parametrize("bound", [">", ">=", "<", "<="])
def test_a_nan_in_a_dict_event_is_in_no_numeric_range(bound: str) -> None:
    # JSON has no NaN, but an event made in Python can hold one: no comparison with it holds.
    # One matcher per pattern: a table of one shape of range has a search of its own.
    five_holds = bound in (">=", "<=")
    for numeric, holds in (([bound, 5], five_holds), ([">", 0, "<=", 9], True)):
        matcher = Matcher()
        matcher.add("r", {"detail": {"total": [{"numeric": numeric}]}})
        assert matcher.match({"detail": {"total": float("nan")}}) == []
        assert matcher.match({"detail": {"total": [float("nan"), 5]}}) == (["r"] if holds else [])
