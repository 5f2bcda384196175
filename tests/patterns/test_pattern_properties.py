"""Property: the automaton, the single compiled pattern and the naive reference always agree."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus.errors import InvalidPatternError
from eventbus.patterns import Matcher, compile_pattern
from eventbus.patterns.reference import reference_matches

from .strategies import EVENTS, patterns_from


@st.composite
def rule_sets(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = draw(st.lists(EVENTS, min_size=1, max_size=4))
    patterns = [
        draw(patterns_from(draw(st.sampled_from(events)))) for _ in range(draw(st.integers(1, 6)))
    ]
    return patterns, events


def _valid(patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for pattern in patterns:
        try:
            compile_pattern(pattern)
        except InvalidPatternError:
            continue
        out.append(pattern)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets())
def test_matcher_agrees_with_compile_pattern_and_the_reference(
    case: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    patterns, events = case
    patterns = _valid(patterns)
    matcher = Matcher()
    for i, pattern in enumerate(patterns):
        matcher.add(f"r{i}", pattern)
    for event in events:
        single = [f"r{i}" for i, p in enumerate(patterns) if compile_pattern(p).matches(event)]
        naive = [f"r{i}" for i, p in enumerate(patterns) if reference_matches(p, event)]
        got = matcher.match(event)
        assert got == single == naive, (
            f"patterns={patterns} event={event} matcher={got} single={single} reference={naive}"
        )


@settings(max_examples=100, deadline=None)
@given(rule_sets(), st.data())
def test_matcher_after_replace_and_remove_agrees_with_a_fresh_one(
    case: tuple[list[dict[str, Any]], list[dict[str, Any]]], data: st.DataObject
) -> None:
    patterns, events = case
    patterns = _valid(patterns)
    matcher = Matcher()
    for i, pattern in enumerate(patterns):
        matcher.add(f"r{i}", pattern)
    kept = dict(enumerate(patterns))
    for i in data.draw(
        st.sets(st.sampled_from(range(len(patterns)))) if patterns else st.just(set())
    ):
        matcher.remove(f"r{i}")
        del kept[i]
    if kept:
        first = min(kept)
        kept[first] = patterns[-1]
        matcher.add(f"r{first}", patterns[-1])
    fresh = Matcher()
    for i, pattern in kept.items():
        fresh.add(f"r{i}", pattern)
    for event in events:
        assert matcher.match(event) == fresh.match(event)
