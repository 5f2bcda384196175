"""Step Functions' callback-task operations through boto3 against the real gateway, with a
workflow worker running the executions: GetActivityTask, SendTaskSuccess, SendTaskFailure,
SendTaskHeartbeat."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from gateway_server import RunningGateway
from redis.asyncio import Redis
from sfn_gateway import create, sfn_client
from sfn_gateway import refusal as _error

from eventbus.workflows.task_token import encode_token
from eventbus.workflows.worker import WorkerOptions, WorkflowWorker


@pytest.fixture
def sfn(nightly_sfn_gateway: RunningGateway, redis_url: str) -> Iterator[Any]:
    """boto3's client, with a workflow worker on the same Redis in a thread of its own."""
    stop = threading.Event()

    async def work() -> None:
        redis = Redis.from_url(redis_url)
        worker = WorkflowWorker(redis, WorkerOptions())
        running = asyncio.create_task(worker.run())
        while not stop.is_set():
            await asyncio.sleep(0.02)
        worker.stop()
        await running
        await redis.aclose()

    thread = threading.Thread(target=asyncio.run, args=(work(),), name="worker")
    thread.start()
    try:
        yield sfn_client(nightly_sfn_gateway.url)
    finally:
        stop.set()
        thread.join()


def _activity_machine(sfn: Any, name: str, activity_arn: str) -> str:
    definition = {"StartAt": "Work", "States": {"Work": {
        "Type": "Task", "Resource": activity_arn, "HeartbeatSeconds": 300, "End": True}}}
    return create(sfn, name, orjson.dumps(definition).decode())


def _until_closed(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError(f"{arn} is still running")


def _started_task(sfn: Any, machine: str) -> tuple[str, dict[str, Any]]:
    activity = sfn.create_activity(name=f"{machine}-activity")["activityArn"]
    arn = _activity_machine(sfn, machine, activity)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"size": 64}')["executionArn"]
    task: dict[str, Any] = sfn.get_activity_task(activityArn=activity, workerName="w1")
    return execution, task


def test_an_activity_worker_takes_a_task_and_answers_it_with_send_task_success(
    sfn: Any,
) -> None:
    execution, task = _started_task(sfn, "ok")
    assert orjson.loads(task["input"]) == {"size": 64}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output='{"resized": 64}')
    done = _until_closed(sfn, execution)
    assert (done["status"], orjson.loads(done["output"])) == ("SUCCEEDED", {"resized": 64})
    assert _error(sfn.send_task_success, taskToken=task["taskToken"], output="{}")[0] == (
        "TaskTimedOut")


def test_send_task_failure_fails_the_execution_with_its_error_and_cause(sfn: Any) -> None:
    execution, task = _started_task(sfn, "fails")
    sfn.send_task_failure(taskToken=task["taskToken"], error="Resize.Failed", cause="disk full")
    done = _until_closed(sfn, execution)
    assert (done["status"], done["error"], done["cause"]) == (
        "FAILED", "Resize.Failed", "disk full")


def test_tokens_outputs_and_activities_are_checked_as_aws_checks_them(sfn: Any) -> None:
    execution, task = _started_task(sfn, "checked")
    assert _error(sfn.send_task_success, taskToken="forged", output="{}")[0] == "InvalidToken"
    forged = encode_token(execution, "00000000-0000-4000-8000-000000000000")
    assert _error(sfn.send_task_heartbeat, taskToken=forged)[0] == "TaskDoesNotExist"
    assert _error(sfn.send_task_success, taskToken=task["taskToken"], output="{no")[0] == (
        "InvalidOutput")
    unknown = "arn:aws:states:us-east-1:123456789012:activity:never-created"
    assert _error(sfn.get_activity_task, activityArn=unknown)[0] == "ActivityDoesNotExist"
    sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert _until_closed(sfn, execution)["status"] == "SUCCEEDED"


def test_a_machine_created_over_the_api_starts_another_and_waits_for_it(sfn: Any) -> None:
    child = create(sfn, "api-child", orjson.dumps({"StartAt": "Echo", "States": {
        "Echo": {"Type": "Pass", "Parameters": {"echo.$": "$.say"}, "End": True}}}).decode())
    parent = create(sfn, "api-parent", orjson.dumps({"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child, "Input": {"say.$": "$.say"}},
        "OutputPath": "$.Output", "End": True}}}).decode())
    execution = sfn.start_execution(stateMachineArn=parent, input='{"say": "hi"}')
    done = _until_closed(sfn, execution["executionArn"])
    assert orjson.loads(done["output"]) == {"echo": "hi"}
