"""Retry and Catch: matching, attempts, back-off on the virtual clock, error output."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from eventbus.workflows import TaskFailed
from eventbus.workflows.errors_handling import backoff_delay, matches

from .helpers import output, run, types

START = datetime(2024, 1, 1, tzinfo=UTC)


def _flaky(failures: int):  # type: ignore[no-untyped-def]
    calls = []

    def task(value: object) -> object:
        calls.append(value)
        if len(calls) <= failures:
            raise TaskFailed("Flaky", f"attempt {len(calls)}")
        return {"ok": len(calls)}

    return task, calls


def test_retry_runs_the_task_again_until_it_succeeds() -> None:
    task, calls = _flaky(2)
    state = {"Type": "Task", "Resource": "f", "End": True,
             "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 3}]}
    assert output(run({"T": state}, tasks={"f": task})) == {"ok": 3}
    assert len(calls) == 3


def test_retry_gives_up_after_max_attempts_with_the_last_error() -> None:
    task, calls = _flaky(10)
    state = {"Type": "Task", "Resource": "f", "End": True,
             "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]}
    result = run({"T": state}, tasks={"f": task})
    assert (result["error"], result["cause"], len(calls)) == ("Flaky", "attempt 3", 3)


def test_retry_waits_interval_times_backoff_on_the_virtual_clock() -> None:
    task, _ = _flaky(2)
    state = {"Type": "Task", "Resource": "f", "End": True,
             "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 3}]}
    result = run({"T": state}, tasks={"f": task}, start_time=START)
    scheduled = [e["timestamp"] for e in result["events"] if e["type"] == "TaskScheduled"]
    assert scheduled == ["2024-01-01T00:00:00.000Z", "2024-01-01T00:00:02.000Z",
                         "2024-01-01T00:00:08.000Z"]


def test_max_delay_seconds_caps_the_back_off() -> None:
    assert backoff_delay({"IntervalSeconds": 10, "BackoffRate": 10, "MaxDelaySeconds": 15},
                         3, lambda: 0.5) == 15


@given(st.floats(min_value=0, max_value=1, exclude_max=True), st.integers(0, 5))
def test_full_jitter_scales_the_delay_by_the_injected_random(r: float, attempt: int) -> None:
    retrier = {"IntervalSeconds": 1, "BackoffRate": 2, "JitterStrategy": "FULL"}
    assert backoff_delay(retrier, attempt, lambda: r) == 2.0**attempt * r


def test_states_all_matches_everything_but_terminal_errors() -> None:
    assert matches(["States.ALL"], "Anything")
    assert matches(["States.ALL"], "States.Timeout")
    assert not matches(["States.ALL"], "States.Runtime")
    assert not matches(["States.ALL"], "States.DataLimitExceeded")


def test_catch_sends_the_error_output_to_its_next_state_at_its_result_path() -> None:
    state = {"Type": "Task", "Resource": "f", "Next": "Done",
             "Catch": [{"ErrorEquals": ["Flaky"], "ResultPath": "$.error", "Next": "Handler"}]}
    states = {"T": state, "Handler": {"Type": "Pass", "End": True},
              "Done": {"Type": "Pass", "End": True}}
    task, _ = _flaky(1)
    result = run(states, {"in": 1}, tasks={"f": task})
    assert output(result) == {"in": 1, "error": {"Error": "Flaky", "Cause": "attempt 1"}}
    assert types(result)[-4:] == ["TaskStateExited", "PassStateEntered", "PassStateExited",
                                  "ExecutionSucceeded"]


def test_jsonata_catch_output_sees_states_error_output() -> None:
    state = {"Type": "Task", "Resource": "f", "End": True, "Catch": [{
        "ErrorEquals": ["States.ALL"], "Next": "H",
        "Output": {"e": "{% $states.errorOutput.Error %}"}}]}
    states = {"T": state, "H": {"Type": "Pass", "End": True}}
    task, _ = _flaky(1)
    result = run(states, tasks={"f": task}, top={"QueryLanguage": "JSONata"})
    assert output(result) == {"e": "Flaky"}


def test_a_runtime_error_is_neither_retried_nor_caught_by_states_all() -> None:
    state = {"Type": "Task", "Resource": "f", "InputPath": "$.nope", "End": True,
             "Retry": [{"ErrorEquals": ["States.ALL"]}],
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]}
    result = run({"T": state, "H": {"Type": "Pass", "End": True}}, tasks={"f": lambda v: v})
    assert result["error"] == "States.Runtime"


def test_a_task_that_times_out_fails_with_states_timeout_which_retry_can_match() -> None:
    calls = []

    def slow(value: object) -> object:
        calls.append(value)
        if len(calls) == 1:
            raise TimeoutError
        return "done"

    state = {"Type": "Task", "Resource": "slow", "TimeoutSeconds": 5, "End": True,
             "Retry": [{"ErrorEquals": ["States.Timeout"]}]}
    result = run({"T": state}, tasks={"slow": slow})
    assert output(result) == "done"
    assert "TaskTimedOut" in types(result)


def test_states_task_failed_matches_every_error_but_timeouts_and_terminal_ones() -> None:
    assert matches(["States.TaskFailed"], "Custom.Error")
    assert matches(["States.TaskFailed"], "States.Permissions")
    assert not matches(["States.TaskFailed"], "States.Timeout")
    assert not matches(["States.TaskFailed"], "States.Runtime")


def test_a_retried_attempt_sees_its_retry_count_in_the_context_object() -> None:
    seen = []

    def task(value: dict[str, int]) -> str:
        seen.append(value["n"])
        if len(seen) < 3:
            raise TaskFailed("Flaky", "again")
        return "ok"

    state = {"Type": "Task", "Resource": "f", "End": True,
             "Parameters": {"n.$": "$$.State.RetryCount"},
             "Retry": [{"ErrorEquals": ["Flaky"]}]}
    assert output(run({"T": state}, tasks={"f": task})) == "ok"
    assert seen[1:] == [1, 2]
