"""run_local: the contract of the in-process driver, one rule per test."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventbus.errors import InvalidExecutionInput
from eventbus.workflows import TaskFailed, run_local

from .helpers import machine, output, run, types


def test_pass_state_result_replaces_the_input_by_default() -> None:
    assert output(run({"A": {"Type": "Pass", "Result": {"x": 1}, "End": True}}, {"in": 1})) == {
        "x": 1
    }


def test_history_of_a_pass_machine_is_as_get_execution_history_returns_it() -> None:
    result = run({"A": {"Type": "Pass", "End": True}}, {"a": 1})
    assert types(result) == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded",
    ]
    ids = [(e["id"], e["previousEventId"]) for e in result["events"]]
    assert ids == [(1, 0), (2, 0), (3, 2), (4, 3)]
    exited = result["events"][2]["stateExitedEventDetails"]
    assert exited == {"name": "A", "output": '{"a":1}', "outputDetails": {"truncated": False}}


def test_tasks_are_called_through_the_resolver_with_their_input() -> None:
    seen = []

    def double(value: dict[str, int]) -> dict[str, int]:
        seen.append(value)
        return {"n": value["n"] * 2}

    states = {"T": {"Type": "Task", "Resource": "double", "End": True}}
    assert output(run(states, {"n": 4}, tasks={"double": double})) == {"n": 8}
    assert seen == [{"n": 4}]


def test_a_task_without_a_resolver_fails_with_states_task_failed_naming_the_resource() -> None:
    result = run({"T": {"Type": "Task", "Resource": "nowhere", "End": True}})
    assert result["status"] == "FAILED"
    assert result["error"] == "States.TaskFailed"
    assert "nowhere" in result["cause"]


def test_a_task_raising_task_failed_reports_its_error_and_cause() -> None:
    def boom(_: object) -> None:
        raise TaskFailed("Custom.Error", "it broke")

    result = run({"T": {"Type": "Task", "Resource": "boom", "End": True}}, tasks={"boom": boom})
    assert (result["status"], result["error"], result["cause"]) == (
        "FAILED", "Custom.Error", "it broke"
    )


def test_wait_states_do_not_sleep_and_advance_the_virtual_clock() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    states = {
        "W": {"Type": "Wait", "Seconds": 3600, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime"}, "End": True},
    }
    assert output(run(states, start_time=start)) == {"t": "2024-01-01T01:00:00.000Z"}


def test_top_level_timeout_seconds_times_the_execution_out() -> None:
    states = {"W": {"Type": "Wait", "Seconds": 60, "End": True}}
    result = run(states, top={"TimeoutSeconds": 5})
    assert result["status"] == "TIMED_OUT"
    assert types(result)[-1] == "ExecutionTimedOut"


def test_an_input_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidExecutionInput):
        run_local(machine({"A": {"Type": "Pass", "End": True}}), "{not json")


def test_the_same_execution_name_gives_the_same_history() -> None:
    states = {"A": {"Type": "Pass", "Parameters": {"u.$": "States.UUID()"}, "End": True}}
    start = datetime(2024, 1, 1, tzinfo=UTC)
    first = run(states, execution_name="n1", start_time=start)
    again = run(states, execution_name="n1", start_time=start)
    assert first == again


def test_jsonata_random_uuid_and_now_come_from_the_execution() -> None:
    state = {"Type": "Pass", "End": True, "Output": {
        "r": "{% $random() %}", "u": "{% $uuid() %}", "t": "{% $now() %}"}}
    start = datetime(2024, 1, 1, tzinfo=UTC)
    first = run({"A": state}, top={"QueryLanguage": "JSONata"}, execution_name="n",
                start_time=start)
    again = run({"A": state}, top={"QueryLanguage": "JSONata"}, execution_name="n",
                start_time=start)
    assert output(first) == output(again)
    assert output(first)["t"].startswith("2024-01-01T00:00:00")


def test_task_events_follow_the_resources_family() -> None:
    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    integration = "arn:aws:states:::lambda:invoke"
    states = {
        "L": {"Type": "Task", "Resource": lambda_arn, "Next": "I"},
        "I": {"Type": "Task", "Resource": integration, "End": True},
    }
    result = run(states, tasks={lambda_arn: lambda v: v, integration: lambda v: v})
    assert types(result)[2:5] == ["LambdaFunctionScheduled", "LambdaFunctionStarted",
                                  "LambdaFunctionSucceeded"]
    scheduled = next(e for e in result["events"] if e["type"] == "TaskScheduled")
    details = scheduled["taskScheduledEventDetails"]
    assert (details["resourceType"], details["resource"]) == ("lambda", "invoke")


def test_a_callback_task_gets_its_token_through_the_context_object() -> None:
    resource = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    state = {"Type": "Task", "Resource": resource, "End": True,
             "Parameters": {"token.$": "$$.Task.Token"}}
    result = run({"T": state}, tasks={resource: lambda v: {"got": v["token"]}})
    assert output(result)["got"]
