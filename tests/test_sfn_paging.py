"""ListExecutions and GetExecutionHistory through boto3 against the real gateway, on executions a
real worker has run: pages (boto3's paginators), statusFilter, reverseOrder,
includeExecutionData, and the model's refusals in AWS's words."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from redis.asyncio import Redis
from sfn_gateway import create, sfn_client
from sfn_gateway import refusal as _error
from workflows.durable import until_closed, worker

from eventbus.workflows.executions import Executions

# Five Pass states in a row; {"hold": true} waits an hour first, so the execution stays RUNNING.
STEPS = orjson.dumps({"StartAt": "Hold?", "States": {
    "Hold?": {"Type": "Choice", "Default": "S1",
              "Choices": [{"Variable": "$.hold", "IsPresent": True, "Next": "Hold"}]},
    "Hold": {"Type": "Wait", "Seconds": 3600, "Next": "S1"},
    **{f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(1, 5)},
    "S5": {"Type": "Pass", "End": True},
}}).decode()


def run_until_closed(redis_url: str, *arns: str) -> None:
    """A worker in this process runs the executions until each has ended."""

    async def run() -> None:
        redis = Redis.from_url(redis_url)
        try:
            async with worker(redis):
                for arn in arns:
                    await until_closed(Executions(redis, {}), arn)
        finally:
            await redis.aclose()

    asyncio.run(run())


def started(sfn: Any, machine: str, *names: str, hold: bool = False) -> list[str]:
    body = '{"hold": true}' if hold else '{"n": 1}'
    return [sfn.start_execution(stateMachineArn=machine, name=n, input=body)["executionArn"]
            for n in names]


def test_list_executions_pages_and_filters_by_status(sfn: Any, redis_url: str) -> None:
    machine = create(sfn, "steps", STEPS)
    done = started(sfn, machine, "a", "b", "c")
    run_until_closed(redis_url, *done)
    [held] = started(sfn, machine, "held", hold=True)
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine, PaginationConfig={"PageSize": 1})
    listed = [e for page in pages for e in page["executions"]]
    assert [e["name"] for e in listed] == ["held", "c", "b", "a"]  # newest first, each once

    def names(status: str) -> list[str]:
        page = sfn.list_executions(stateMachineArn=machine, statusFilter=status)
        return [e["name"] for e in page["executions"]]

    assert names("SUCCEEDED") == ["c", "b", "a"]
    assert names("RUNNING") == ["held"]
    assert names("FAILED") == []
    # Starting a name again: the running execution answers; one that has closed is taken.
    assert started(sfn, machine, "held", hold=True) == [held]
    assert _error(sfn.start_execution, stateMachineArn=machine, name="a", input='{"n": 1}') == (
        "ExecutionAlreadyExists", f"Execution Already Exists: '{done[0]}'")


def test_list_executions_refuses_what_the_model_refuses(sfn: Any) -> None:
    machine = create(sfn, "steps", STEPS)
    loose = sfn_client(sfn.meta.endpoint_url, validate=False)
    assert _error(loose.list_executions, stateMachineArn=machine, statusFilter="DONE") == (
        "ValidationException",
        "1 validation error detected: Value 'DONE' at 'statusFilter' failed to satisfy "
        "constraint: Member must satisfy enum value set: "
        "[RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]")
    assert _error(loose.list_executions, stateMachineArn=machine, maxResults=1001) == (
        "ValidationException",
        "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy "
        "constraint: Member must have value less than or equal to 1000")


def test_get_execution_history_pages_reverses_and_leaves_data_out(
    sfn: Any, redis_url: str
) -> None:
    [arn] = started(sfn, create(sfn, "steps", STEPS), "one")
    run_until_closed(redis_url, arn)
    whole = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert whole[0]["type"] == "ExecutionStarted" and whole[-1]["type"] == "ExecutionSucceeded"
    assert [e["id"] for e in whole] == list(range(1, len(whole) + 1))
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=arn, PaginationConfig={"PageSize": 4})
    assert [e for page in pages for e in page["events"]] == whole
    newest_first = sfn.get_execution_history(executionArn=arn, reverseOrder=True,
                                             maxResults=3)["events"]  # fmt: skip
    assert [e["id"] for e in newest_first] == [len(whole), len(whole) - 1, len(whole) - 2]
    assert orjson.loads(whole[0]["executionStartedEventDetails"]["input"]) == {"n": 1}
    lean = sfn.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]
    assert "input" not in lean[0]["executionStartedEventDetails"]
    assert "output" not in lean[-1]["executionSucceededEventDetails"]
    loose = sfn_client(sfn.meta.endpoint_url, validate=False)
    assert _error(loose.get_execution_history, executionArn=arn, maxResults=-1)[0] == (
        "ValidationException")
