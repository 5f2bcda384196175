"""Service limits: 256 KiB payloads and 25,000 history events."""

from __future__ import annotations

from .helpers import run


def test_a_result_over_256_kib_fails_with_data_limit_exceeded() -> None:
    state = {"Type": "Pass", "Parameters": {"big": "x" * 262_144}, "End": True}
    result = run({"P": state})
    assert result["error"] == "States.DataLimitExceeded"
    assert result["cause"] == ("The state/task 'P' returned a result with a size exceeding the "
                               "maximum number of bytes service limit.")


def test_a_result_of_exactly_256_kib_passes() -> None:
    state = {"Type": "Pass", "Result": "x" * (262_144 - 2), "End": True}
    assert run({"P": state})["status"] == "SUCCEEDED"


def test_an_execution_stops_at_25000_history_events() -> None:
    states = {
        "Loop": {"Type": "Pass", "Next": "Check"},
        "Check": {"Type": "Choice", "Default": "Loop",
                  "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}]},
        "Done": {"Type": "Succeed"},
    }
    result = run(states)
    assert result["status"] == "FAILED"
    assert len(result["events"]) == 25_001


def test_the_history_limit_is_not_located_at_a_state() -> None:
    # AWS's cause names no state, even when an inline Map's iteration reaches the limit.
    states = {"Each": {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": True}}}, "End": True}}
    result = run(states, list(range(6300)))
    assert (result["error"], result["cause"]) == (
        "States.Runtime", "The execution reached the maximum number of history events (25000).")
