"""DISTRIBUTED Map in durable executions: each iteration a child execution of a Map Run, and
the 25,000-event history limit, on a real Redis with real workers."""

from __future__ import annotations

import asyncio
import os
import resource
from typing import Any

import orjson
import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from eventbus import keys
from eventbus.workflows import child_completions, map_run, run_local, store
from eventbus.workflows.arns import execution_prefix, states_arn
from eventbus.workflows.executions import Executions
from eventbus.workflows.task_services import TaskServices

from .durable import assert_contiguous, history, until_closed, worker
from .helpers import machine

FULL = os.environ.get("EVENTBUS_TEST_FULL") == "1"


def distributed(processor_states: dict[str, Any], **map_fields: Any) -> str:
    return machine({
        "Each": {
            "Type": "Map",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                  "ExecutionType": "STANDARD"},
                              "StartAt": next(iter(processor_states)),
                              "States": processor_states},
            "End": True, **map_fields,
        },
    })


SQUARE = distributed({"Square": {"Type": "Pass", "Parameters": {"sq.$": "States.MathAdd($, 0)"},
                                 "End": True}})
FAIL_EVERY_FIFTH = {
    "Check": {"Type": "Choice", "Default": "Fine",
              "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "Broke"}]},
    "Fine": {"Type": "Pass", "End": True},
    "Broke": {"Type": "Fail", "Error": "Item.Bad", "Cause": "a bad item"},
}


class InFlight:
    """A task that counts how many of its calls overlap."""

    def __init__(self) -> None:
        self.now = self.most = self.calls = 0

    async def call(self, data: Any) -> Any:
        self.now += 1
        self.calls += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.001)
        self.now -= 1
        return data


async def run_items(redis: Redis, definition: str, items: list[Any], name: str,
                    tasks: dict[str, Any] | None = None, timeout: float = 60.0,
                    block_ms: int = 100, **options: Any) -> tuple[Executions, dict[str, Any]]:
    api = Executions(redis, {"fan": definition})
    started = await api.start_execution("fan", orjson.dumps(items).decode(), name=name)
    async with worker(redis, tasks, block_ms=block_ms, **options):
        done = await until_closed(api, started["executionArn"], timeout=timeout)
    return api, done


async def test_iterations_are_child_executions_with_their_own_histories(redis: Redis) -> None:
    api, done = await run_items(redis, SQUARE, [1, 2, 3], "small")
    assert done["status"] == "SUCCEEDED"
    assert orjson.loads(done["output"]) == [{"sq": 1}, {"sq": 2}, {"sq": 3}]
    events = await history(api, done["executionArn"])
    assert_contiguous(events)
    local = run_local(SQUARE, "[1, 2, 3]")
    assert [e["type"] for e in events] == [e["type"] for e in local["events"]]
    assert orjson.loads(done["output"]) == orjson.loads(local["output"])
    run_arn = next(e for e in events if e["type"] == "MapRunStarted")[
        "mapRunStartedEventDetails"]["mapRunArn"]
    assert run_arn.startswith(states_arn("mapRun", "fan/Each:"))
    # A child: named by the Map Run, its machine the parent's and the Map state's names.
    children = Executions(redis, {"fan/Each": "{}"})
    listed = await children.list_executions("fan/Each")
    assert len(listed["executions"]) == 3
    child = listed["executions"][0]
    assert child["executionArn"].startswith(execution_prefix("fan/Each"))
    assert child["status"] == "SUCCEEDED"
    child_events = await history(api, child["executionArn"])
    assert [e["type"] for e in child_events] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


async def test_a_thousand_items_in_order_at_most_max_concurrency_at_once(redis: Redis) -> None:
    definition = distributed({"Track": {"Type": "Task", "Resource": "track", "End": True}},
                             MaxConcurrency=40)
    track = InFlight()
    items = list(range(1000))
    _, done = await run_items(redis, definition, items, "thousand", {"track": track.call})
    assert done["status"] == "SUCCEEDED"
    assert orjson.loads(done["output"]) == items
    assert track.calls == 1000
    assert track.most <= 40


async def test_tolerated_failures_leave_nulls(redis: Redis) -> None:
    items = [{"i": i, "bad": i % 5 == 0} for i in range(20)]
    _, done = await run_items(redis, distributed(FAIL_EVERY_FIFTH, ToleratedFailureCount=4),
                              items, "tolerated")
    assert done["status"] == "SUCCEEDED"
    out = orjson.loads(done["output"])
    assert out == [None if item["bad"] else item for item in items]


async def test_failures_past_the_threshold_fail_the_map(redis: Redis) -> None:
    items = [{"i": i, "bad": i % 5 == 0} for i in range(20)]
    definition = distributed(FAIL_EVERY_FIFTH, ToleratedFailurePercentage=15, MaxConcurrency=2)
    api, done = await run_items(redis, definition, items, "intolerable")
    assert done["status"] == "FAILED"
    assert done["error"] == "States.ExceedToleratedFailureThreshold"
    assert done["cause"] == "The specified tolerated failure threshold was exceeded"
    types = [e["type"] for e in await history(api, done["executionArn"])]
    assert types[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]


