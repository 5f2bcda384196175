"""Matching cost: linear in the event's arrays, bounded by a step budget whatever the rules.

Costs are counted in matcher steps (``budget=``), never in time: an event that fits a budget
proportional to its size matched in linear work; one that overspends raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus.errors import InvalidPatternError, MatchBudgetExceededError
from eventbus.patterns import Matcher, compile_pattern
from eventbus.patterns.reference import reference_matches

from .strategies import SCALARS, patterns_from

RULES = Path(__file__).resolve().parents[2] / "rules" / "orders.yaml"


def _big_orders() -> dict[str, Any]:
    rules = yaml.safe_load(RULES.read_text())["rules"]
    return next(r["event_pattern"] for r in rules if r["name"] == "big-orders")


def _nested_order(n: int, total: int = 500) -> dict[str, Any]:
    """Arrays of arrays in each of the three ``detail`` fields big-orders names."""
    detail = {"channel": [["web"]] * n, "currency": [["EUR"]] * n, "total": [[total]] * n}
    return {"source": "shop.orders", "detail-type": "OrderPlaced", "detail": detail}


@pytest.mark.parametrize("n", [300, 3000])
def test_arrays_of_arrays_in_three_fields_take_steps_linear_in_their_size(n: int) -> None:
    # The cross product of positions would be n**3 (2.7e10 at n = 3000); 10 steps a position.
    budget = 10 * n
    matcher = Matcher()
    matcher.add("big-orders", _big_orders())
    compiled = compile_pattern(_big_orders())
    assert matcher.match(_nested_order(n), budget) == ["big-orders"]
    assert compiled.matches(_nested_order(n), budget)
    assert compiled.explain(_nested_order(n), budget) is None
    assert compiled.explain(_nested_order(n, total=50), budget) == (
        "detail.total: no value matches the pattern (event has 50, 50, 50, 50, 50)"
    )


def test_an_exists_false_field_does_not_multiply_the_arrays_of_fields_between() -> None:
    # a.z, matched last, keeps each element of `a` in mind while `b` is matched.
    pattern = {"detail": {"a": {"x": [1]}, "b": {"y": [1]}, "a.z": [{"exists": False}]}}
    n = 1000
    event = {"detail": {"a": [{"x": 1}] * n, "b": [{"y": 1}] * n}}
    assert compile_pattern(pattern).matches(event, budget=10 * n)
    event["detail"]["a"] = [{"x": 1, "z": 0}] * n
    assert not compile_pattern(pattern).matches(event, budget=10 * n)


def test_fields_sharing_an_array_of_objects_look_only_at_their_own_element() -> None:
    pattern = {"items": {"sku": ["s-7"], "qty": [3], "gift": [True]}}
    n = 2000
    items: list[dict[str, Any]] = [{"sku": f"s-{i}", "qty": i % 5, "gift": True} for i in range(n)]
    assert not compile_pattern(pattern).matches({"items": items}, budget=20 * n)
    items[7]["qty"] = 3
    assert compile_pattern(pattern).matches({"items": items}, budget=20 * n)


def test_an_event_past_the_budget_raises_and_the_same_event_always_does() -> None:
    matcher = Matcher()
    matcher.add("big-orders", _big_orders())
    event = _nested_order(300)
    for _ in range(2):
        with pytest.raises(MatchBudgetExceededError) as error:
            matcher.match(event, budget=1000)
        assert error.value.budget == 1000
        assert "EVENTBUS_MATCH_BUDGET" in str(error.value)
    with pytest.raises(MatchBudgetExceededError):
        compile_pattern(_big_orders()).explain(event, budget=1000)


def _non_indexed(i: int) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = [
        {"anything-but": {"prefix": f"p{i}-"}},
        {"anything-but": {"suffix": f"-s{i}"}},
        {"anything-but": {"wildcard": f"w{i}*"}},
        {"cidr": f"10.{i % 256}.{i // 256}.0/24"},
    ]
    return {"detail": {"tags": [conditions[i % 4]]}}


def _tag(i: int) -> str:
    if i % 8 == 3:
        return f"10.{i % 256}.{i // 256}.9"  # in rule i's block
    return f"p{i}-x-s{i}" if i % 2 else f"w{i}-x"  # excluded by rule i (and only by it)


def test_many_non_indexed_rules_against_a_big_array_cost_rules_plus_strings() -> None:
    size = 1000
    matcher = Matcher()
    for i in range(size):
        matcher.add(f"r{i:04d}", _non_indexed(i))
    # Each anything-but rule holds for some string; cidr rule i holds only if _tag(i) is an IP.
    expected = [f"r{i:04d}" for i in range(size) if i % 4 != 3 or i % 8 == 3]
    # Each rule tried on each string would be 1,000,000 steps.
    got = matcher.match({"detail": {"tags": [_tag(i) for i in range(size)]}}, budget=20 * size)
    assert got == expected


# ---- the same answers as the reference, with nested arrays -------------------------------------

# Arrays of objects (and of arrays of them), whose elements hold scalars, arrays and objects:
# patterns drawn from two leaves often name fields of different elements of one array.
INNER = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(st.sampled_from(["b", "c"]), inner, min_size=1, max_size=2)
    ),
    max_leaves=4,
)
OBJECTS = st.lists(
    st.dictionaries(st.sampled_from(["b", "c", "d"]), INNER, min_size=1, max_size=3),
    min_size=2,
    max_size=3,
)
NESTED_EVENTS = st.dictionaries(
    st.sampled_from(["a", "e"]),
    OBJECTS | st.lists(OBJECTS, min_size=1, max_size=2) | INNER,
    min_size=1,
    max_size=2,
)


@st.composite
def nested_cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    event = draw(NESTED_EVENTS)
    patterns = [draw(patterns_from(event)) for _ in range(draw(st.integers(1, 5)))]
    return patterns, event


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_cases())
def test_nested_arrays_match_as_the_reference_says(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    patterns, event = case
    matcher = Matcher()
    valid = []
    for pattern in patterns:
        try:
            matcher.add(f"r{len(valid)}", pattern)
        except InvalidPatternError:
            continue
        valid.append(pattern)
    naive = [f"r{i}" for i, p in enumerate(valid) if reference_matches(p, event)]
    single = [f"r{i}" for i, p in enumerate(valid) if compile_pattern(p).matches(event)]
    assert matcher.match(event) == single == naive, f"patterns={valid} event={event}"
