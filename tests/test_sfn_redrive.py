"""RedriveExecution, StopExecution and DescribeStateMachineForExecution through boto3 against
the real gateway, on the durable store (no worker runs here: StopExecution needs none)."""

from __future__ import annotations

from typing import Any

import orjson
from sfn_gateway import create
from sfn_gateway import refusal as _error

HOLD = orjson.dumps({"StartAt": "Hold", "States": {
    "Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}}).decode()


def test_a_stopped_execution_is_aborted_at_once_and_redriven(sfn: Any) -> None:
    machine = create(sfn, "hold", HOLD)
    arn = sfn.start_execution(stateMachineArn=machine, name="e1")["executionArn"]
    running = sfn.describe_execution(executionArn=arn)
    assert (running["redriveCount"], running["redriveStatus"]) == (0, "NOT_REDRIVABLE")
    assert running["redriveStatusReason"] == "Execution is RUNNING and cannot be redriven"
    code, message = _error(sfn.redrive_execution, executionArn=arn)
    assert (code, message) == ("ExecutionNotRedrivable",
                               "Execution is RUNNING and cannot be redriven")
    stopped = sfn.stop_execution(executionArn=arn, error="Halt", cause="by hand")
    aborted = sfn.describe_execution(executionArn=arn)
    assert (aborted["status"], aborted["error"], aborted["redriveStatus"]) == (
        "ABORTED", "Halt", "REDRIVABLE")
    assert aborted["stopDate"] == stopped["stopDate"]
    redriven = sfn.redrive_execution(executionArn=arn)  # boto3 sends a client token
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["redriveCount"]) == ("RUNNING", 1)
    assert described["redriveDate"] == redriven["redriveDate"]
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert listed[0]["redriveCount"] == 1
    redriven_only = sfn.list_executions(stateMachineArn=machine, redriveFilter="REDRIVEN")
    assert [e["executionArn"] for e in redriven_only["executions"]] == [arn]
    assert sfn.list_executions(stateMachineArn=machine,
                               redriveFilter="NOT_REDRIVEN")["executions"] == []
    events = sfn.get_execution_history(executionArn=arn)["events"]
    assert [e["type"] for e in events] == [
        "ExecutionStarted", "WaitStateEntered", "ExecutionAborted", "ExecutionRedriven",
        "WaitStateEntered"]
    assert events[3]["executionRedrivenEventDetails"] == {"redriveCount": 1}


def test_the_same_client_token_answers_the_same_redrive(sfn: Any) -> None:
    machine = create(sfn, "tokened", HOLD)
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    sfn.stop_execution(executionArn=arn)
    first = sfn.redrive_execution(executionArn=arn, clientToken="abc")["redriveDate"]
    again = sfn.redrive_execution(executionArn=arn, clientToken="abc")["redriveDate"]
    assert again == first
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1


def test_redriving_what_does_not_exist_is_refused(sfn: Any) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:hold:nope"
    assert _error(sfn.redrive_execution, executionArn=arn)[0] == "ExecutionDoesNotExist"
    bad = "arn:aws:states:us-east-1:123456789012:stateMachine:hold"
    assert _error(sfn.redrive_execution, executionArn=bad)[0] == "InvalidArn"


def test_an_execution_is_described_with_the_definition_it_started_with(sfn: Any) -> None:
    machine = create(sfn, "changing", HOLD)
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    sfn.update_state_machine(stateMachineArn=machine, definition=orjson.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}).decode())
    described = sfn.describe_state_machine_for_execution(executionArn=arn)
    assert described["definition"] == HOLD
    assert (described["stateMachineArn"], described["name"]) == (machine, "changing")
    assert described["loggingConfiguration"]["level"] == "OFF"
    missing = arn + "-nope"
    assert _error(sfn.describe_state_machine_for_execution, executionArn=missing)[0] == (
        "ExecutionDoesNotExist")
