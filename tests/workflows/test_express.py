"""Express executions: synchronous in this process, asynchronous through workers (at least
once), on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from eventbus import keys
from eventbus.client import AsyncEventBusClient
from eventbus.errors import (
    InvalidExecutionInput,
    RequestRejected,
    StateMachineDoesNotExist,
    StateMachineTypeNotSupported,
)
from eventbus.targets.base import TargetServices
from eventbus.workflows import run_local
from eventbus.workflows.express import ExpressExecutions
from eventbus.workflows.tasks import TaskResolver

from .durable import worker
from .helpers import machine

ADD = machine({
    "Add": {"Type": "Task", "Resource": "add",
            "Parameters": {"a.$": "$.a", "b.$": "$.b", "id.$": "$$.Execution.Id",
                           "execution.$": "$$.Execution"},
            "Next": "Done"},
    "Done": {"Type": "Succeed"},
})
FAIL = machine({"Boom": {"Type": "Fail", "Error": "Custom.Boom", "Cause": "on purpose"}})
SLOW = machine({"Sleep": {"Type": "Wait", "Seconds": 3600, "End": True}})
PREFIX = "arn:aws:states:local:000000000000:"


def add(data: Any) -> Any:
    return {"sum": data["a"] + data["b"], "id": data["id"], "execution": data["execution"]}


@pytest.fixture
async def resolver(redis: Redis) -> AsyncIterator[TaskResolver]:
    tasks = TaskResolver(TargetServices(redis=redis,
                                        publish=AsyncEventBusClient(redis).put_events),
                         {"add": add})
    yield tasks
    await tasks.aclose()


def api(redis: Redis, tasks: TaskResolver, **options: Any) -> ExpressExecutions:
    machines = {"add": ("EXPRESS", ADD), "fail": ("EXPRESS", FAIL), "slow": ("EXPRESS", SLOW),
                "standard": ("STANDARD", ADD)}
    return ExpressExecutions(redis, machines, tasks, **options)


async def test_a_sync_execution_answers_as_start_sync_execution(
    redis: Redis, resolver: TaskResolver
) -> None:
    answer = await api(redis, resolver).start_sync_execution("add", '{"a": 2, "b": 3}', "n1")
    arn = answer["executionArn"]
    assert arn.startswith(f"{PREFIX}express:add:n1:") and len(arn.split(":")) == 9
    assert answer["stateMachineArn"] == f"{PREFIX}stateMachine:add"
    assert (answer["name"], answer["status"], answer["input"]) == (
        "n1", "SUCCEEDED", '{"a": 2, "b": 3}')
    output = orjson.loads(answer["output"])
    assert output["sum"] == 5 and output["id"] == arn
    # A synchronous execution cannot be redriven, so its context has no RedriveCount.
    assert "RedriveCount" not in output["execution"]
    assert answer["inputDetails"] == answer["outputDetails"] == {"included": True}
    assert answer["stopDate"] >= answer["startDate"]
    billed = answer["billingDetails"]
    assert billed["billedMemoryUsedInMB"] == 64
    assert billed["billedDurationInMilliseconds"] % 100 == 0
    assert billed["billedDurationInMilliseconds"] >= 100
    local = run_local(ADD, '{"a": 2, "b": 3}', tasks={"add": add})
    assert orjson.loads(local["output"])["sum"] == output["sum"]


async def test_a_failed_sync_execution_has_its_error_and_no_output(
    redis: Redis, resolver: TaskResolver
) -> None:
    answer = await api(redis, resolver).start_sync_execution(
        "fail", included_data="METADATA_ONLY", trace_header="Root=1-abc")
    assert (answer["status"], answer["error"], answer["cause"]) == (
        "FAILED", "Custom.Boom", "on purpose")
    assert "output" not in answer and "input" not in answer
    assert answer["inputDetails"] == answer["outputDetails"] == {"included": False}
    assert answer["traceHeader"] == "Root=1-abc"


async def test_an_execution_running_past_the_maximum_duration_times_out(
    redis: Redis, resolver: TaskResolver
) -> None:
    answer = await api(redis, resolver, max_duration=0.2).start_sync_execution("slow")
    assert answer["status"] == "TIMED_OUT"
    assert "output" not in answer


async def test_parallel_tasks_run_at_the_same_time(redis: Redis) -> None:
    arrived: list[int] = []
    both = asyncio.Event()

    async def meet(data: Any) -> Any:
        arrived.append(data)
        if len(arrived) == 2:
            both.set()
        await both.wait()  # run one after the other, neither would return
        return data

    definition = machine({"Both": {"Type": "Parallel", "End": True, "Branches": [
        machine_branch("meet", 1), machine_branch("meet", 2)]}})
    tasks = TaskResolver(TargetServices(redis=redis), {"meet": meet})
    express = ExpressExecutions(None, {"p": ("EXPRESS", definition)}, tasks, max_duration=30)
    answer = await express.start_sync_execution("p")
    assert (answer["status"], orjson.loads(answer["output"])) == ("SUCCEEDED", [1, 2])


def machine_branch(resource: str, value: int) -> dict[str, Any]:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource,
                                             "Parameters": value, "End": True}}}


async def test_requests_aws_refuses(redis: Redis, resolver: TaskResolver) -> None:
    express = api(redis, resolver)
    with pytest.raises(StateMachineTypeNotSupported) as caught:
        await express.start_sync_execution("standard")
    assert caught.value.message == "This operation is not supported by this type of state machine"
    with pytest.raises(StateMachineDoesNotExist):
        await express.start_sync_execution(f"{PREFIX}stateMachine:nope")
    with pytest.raises(InvalidExecutionInput):
        await express.start_sync_execution("add", "{bad")
    with pytest.raises(RequestRejected) as refused:
        await express.start_sync_execution("add", "{}", "a b")
    assert refused.value.code == "InvalidName"
    with pytest.raises(StateMachineTypeNotSupported):
        await express.start_execution("standard")


async def test_an_async_execution_runs_on_a_worker_and_names_repeat(redis: Redis) -> None:
    seen: list[Any] = []
    done = asyncio.Event()

    def record(data: Any) -> Any:
        seen.append(data)
        if len(seen) == 2:
            done.set()
        return data

    definition = machine({"R": {"Type": "Task", "Resource": "record", "End": True,
                                "Parameters": {"id.$": "$$.Execution.Id",
                                               "redrives.$": "$$.Execution.RedriveCount"}}})
    express = ExpressExecutions(redis, {"r": ("EXPRESS", definition)})
    first = await express.start_execution("r", "{}", "same")
    second = await express.start_execution("r", "{}", "same")
    assert first["executionArn"] != second["executionArn"]  # no idempotency for Express
    assert first["executionArn"].startswith(f"{PREFIX}express:r:same:")
    async with worker(redis, {"record": record}):
        await asyncio.wait_for(done.wait(), 30)
    assert sorted(s["id"] for s in seen) == sorted([first["executionArn"],
                                                    second["executionArn"]])
    assert {s["redrives"] for s in seen} == {0}
    assert await _pending(redis) == 0


async def test_an_async_execution_whose_worker_dies_runs_again(redis: Redis) -> None:
    """At least once: the second worker claims the entry and runs it from its start, with the
    same uuids (the same task tokens and idempotency keys)."""
    calls: list[Any] = []
    never = asyncio.Event()
    finished = asyncio.Event()

    async def hang_once(data: Any) -> Any:
        calls.append(data)
        if len(calls) == 1:
            await never.wait()  # the first worker stops while this runs
        finished.set()
        return data

    definition = machine({"H": {"Type": "Task", "Resource": "hang", "End": True,
                                "Parameters": {"uuid.$": "States.UUID()"}}})
    express = ExpressExecutions(redis, {"h": ("EXPRESS", definition)})
    await express.start_execution("h")
    tasks = {"hang": hang_once}
    async with worker(redis, tasks, consumer="first", shutdown_grace=0.01), \
            asyncio.timeout(30):
        while not calls:
            await asyncio.sleep(0.01)
    assert await _pending(redis) == 1  # left to be claimed
    async with worker(redis, tasks, consumer="second", claim_idle=0.2):
        async with asyncio.timeout(30):
            await finished.wait()
            while await _pending(redis):
                await asyncio.sleep(0.01)
    assert len(calls) == 2 and calls[0] == calls[1]


async def _pending(redis: Redis) -> int:
    total = 0
    for p in range(keys.WORKFLOW_PARTITIONS):
        if await redis.exists(keys.workflow_work(p)):
            summary = await redis.xpending(keys.workflow_work(p), keys.WORKFLOW_GROUP)
            total += int(summary["pending"])
    return total


async def test_waits_fire_and_the_machine_timeout_applies(redis: Redis,
                                                         resolver: TaskResolver) -> None:
    waits = machine({"W": {"Type": "Wait", "Seconds": 0, "Next": "P"},
                     "P": {"Type": "Pass", "Result": "after", "End": True}})
    bounded = machine({"Sleep": {"Type": "Wait", "Seconds": 3600, "End": True}},
                      TimeoutSeconds=1)
    express = ExpressExecutions(None, {"waits": ("EXPRESS", waits),
                                       "bounded": ("EXPRESS", bounded)}, resolver)
    answer = await express.start_sync_execution("waits")
    assert (answer["status"], answer["output"]) == ("SUCCEEDED", '"after"')
    assert (await express.start_sync_execution("bounded"))["status"] == "TIMED_OUT"
