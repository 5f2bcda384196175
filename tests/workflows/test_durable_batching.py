"""Steps and starts that share round trips: concurrent callers on one auto-pipelining client,
each still stored once, and a start entry that carries its execution's record."""

from __future__ import annotations

import asyncio

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.autopipe import AutoPipelineRedis, shared_autopipe
from eventbus.workflows import store
from eventbus.workflows.driver import Driver
from eventbus.workflows.executions import Executions
from eventbus.workflows.worker_loops import ensure_work_groups

from .durable import assert_contiguous, history
from .helpers import machine

CHAIN = machine({
    "A": {"Type": "Pass", "Next": "B"},
    "B": {"Type": "Choice", "Default": "C",
          "Choices": [{"Variable": "$.n", "NumericGreaterThan": 100, "Next": "C"}]},
    "C": {"Type": "Succeed"},
})
HOLD = machine({"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}})


async def _start_entries(redis: Redis) -> list[tuple[str, dict[str, str]]]:
    streams = {keys.workflow_work(p): ">" for p in range(keys.WORKFLOW_PARTITIONS)}
    reply = await redis.xreadgroup(keys.WORKFLOW_GROUP, "test", streams)  # type: ignore[arg-type]
    return [(store.text(i), {store.text(k): store.text(v) for k, v in f.items()})
            for _, entries in reply for i, f in entries]


def test_callers_of_one_pool_share_one_auto_pipelining_client(redis: Redis) -> None:
    shared = shared_autopipe(redis)
    assert isinstance(shared, AutoPipelineRedis)
    assert shared_autopipe(Redis(connection_pool=redis.connection_pool)) is shared
    assert shared_autopipe(shared) is shared
    assert shared_autopipe(Redis()) is not shared


async def test_concurrent_starts_of_one_name_answer_one_execution(redis: Redis) -> None:
    api = Executions(redis, {"hold": HOLD})
    same = await asyncio.gather(*(api.start_execution("hold", '{"k": 1}', name="same")
                                  for _ in range(5)))
    assert all(s == same[0] for s in same)
    many = await asyncio.gather(*(api.start_execution("hold", "{}") for _ in range(50)))
    assert len({s["executionArn"] for s in many}) == 50
    listed = await api.list_executions("hold", max_results=1000)
    assert len(listed["executions"]) == 51


async def test_concurrent_steps_are_each_stored_once_and_acknowledged(redis: Redis) -> None:
    await ensure_work_groups(redis)
    api = Executions(redis, {"chain": CHAIN})
    arns = [s["executionArn"] for s in await asyncio.gather(
        *(api.start_execution("chain", '{"n": 1}') for _ in range(30)))]
    entries = await _start_entries(redis)
    assert len(entries) == 30
    driver = Driver(redis, keys.WORKFLOW_GROUP)
    answers = await asyncio.gather(*(
        driver.apply(f["arn"], i, None, orjson.loads(f["record"])) for i, f in entries))
    assert answers == ["ok"] * 30
    for arn in arns:
        assert (await api.describe_execution(arn))["status"] == "SUCCEEDED"
        assert_contiguous(await history(api, arn))
    for p in range(keys.WORKFLOW_PARTITIONS):
        pending = await redis.xpending(keys.workflow_work(p), keys.WORKFLOW_GROUP)
        assert pending["pending"] == 0


async def test_a_start_entry_carries_the_record_as_stored(redis: Redis) -> None:
    await ensure_work_groups(redis)
    api = Executions(redis, {"chain": CHAIN})
    arn = (await api.start_execution("chain", '{"n": 1}', name="one"))["executionArn"]
    [(_, fields)] = await _start_entries(redis)
    stored = await redis.hgetall(keys.workflow_execution(store.partition_of(arn), arn))
    assert orjson.loads(fields["record"]) == \
        {store.text(k): store.text(v) for k, v in stored.items()}


async def test_a_start_from_its_entry_is_refused_once_the_execution_moved_on(
    redis: Redis,
) -> None:
    await ensure_work_groups(redis)
    api = Executions(redis, {"hold": HOLD})
    arn = (await api.start_execution("hold", "{}", name="once"))["executionArn"]
    [(entry, fields)] = await _start_entries(redis)
    record = orjson.loads(fields["record"])
    assert await Driver(redis, keys.WORKFLOW_GROUP).apply(arn, entry, None, record) == "ok"
    events = await history(api, arn)
    # Another worker, given the same entry again (claimed from a worker taken for dead): the
    # entry's record says "not started", the stored execution says otherwise.
    other = Driver(redis, keys.WORKFLOW_GROUP)
    assert await other.apply(arn, entry, None, record) == "duplicate"
    assert other.stale == 1
    assert await history(api, arn) == events