async def test_an_inline_map_past_25000_history_events_fails_the_execution(
    redis: Redis,
) -> None:
    definition = machine({
        "Each": {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {
            "P": {"Type": "Pass", "End": True}}}, "End": True},
    })
    items = list(range(6300))  # 4 events an iteration
    api, done = await run_items(redis, definition, items, "long")
    local = run_local(definition, orjson.dumps(items).decode())
    assert done["status"] == local["status"] == "FAILED"
    assert (done["error"], done["cause"]) == (local["error"], local["cause"])
    assert done["error"] == "States.Runtime"
    assert done["cause"] == "The execution reached the maximum number of history events (25000)."
    events = await history(api, done["executionArn"])
    assert len(events) == 25_001
    assert events[-1]["type"] == "ExecutionFailed"


@pytest.mark.skipif(not FULL, reason="EVENTBUS_TEST_FULL=1 (make test-full)")
async def test_ten_thousand_items_with_bounded_memory(redis_url: str) -> None:
    # As a standalone worker's: a burst of work waits for a connection instead of failing.
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=None)
    redis = Redis(connection_pool=pool)
    definition = distributed({"Track": {"Type": "Task", "Resource": "track", "End": True}},
                             MaxConcurrency=200)
    track = InFlight()
    items = list(range(10_000))  # the output stays under 256 KiB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _, done = await run_items(redis, definition, items, "ten-thousand", {"track": track.call},
                              timeout=600)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    await redis.aclose()
    assert done["status"] == "SUCCEEDED"
    assert orjson.loads(done["output"]) == items
    assert track.most <= 200
    assert grown_mb < 300, f"the worker grew by {grown_mb:.0f} MB"


async def test_a_jsonata_machine_s_children_are_jsonata_too(redis: Redis) -> None:
    definition = machine({
        "Each": {"Type": "Map", "Items": "{% $states.input.numbers %}", "End": True,
                 "ItemProcessor": {
                     "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                     "StartAt": "Twice",
                     "States": {"Twice": {"Type": "Pass", "Output": "{% $states.input * 2 %}",
                                          "End": True}}}},
    }, QueryLanguage="JSONata")
    api = Executions(redis, {"fan": definition})
    started = await api.start_execution("fan", '{"numbers": [1, 2, 3]}', name="jsonata")
    async with worker(redis, block_ms=100):
        done = await until_closed(api, started["executionArn"])
    local = run_local(definition, '{"numbers": [1, 2, 3]}')
    assert orjson.loads(done["output"]) == orjson.loads(local["output"]) == [2, 4, 6]


async def test_stopping_the_parent_aborts_its_map_run(redis: Redis) -> None:
    definition = distributed({"Gate": {"Type": "Task", "Resource": "gate", "End": True}},
                             MaxConcurrency=2)
    api = Executions(redis, {"fan": definition})
    children = Executions(redis, {"fan/Each": "{}"})
    opened = asyncio.Event()

    async def gate(data: Any) -> Any:
        await opened.wait()
        return data

    started = await api.start_execution("fan", "[1, 2, 3, 4, 5, 6]", name="stopped")
    async with worker(redis, {"gate": gate}, block_ms=100):
        async with asyncio.timeout(30):
            while len((await children.list_executions("fan/Each"))["executions"]) < 2:
                await asyncio.sleep(0.02)
        await api.stop_execution(started["executionArn"], error="Halt")
        assert (await until_closed(api, started["executionArn"]))["status"] == "ABORTED"
        opened.set()  # the children end; the first close finds the parent ended
        async with asyncio.timeout(30):
            while await redis.keys("eb:*:mr:*"):
                await asyncio.sleep(0.02)
    listed = (await children.list_executions("fan/Each"))["executions"]
    assert len(listed) == 2  # no child started after the parent had ended


async def test_a_child_that_cannot_start_counts_as_failed(redis: Redis) -> None:
    api = Executions(redis, {"hold": machine({"Hold": {"Type": "Wait", "Seconds": 3600,
                                                       "End": True}})})
    parent = (await api.start_execution("hold", "{}", name="holder"))["executionArn"]
    services = TaskServices(redis=redis, publish=lambda *_a, **_k: None)
    await map_run.start_run({"Items": [1], "Machine": "hold/Each", "Definition": "{}",
                             "MaxConcurrency": 1}, parent, "run-1", services)
    work = keys.workflow_work(store.partition_of(parent))
    entries = await redis.xrange(work)
    entry_id, raw = next(e for e in entries if e[1][b"kind"] == b"mapchild")
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    answer = await child_completions.start_map_child(services, fields, entry_id.decode())
    assert answer == "FAILED"  # no tolerance: the run has ended, and been forgotten
    assert not await redis.keys("eb:*:mr:run-1")
    await services.aclose()
