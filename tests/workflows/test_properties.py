"""Properties of any execution: it ends, its history is well formed, and it replays exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from .helpers import run

START = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def machines(draw: st.DrawFn) -> dict[str, Any]:
    """Forward-only machines of the states that need no task: they always end."""
    n = draw(st.integers(1, 6))
    names = [f"S{i}" for i in range(n)]
    states: dict[str, Any] = {}
    for i, name in enumerate(names):
        later = names[i + 1:]
        kind = draw(st.sampled_from(["Pass", "Wait", "Choice", "Fail", "Succeed"]
                                    if later else ["Pass", "Wait", "Fail", "Succeed"]))
        state: dict[str, Any] = {"Type": kind}
        if kind == "Pass":
            state["Result"] = draw(st.integers(-5, 5) | st.text(max_size=3))
            state["ResultPath"] = "$.r"
        elif kind == "Wait":
            state["Seconds"] = draw(st.integers(0, 100))
        elif kind == "Choice":
            state["Choices"] = [{"Variable": "$.x", "NumericGreaterThan": draw(st.integers(-3, 3)),
                                 "Next": draw(st.sampled_from(later))}]
            state["Default"] = draw(st.sampled_from(later))
        elif kind == "Fail":
            state["Error"] = "E"
        if kind in ("Pass", "Wait"):
            if later:
                state["Next"] = draw(st.sampled_from(later))
            else:
                state["End"] = True
        states[name] = state
    return states


def _reachable(states: dict[str, Any]) -> dict[str, Any]:
    """Only the states reachable from the first, as validation requires."""
    seen, todo = set(), [next(iter(states))]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo += [c["Next"] for c in state.get("Choices", ())]
        todo += [state[k] for k in ("Next", "Default") if k in state]
    return {k: v for k, v in states.items() if k in seen}


@given(machines(), st.integers(-5, 5))
def test_every_execution_ends_with_a_well_formed_history(
    states: dict[str, Any], x: int
) -> None:
    result = run(_reachable(states), {"x": x}, start_time=START, top={"TimeoutSeconds": 250})
    assert result["status"] in ("SUCCEEDED", "FAILED", "TIMED_OUT")
    events = result["events"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] < e["id"] for e in events)
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"].startswith("Execution")
    assert sum(e["type"].startswith("Execution") for e in events) == 2


@given(machines(), st.integers(-5, 5))
def test_an_execution_replays_to_the_same_history(states: dict[str, Any], x: int) -> None:
    reachable = _reachable(states)
    first = run(reachable, {"x": x}, start_time=START, execution_name="same")
    assert run(reachable, {"x": x}, start_time=START, execution_name="same") == first
