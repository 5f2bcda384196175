"""Every documented rule, through compile_pattern, Matcher and the reference evaluator."""

from __future__ import annotations

from typing import Any

import pytest

from eventbus.patterns import Matcher, compile_pattern
from eventbus.patterns.reference import reference_matches

from .cases import case_id, load_cases

CASES = load_cases("patterns.yaml")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_compile_pattern_gives_the_documented_answer(case: dict[str, Any]) -> None:
    got = compile_pattern(case["pattern"]).matches(case["event"])
    assert got is case["match"], f"pattern={case['pattern']} event={case['event']} got={got}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matcher_gives_the_documented_answer(case: dict[str, Any]) -> None:
    matcher = Matcher()
    matcher.add("rule", case["pattern"])
    got = matcher.match(case["event"])
    want = ["rule"] if case["match"] else []
    assert got == want, f"pattern={case['pattern']} event={case['event']} got={got}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_reference_evaluator_gives_the_documented_answer(case: dict[str, Any]) -> None:
    got = reference_matches(case["pattern"], case["event"])
    assert got is case["match"], f"pattern={case['pattern']} event={case['event']} got={got}"


def test_one_matcher_holding_every_case_answers_each_event_like_its_pattern() -> None:
    matcher = Matcher()
    for case in CASES:
        matcher.add(case["name"], case["pattern"])
    compiled = {c["name"]: compile_pattern(c["pattern"]) for c in CASES}
    for case in CASES:
        want = sorted(name for name, p in compiled.items() if p.matches(case["event"]))
        assert matcher.match(case["event"]) == want, case["name"]
