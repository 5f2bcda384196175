"""RedriveExecution, StopExecution and DescribeStateMachineForExecution through the Python API,
on a real Redis with a worker in this process."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from eventbus import keys
from eventbus.errors import ExecutionDoesNotExist, ExecutionNotRedrivable
from eventbus.workflows import store
from eventbus.workflows.executions import Executions

from .durable import assert_contiguous, history, until_closed, worker
from .helpers import machine

FLAKY = machine({
    "First": {"Type": "Pass", "Assign": {"kept.$": "$.order"}, "Next": "Charge"},
    "Charge": {"Type": "Task", "Resource": "charge", "Next": "Done"},
    "Done": {"Type": "Pass", "Parameters": {"kept.$": "$kept", "charged.$": "$.charged",
                                            "redrives.$": "$$.Execution.RedriveCount"},
             "End": True},
})


class Charge:
    """A task that fails until it is told to work."""

    def __init__(self) -> None:
        self.works = False
        self.calls = 0

    def __call__(self, data: Any) -> Any:
        self.calls += 1
        if not self.works:
            raise RuntimeError("card declined")
        return {**data, "charged": True}


async def _failed(redis: Redis, api: Executions, charge: Charge, name: str) -> str:
    started = await api.start_execution("flaky", '{"order": 42}', name=name)
    async with worker(redis, {"charge": charge}):
        assert (await until_closed(api, started["executionArn"]))["status"] == "FAILED"
    return str(started["executionArn"])


async def test_a_failed_execution_is_redriven_from_the_state_that_failed(redis: Redis) -> None:
    api, charge = Executions(redis, {"flaky": FLAKY}), Charge()
    arn = await _failed(redis, api, charge, "redriven")
    failed = await api.describe_execution(arn)
    assert (failed["redriveCount"], failed["redriveStatus"]) == (0, "REDRIVABLE")
    charge.works = True
    answer = await api.redrive(arn)
    running = await api.describe_execution(arn)
    assert running["status"] == "RUNNING" and running["redriveDate"] == answer["redriveDate"]
    async with worker(redis, {"charge": charge}):
        done = await until_closed(api, arn)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1
    assert done["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"
    # The variables and the context of the redriven run: the Pass before was not run again.
    assert orjson.loads(done["output"]) == {"kept": 42, "charged": True, "redrives": 1}
    events = await history(api, arn)
    assert_contiguous(events)
    kinds = [e["type"] for e in events]
    assert kinds.count("PassStateEntered") == 2 and kinds.count("TaskStateEntered") == 2
    redriven = kinds.index("ExecutionRedriven")
    assert kinds[redriven - 1] == "ExecutionFailed"
    assert events[redriven]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert events[redriven]["previousEventId"] == redriven  # the ExecutionFailed
    entered = events[redriven + 1]
    assert (entered["type"], entered["stateEnteredEventDetails"]["name"]) == (
        "TaskStateEntered", "Charge")
    assert orjson.loads(entered["stateEnteredEventDetails"]["input"]) == {"order": 42}
    assert kinds[-1] == "ExecutionSucceeded" and charge.calls == 2


async def test_what_cannot_be_redriven_is_refused_with_aws_reasons(redis: Redis) -> None:
    hold = machine({"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}})
    api = Executions(redis, {"hold": hold, "flaky": FLAKY})
    running = (await api.start_execution("hold", name="busy"))["executionArn"]
    with pytest.raises(ExecutionNotRedrivable) as refused:
        await api.redrive(running)
    assert (refused.value.code, refused.value.message) == (
        "ExecutionNotRedrivable", "Execution is RUNNING and cannot be redriven")
    with pytest.raises(ExecutionDoesNotExist):
        await api.redrive(running + "-nope")
    # Past the 14 days an execution may be redriven in.
    arn = await _failed(redis, api, Charge(), "old")
    record = keys.workflow_execution(store.partition_of(arn), arn)
    await redis.hset(record, "stop", "2020-01-01T00:00:00.000Z")
    with pytest.raises(ExecutionNotRedrivable, match="Execution redrivable period exceeded"):
        await api.redrive(arn)
    assert (await api.describe_execution(arn))["redriveStatus"] == "NOT_REDRIVABLE"


async def test_the_same_client_token_redrives_once(redis: Redis) -> None:
    api, charge = Executions(redis, {"flaky": FLAKY}), Charge()
    arn = await _failed(redis, api, charge, "tokened")
    first = await api.redrive(arn, client_token="t-1")
    assert await api.redrive(arn, client_token="t-1") == first
    with pytest.raises(ExecutionNotRedrivable):
        await api.redrive(arn, client_token="t-2")
    assert (await api.describe_execution(arn))["redriveCount"] == 1
    kinds = [e["type"] for e in await history(api, arn)]
    assert kinds.count("ExecutionRedriven") == 1


async def test_stop_ends_the_execution_at_once_and_its_running_task_is_ignored(
    redis: Redis,
) -> None:
    began, release = asyncio.Event(), asyncio.Event()

    async def slow(data: Any) -> Any:
        began.set()
        await release.wait()
        return data

    api = Executions(redis, {"slow": machine({"Work": {"Type": "Task", "Resource": "slow",
                                                        "End": True}})})
    arn = (await api.start_execution("slow", name="stopped"))["executionArn"]
    async with worker(redis, {"slow": slow}):
        await began.wait()
        stopped = await api.stop_execution(arn, error="Halt", cause="by hand")
        described = await api.describe_execution(arn)  # no worker step in between
        assert (described["status"], described["error"], described["cause"]) == (
            "ABORTED", "Halt", "by hand")
        assert described["stopDate"] == stopped["stopDate"]
        release.set()
    events = await history(api, arn)
    assert_contiguous(events)
    assert events[-1]["type"] == "ExecutionAborted"
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Halt", "cause": "by hand"}
    assert (await api.describe_execution(arn))["status"] == "ABORTED"


async def test_an_aborted_execution_is_redriven_and_its_timeout_starts_again(
    redis: Redis,
) -> None:
    hold = machine({"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}, TimeoutSeconds=1)
    api = Executions(redis, {"hold": hold})
    arn = (await api.start_execution("hold", name="held"))["executionArn"]
    await api.stop_execution(arn)  # no worker: the stop starts and ends it in one step
    assert (await api.describe_execution(arn))["status"] == "ABORTED"
    await api.redrive(arn)
    async with worker(redis, timer_poll=0.02):
        done = await until_closed(api, arn)
    assert (done["status"], done["redriveCount"]) == ("TIMED_OUT", 1)
    kinds = [e["type"] for e in await history(api, arn)]
    assert kinds == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted",
                     "ExecutionRedriven", "WaitStateEntered", "ExecutionTimedOut"]


async def test_an_execution_keeps_the_definition_it_started_with(redis: Redis) -> None:
    definitions = {"flaky": FLAKY}
    api = Executions(redis, definitions)
    arn = (await api.start_execution("flaky", '{"order": 1}', name="kept"))["executionArn"]
    definitions["flaky"] = machine({"Other": {"Type": "Succeed"}})
    described = await api.describe_state_machine_for_execution(arn)
    assert described["definition"] == FLAKY
    assert described["stateMachineArn"] == \
        "arn:aws:states:local:000000000000:stateMachine:flaky"
    assert described["name"] == "flaky" and described["roleArn"]


class Picky:
    """A task that fails on the item 2 until it is told to work; counts the calls per item."""

    def __init__(self) -> None:
        self.works = False
        self.calls: dict[Any, int] = {}

    def __call__(self, data: Any) -> Any:
        self.calls[data] = self.calls.get(data, 0) + 1
        if data == 2 and not self.works:
            raise RuntimeError("not yet")
        return data * 10


async def _redriven(redis: Redis, definition: str, data: str) -> tuple[Any, list[Any], Picky]:
    """Run ``definition`` until it fails, redrive it with the task working; its output, its
    history and the task."""
    api, picky = Executions(redis, {"m": definition}), Picky()
    arn = (await api.start_execution("m", data))["executionArn"]
    async with worker(redis, {"picky": picky}):
        assert (await until_closed(api, arn))["status"] == "FAILED"
        picky.works = True
        await api.redrive(arn)
        done = await until_closed(api, arn)
    assert done["status"] == "SUCCEEDED", done
    events = await history(api, arn)
    assert_contiguous(events)
    return orjson.loads(done["output"]), events, picky


async def test_a_redriven_parallel_runs_only_the_branches_that_did_not_succeed(
    redis: Redis,
) -> None:
    definition = machine({"Both": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Easy", "States": {"Easy": {"Type": "Pass", "Result": "easy", "End": True}}},
        {"StartAt": "Before", "States": {
            "Before": {"Type": "Pass", "Result": 2, "Next": "Hard"},
            "Hard": {"Type": "Task", "Resource": "picky", "End": True}}},
    ]}})
    output, events, picky = await _redriven(redis, definition, "{}")
    assert output == ["easy", 20] and picky.calls == {2: 2}
    names = [e["stateEnteredEventDetails"]["name"] for e in events
             if "stateEnteredEventDetails" in e]
    # The branch that succeeded, and the Pass before the failed Task, are not run again.
    assert names == ["Both", "Easy", "Before", "Hard", "Both", "Hard"]


async def test_a_redriven_map_runs_only_the_iterations_that_did_not_succeed(
    redis: Redis,
) -> None:
    definition = machine({"Each": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "picky",
                                               "End": True}}}}})
    output, events, picky = await _redriven(redis, definition, "[1, 2, 3]")
    assert output == [10, 20, 30]
    redriven = [e["type"] for e in events].index("ExecutionRedriven")
    succeeded = {e["mapIterationSucceededEventDetails"]["index"] + 1 for e in events[:redriven]
                 if e["type"] == "MapIterationSucceeded"}
    # An iteration that succeeded is not run again; the failed one is. (One that was
    # abandoned may or may not have called its task before the failure closed the execution.)
    assert all(picky.calls[item] == 1 for item in succeeded) and picky.calls[2] == 2
    again = [e["mapIterationStartedEventDetails"]["index"] for e in events[redriven:]
             if e["type"] == "MapIterationStarted"]
    assert sorted(again) == [i - 1 for i in (1, 2, 3) if i not in succeeded]


async def test_each_redrive_announces_its_statuses_on_the_bus(redis: Redis) -> None:
    api, charge = Executions(redis, {"flaky": FLAKY}), Charge()
    started = await api.start_execution("flaky", '{"order": 42}', name="announced")
    async with worker(redis, {"charge": charge}):
        assert (await until_closed(api, started["executionArn"]))["status"] == "FAILED"
        charge.works = True
        redriven = (await api.redrive(started["executionArn"]))["redriveDate"]
        await until_closed(api, started["executionArn"])
        async with asyncio.timeout(30):
            while len(details := await _bus_details(redis)) < 4:
                await asyncio.sleep(0.02)
    seen = sorted((d["redriveCount"], d["status"]) for d in details)
    assert seen == [(0, "FAILED"), (0, "RUNNING"), (1, "RUNNING"), (1, "SUCCEEDED")]
    again = next(d for d in details if (d["redriveCount"], d["status"]) == (1, "RUNNING"))
    assert again["redriveDate"] == int(redriven.timestamp() * 1000)
    assert again["stopDate"] is None and again["executionArn"] == started["executionArn"]


async def _bus_details(redis: Redis) -> list[dict[str, Any]]:
    streams = [k async for k in redis.scan_iter(match="eb:{default#*}:events")]
    entries = [e for s in streams for e in await redis.xrange(s)]
    return [orjson.loads(fields[b"event"])["detail"] for _, fields in entries]


async def test_concurrent_redrives_redrive_once(redis: Redis, redis_url: str) -> None:
    api, charge = Executions(redis, {"flaky": FLAKY}), Charge()
    arn = await _failed(redis, api, charge, "raced")
    clients = [Redis.from_url(redis_url) for _ in range(5)]  # five API processes, say
    try:
        answers = await asyncio.gather(*(Executions(c, {}).redrive(arn) for c in clients),
                                       return_exceptions=True)
    finally:
        for c in clients:
            await c.aclose()
    redriven = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, ExecutionNotRedrivable)]
    assert (len(redriven), len(refused)) == (1, 4), answers
    kinds = [e["type"] for e in await history(api, arn)]
    assert kinds.count("ExecutionRedriven") == 1 and kinds.count("TaskScheduled") == 2
    assert_contiguous(await history(api, arn))
