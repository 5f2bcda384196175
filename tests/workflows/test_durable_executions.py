"""Durable executions through a worker on a real Redis: the Python API and the step store."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from eventbus.errors import ExecutionAlreadyExists, ExecutionDoesNotExist
from eventbus.workflows import run_local
from eventbus.workflows.executions import Executions

from .durable import assert_contiguous, history, until_closed, worker
from .helpers import machine

PASS_CHAIN = machine({
    "First": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.first", "Next": "Add"},
    "Add": {"Type": "Task", "Resource": "add", "Next": "Done"},
    "Done": {"Type": "Succeed"},
})


def add(data: Any) -> Any:
    return {**data, "sum": data["a"] + data["b"]}


async def test_an_execution_runs_to_its_end_through_a_worker(redis: Redis) -> None:
    api = Executions(redis, {"chain": PASS_CHAIN})
    started = await api.start_execution("chain", '{"a": 2, "b": 3}', name="one")
    assert started["executionArn"] == \
        "arn:aws:states:local:000000000000:execution:chain:one"
    async with worker(redis, {"add": add}):
        done = await until_closed(api, started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    local = run_local(PASS_CHAIN, '{"a": 2, "b": 3}', tasks={"add": add})
    assert orjson.loads(done["output"]) == orjson.loads(local["output"])
    events = await history(api, started["executionArn"])
    assert_contiguous(events)
    assert [e["type"] for e in events] == [e["type"] for e in local["events"]]


WAIT_FOREVER = machine({"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}})


async def test_starting_again_with_the_same_name_and_input_answers_the_same_execution(
    redis: Redis,
) -> None:
    api = Executions(redis, {"hold": WAIT_FOREVER})
    first = await api.start_execution("hold", '{"k": 1}', name="same")
    again = await api.start_execution("hold", '{"k": 1}', name="same")
    assert again == first


async def test_starting_again_with_another_input_is_refused(redis: Redis) -> None:
    api = Executions(redis, {"hold": WAIT_FOREVER})
    await api.start_execution("hold", '{"k": 1}', name="same")
    with pytest.raises(ExecutionAlreadyExists):
        await api.start_execution("hold", '{"k": 2}', name="same")


async def test_starting_again_once_the_execution_closed_is_refused(redis: Redis) -> None:
    api = Executions(redis, {"chain": PASS_CHAIN})
    started = await api.start_execution("chain", '{"a": 1, "b": 1}', name="done")
    async with worker(redis, {"add": add}):
        await until_closed(api, started["executionArn"])
    with pytest.raises(ExecutionAlreadyExists):
        await api.start_execution("chain", '{"a": 1, "b": 1}', name="done")


async def test_an_unknown_execution_does_not_exist(redis: Redis) -> None:
    api = Executions(redis, {})
    with pytest.raises(ExecutionDoesNotExist):
        await api.describe_execution("arn:aws:states:local:000000000000:execution:m:x")


async def test_a_wait_state_and_a_retry_back_off_fire_from_redis_timers(redis: Redis) -> None:
    calls: list[Any] = []

    def flaky(data: Any) -> Any:
        calls.append(data)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return "second call"

    definition = machine({
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Call"},
        "Call": {"Type": "Task", "Resource": "flaky", "End": True,
                 "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1}]},
    })
    api = Executions(redis, {"m": definition})
    started = await api.start_execution("m", "{}")
    async with worker(redis, {"flaky": flaky}):
        done = await until_closed(api, started["executionArn"])
    assert (done["status"], done["output"]) == ("SUCCEEDED", '"second call"')
    types = [e["type"] for e in await history(api, started["executionArn"])]
    assert types.count("WaitStateExited") == 1 and types.count("TaskFailed") == 1


async def test_stop_execution_ends_it_aborted(redis: Redis) -> None:
    api = Executions(redis, {"hold": WAIT_FOREVER})
    started = await api.start_execution("hold", "{}")
    async with worker(redis):
        await api.stop_execution(started["executionArn"], error="Halt", cause="by hand")
        done = await until_closed(api, started["executionArn"])
    assert (done["status"], done["error"], done["cause"]) == ("ABORTED", "Halt", "by hand")
    assert (await history(api, started["executionArn"]))[-1]["type"] == "ExecutionAborted"


async def test_the_execution_timeout_ends_it_timed_out(redis: Redis) -> None:
    definition = machine({"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}},
                         TimeoutSeconds=1)
    api = Executions(redis, {"m": definition})
    started = await api.start_execution("m", "{}")
    async with worker(redis):
        done = await until_closed(api, started["executionArn"])
    assert done["status"] == "TIMED_OUT"


async def test_list_executions_filters_by_status_and_pages(redis: Redis) -> None:
    api = Executions(redis, {"hold": WAIT_FOREVER, "chain": PASS_CHAIN})
    for n in range(3):
        await api.start_execution("hold", "{}", name=f"h{n}")
    done = await api.start_execution("chain", '{"a": 1, "b": 2}', name="c")
    async with worker(redis, {"add": add}):
        await until_closed(api, done["executionArn"])
    page = await api.list_executions("hold", max_results=2)
    rest = await api.list_executions("hold", max_results=2, next_token=page["nextToken"])
    names = [e["name"] for e in page["executions"] + rest["executions"]]
    assert sorted(names) == ["h0", "h1", "h2"] and "nextToken" not in rest
    assert (await api.list_executions("hold", status_filter="SUCCEEDED"))["executions"] == []
    succeeded = await api.list_executions("chain", status_filter="SUCCEEDED")
    assert [e["name"] for e in succeeded["executions"]] == ["c"]


async def test_history_pages_both_ways(redis: Redis) -> None:
    api = Executions(redis, {"chain": PASS_CHAIN})
    started = await api.start_execution("chain", '{"a": 1, "b": 2}')
    arn = started["executionArn"]
    async with worker(redis, {"add": add}):
        await until_closed(api, arn)
    ids = [e["id"] for e in await history(api, arn)]
    backwards: list[int] = []
    token = None
    while True:
        page = await api.get_execution_history(arn, max_results=3, reverse_order=True,
                                               next_token=token)
        backwards += [e["id"] for e in page["events"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert backwards == ids[::-1]


async def test_status_changes_are_published_on_the_default_bus(redis: Redis) -> None:
    api = Executions(redis, {"chain": PASS_CHAIN})
    started = await api.start_execution("chain", '{"a": 1, "b": 2}', name="announced")
    async with worker(redis, {"add": add}):
        await until_closed(api, started["executionArn"])
        events = await _bus_events(redis, 2)
    assert {e["source"] for e in events} == {"aws.states"}
    assert {e["detail-type"] for e in events} == {"Step Functions Execution Status Change"}
    by_status = {e["detail"]["status"]: e["detail"] for e in events}
    assert set(by_status) == {"RUNNING", "SUCCEEDED"}
    detail = by_status["SUCCEEDED"]
    assert detail["executionArn"] == started["executionArn"]
    assert detail["stateMachineArn"] == "arn:aws:states:local:000000000000:stateMachine:chain"
    assert detail["name"] == "announced" and detail["input"] == '{"a": 1, "b": 2}'
    assert orjson.loads(detail["output"])["sum"] == 3
    assert detail["stopDate"] >= detail["startDate"]


async def _bus_events(redis: Redis, count: int) -> list[dict[str, Any]]:
    """The events on the default bus, once there are ``count`` (polled, bounded)."""
    async with asyncio.timeout(30):
        while True:
            streams = [k async for k in redis.scan_iter(match="eb:{default#*}:events")]
            entries = [e for s in streams for e in await redis.xrange(s)]
            if len(entries) >= count:
                return [orjson.loads(fields[b"event"]) for _, fields in entries]
            await asyncio.sleep(0.02)


async def test_a_task_can_be_any_target_type(redis: Redis) -> None:
    definition = machine({"Send": {
        "Type": "Task", "Resource": "arn:eventbus:states:::target:redis_stream",
        "Parameters": {"stream": "orders:out", "Payload.$": "$.order"}, "End": True}})
    api = Executions(redis, {"m": definition})
    started = await api.start_execution("m", '{"order": {"id": 7}}')
    async with worker(redis):
        done = await until_closed(api, started["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    [(_, fields)] = await redis.xrange("orders:out")
    assert orjson.loads(fields[b"payload"]) == {"id": 7}
    assert fields[b"delivery-id"].decode().startswith(started["executionArn"] + ":")
    assert orjson.loads(done["output"])["stream"] == "orders:out"
