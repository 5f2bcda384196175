"""Express workflows through boto3 against the real gateway: StartSyncExecution runs in the
gateway, StartExecution queues for the workers, and the operations AWS refuses for Express."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from gateway_server import RunningGateway, running_gateway
from redis.asyncio import Redis
from sfn_gateway import FileMachine, Files, create, sfn_client
from sfn_gateway import refusal as _error

from eventbus import keys
from eventbus.workflows.worker import WorkerOptions, WorkflowWorker

PUBLISH = orjson.dumps({"StartAt": "Publish", "States": {"Publish": {
    "Type": "Task", "Resource": "arn:aws:states:::events:putEvents", "End": True,
    "Parameters": {"Entries": [{"Source": "shop.orders", "DetailType": "Express Ran",
                                "Detail": {"order.$": "$.order"}}]},
    "ResultSelector": {"published.$": "$.FailedEntryCount", "id.$": "$$.Execution.Id"}}},
}).decode()
FAIL = orjson.dumps({"StartAt": "F", "States": {"F": {
    "Type": "Fail", "Error": "Order.Invalid", "Cause": "no items"}}}).decode()
PASS = orjson.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}).decode()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            redis_server: Any) -> Iterator[RunningGateway]:
    source = tmp_path_factory.mktemp("workflows") / "quick.express.asl.json"
    source.write_text(PASS)
    files = Files(FileMachine("quick", "EXPRESS", PASS, "v1", str(source)))
    with running_gateway(tmp_path_factory.mktemp("rules"), redis_server.url,
                         catalog=files) as gw:
        yield gw


@pytest.fixture
def sfn(gateway: RunningGateway, redis_url: str) -> Any:
    return sfn_client(gateway.url)


def _express(sfn: Any, name: str, definition: str = PUBLISH) -> str:
    return create(sfn, name, definition, type="EXPRESS")


def test_an_express_machine_is_described_with_its_type(sfn: Any) -> None:
    arn = _express(sfn, "described")
    assert sfn.describe_state_machine(stateMachineArn=arn)["type"] == "EXPRESS"
    listed = {m["name"]: m["type"] for m in sfn.list_state_machines()["stateMachines"]}
    assert listed["described"] == listed["quick"] == "EXPRESS"


def test_start_sync_execution_runs_it_in_the_gateway_and_answers_its_result(sfn: Any) -> None:
    arn = _express(sfn, "publisher")
    answer = sfn.start_sync_execution(stateMachineArn=arn, name="o-1", input='{"order": 7}')
    assert answer["status"] == "SUCCEEDED", answer
    assert answer["executionArn"].startswith(
        "arn:aws:states:local:000000000000:express:publisher:o-1:")
    assert (answer["stateMachineArn"], answer["name"], answer["input"]) == (
        arn, "o-1", '{"order": 7}')
    # The task published through the bus's PutEvents, from the gateway's process.
    assert orjson.loads(answer["output"]) == {"published": 0, "id": answer["executionArn"]}
    assert answer["stopDate"] >= answer["startDate"]
    assert answer["inputDetails"] == answer["outputDetails"] == {"included": True}
    assert answer["billingDetails"]["billedMemoryUsedInMB"] == 64
    assert answer["billingDetails"]["billedDurationInMilliseconds"] >= 100


def test_a_failed_sync_execution_is_answered_200_with_its_error(sfn: Any) -> None:
    arn = _express(sfn, "failing", FAIL)
    answer = sfn.start_sync_execution(stateMachineArn=arn, includedData="METADATA_ONLY")
    assert (answer["status"], answer["error"], answer["cause"]) == (
        "FAILED", "Order.Invalid", "no items")
    assert "input" not in answer and "output" not in answer


def test_a_file_express_machine_runs_synchronously(sfn: Any) -> None:
    arn = "arn:aws:states:local:000000000000:stateMachine:quick"
    answer = sfn.start_sync_execution(stateMachineArn=arn, input='{"a": 1}')
    assert (answer["status"], answer["output"]) == ("SUCCEEDED", '{"a":1}')


def test_what_aws_refuses_for_each_type(sfn: Any) -> None:
    standard = create(sfn, "standard-one")
    message = "This operation is not supported by this type of state machine"
    assert _error(sfn.start_sync_execution, stateMachineArn=standard) == (
        "StateMachineTypeNotSupported", message)
    express = _express(sfn, "unlisted")
    assert _error(sfn.list_executions, stateMachineArn=express) == (
        "StateMachineTypeNotSupported", message)
    run = sfn.start_sync_execution(stateMachineArn=express)["executionArn"]
    invalid = ("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'")
    assert _error(sfn.describe_execution, executionArn=run) == invalid
    assert _error(sfn.get_execution_history, executionArn=run) == invalid
    assert _error(sfn.stop_execution, executionArn=run) == invalid
    missing = standard.replace("standard-one", "nope")
    assert _error(sfn.start_sync_execution, stateMachineArn=missing)[0] == (
        "StateMachineDoesNotExist")
    assert _error(sfn.start_sync_execution, stateMachineArn=express, input="{x")[0] == (
        "InvalidExecutionInput")
    assert _error(sfn.start_sync_execution, stateMachineArn=express, name="a b")[0] == (
        "InvalidName")


def test_start_execution_of_an_express_machine_is_run_by_a_worker(
    sfn: Any, redis_url: str
) -> None:
    arn = _express(sfn, "queued", PASS)
    first = sfn.start_execution(stateMachineArn=arn, name="same", input='{"n": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name="same", input='{"n": 1}')
    assert first["executionArn"] != again["executionArn"]  # Express names are not unique
    assert first["executionArn"].startswith(
        "arn:aws:states:local:000000000000:express:queued:same:")
    assert asyncio.run(_work_off(redis_url)) == 2


async def _work_off(redis_url: str) -> int:
    """Run a worker until no express entry is left unacknowledged; how many there were."""
    redis = Redis.from_url(redis_url)
    try:
        entries = [e for p in range(keys.WORKFLOW_PARTITIONS)
                   for e in await redis.xrange(keys.workflow_work(p))
                   if e[1][b"kind"] == b"express"]
        worker = WorkflowWorker(redis, WorkerOptions(consumer="express-test"))
        task = asyncio.create_task(worker.run())
        async with asyncio.timeout(30):
            while await _unfinished(redis):
                await asyncio.sleep(0.02)
        worker.stop()
        await task
        return len(entries)
    finally:
        await redis.aclose()


async def _unfinished(redis: Redis) -> int:
    """Entries not yet delivered to the group, or delivered and not acknowledged."""
    total = 0
    for p in range(keys.WORKFLOW_PARTITIONS):
        stream = keys.workflow_work(p)
        if not await redis.exists(stream):
            continue
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        group = groups.get(keys.WORKFLOW_GROUP.encode())
        if group is None:
            total += await redis.xlen(stream)
            continue
        # (XINFO's `lag` is Redis 7's; counting past last-delivered-id also works on 6.2)
        last = group["last-delivered-id"].decode()
        total += int(group["pending"]) + len(await redis.xrange(stream, min=f"({last}"))
    return total


def test_boto3_sends_start_sync_execution_to_the_sync_host(gateway: RunningGateway) -> None:
    """AWS serves StartSyncExecution on `sync-states.<region>...`: boto3 puts `sync-` before
    the endpoint's host unless told not to, which an IP address cannot take."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError
    from gateway_server import KEY_ID, REGION, SECRET

    prefixed = boto3.client(
        "stepfunctions", endpoint_url=gateway.url, region_name=REGION,
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    arn = "arn:aws:states:local:000000000000:stateMachine:quick"
    with pytest.raises(EndpointConnectionError, match=r"http://sync-127\.0\.0\.1:"):
        prefixed.start_sync_execution(stateMachineArn=arn)

