"""Step Functions' execution operations through boto3 against the real gateway, on the durable
store (no worker runs here: executions stay RUNNING unless stopped)."""

from __future__ import annotations

from typing import Any

from sfn_gateway import create
from sfn_gateway import refusal as _error


def _machine(sfn: Any, name: str = "m") -> str:
    return create(sfn, name)


def test_a_started_execution_is_described_and_listed(sfn: Any) -> None:
    arn = _machine(sfn)
    started = sfn.start_execution(stateMachineArn=arn, name="e1", input='{"a": 1}')
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert (described["name"], described["status"], described["input"]) == (
        "e1", "RUNNING", '{"a": 1}')
    assert described["startDate"] == started["startDate"]
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["executionArn"] for e in listed] == [started["executionArn"]]


def test_starting_the_same_name_and_input_again_answers_the_same_execution(sfn: Any) -> None:
    arn = _machine(sfn)
    first = sfn.start_execution(stateMachineArn=arn, name="once", input="{}")
    again = sfn.start_execution(stateMachineArn=arn, name="once", input="{}")
    assert again["executionArn"] == first["executionArn"]
    assert _error(sfn.start_execution, stateMachineArn=arn, name="once", input='{"x": 1}')[0] == (
        "ExecutionAlreadyExists")


def test_an_input_that_is_not_json_is_invalid_execution_input(sfn: Any) -> None:
    arn = _machine(sfn)
    assert _error(sfn.start_execution, stateMachineArn=arn, input="{bad")[0] == (
        "InvalidExecutionInput")


def test_an_execution_name_aws_refuses_is_invalid_name(sfn: Any) -> None:
    arn = _machine(sfn)
    assert _error(sfn.start_execution, stateMachineArn=arn, name="a b")[0] == "InvalidName"


def test_starting_an_unknown_machine_does_not_exist(sfn: Any) -> None:
    arn = _machine(sfn).replace(":m", ":nope")
    assert _error(sfn.start_execution, stateMachineArn=arn)[0] == "StateMachineDoesNotExist"


def test_a_file_machine_can_be_started(sfn: Any) -> None:
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
               if m["name"] == "nightly")
    assert sfn.start_execution(stateMachineArn=arn)["executionArn"]


def test_describing_an_unknown_execution_does_not_exist(sfn: Any) -> None:
    arn = _machine(sfn)
    ex = sfn.start_execution(stateMachineArn=arn, name="e")["executionArn"]
    assert _error(sfn.describe_execution, executionArn=ex + "x")[0] == "ExecutionDoesNotExist"
    assert _error(sfn.get_execution_history, executionArn=ex + "x")[0] == (
        "ExecutionDoesNotExist")


def test_an_execution_arn_of_another_kind_is_invalid_arn(sfn: Any) -> None:
    arn = _machine(sfn)
    assert _error(sfn.describe_execution, executionArn=arn)[0] == "InvalidArn"


def test_stop_answers_a_stop_date(sfn: Any) -> None:
    arn = _machine(sfn)
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert sfn.stop_execution(executionArn=ex, error="E", cause="c")["stopDate"]


def test_an_execution_names_its_machine_by_the_arn_create_answered(sfn: Any) -> None:
    arn = _machine(sfn)
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert sfn.describe_execution(executionArn=ex)["stateMachineArn"] == arn
