"""The step store's guarantees: a step is stored once, only at the version it was computed
from, whichever workers race for the execution."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.workflows import run_local, store
from eventbus.workflows.commands import Redrive, TaskResult
from eventbus.workflows.driver import Driver
from eventbus.workflows.executions import Executions
from eventbus.workflows.step import Step
from eventbus.workflows.worker_loops import ensure_work_groups

from .durable import assert_contiguous, history, until_closed, worker
from .helpers import machine

PAIR = machine({"Both": {"Type": "Parallel", "End": True, "Branches": [
    {"StartAt": "L", "States": {"L": {"Type": "Task", "Resource": "left", "End": True}}},
    {"StartAt": "R", "States": {"R": {"Type": "Task", "Resource": "right", "End": True}}},
]}})


async def _work(redis: Redis, arn: str) -> list[tuple[str, dict[str, str]]]:
    """The work entries of ``arn``'s partition not read yet, read as consumer ``test``."""
    stream = keys.workflow_work(store.partition_of(arn))
    reply = await redis.xreadgroup(keys.WORKFLOW_GROUP, "test", {stream: ">"})
    return [(store.text(i), {store.text(k): store.text(v) for k, v in f.items()})
            for _, entries in reply for i, f in entries]


async def _started(redis: Redis, name: str = "x") -> tuple[Executions, str, str]:
    await ensure_work_groups(redis)
    api = Executions(redis, {"pair": PAIR})
    arn = (await api.start_execution("pair", "{}", name=name))["executionArn"]
    [(entry, fields)] = await _work(redis, arn)
    assert fields["kind"] == "start"
    return api, arn, entry


async def test_a_step_computed_from_an_older_history_is_refused(redis: Redis) -> None:
    _, arn, entry = await _started(redis)
    assert await Driver(redis, keys.WORKFLOW_GROUP).apply(arn, entry, None) == "ok"
    stale = await store.apply_step(redis, arn, expected=(0, 0),
                                   step=Step([{"id": 1}], []), commands=[])
    assert stale == "stale"
    assert len(await redis.lrange(keys.workflow_history(store.partition_of(arn), arn), 0, -1)) \
        == int(await redis.hget(keys.workflow_execution(store.partition_of(arn), arn), "events"))


async def test_a_work_entry_already_applied_is_not_applied_again(redis: Redis) -> None:
    _, arn, entry = await _started(redis)
    driver = Driver(redis, keys.WORKFLOW_GROUP)
    assert await driver.apply(arn, entry, None) == "ok"
    [(task_entry, _), _] = await _work(redis, arn)
    p = store.partition_of(arn)
    events = int(await redis.hget(keys.workflow_execution(p, arn), "events"))
    reply = TaskResult("not-awaited", datetime.now(UTC), output=1)
    # The entry is acknowledged by the first step that answers it; a second one is refused
    # even at the current version.
    assert await driver.apply(arn, task_entry, reply) == "ok"
    again = await store.apply_step(redis, arn, expected=(events, 1), entries=[task_entry],
                                   group=keys.WORKFLOW_GROUP, replies=[reply],
                                   step=Step([], []), commands=[])
    assert again == "duplicate"


async def test_a_worker_holding_an_old_copy_replays_the_stored_one_and_steps_it(
    redis: Redis,
) -> None:
    api, arn, entry = await _started(redis)
    first, second = Driver(redis, keys.WORKFLOW_GROUP), Driver(redis, keys.WORKFLOW_GROUP)
    assert await first.apply(arn, entry, None) == "ok"
    assert await second.apply(arn, entry, None) == "duplicate"  # now holds the execution too
    tasks = await _work(redis, arn)
    tokens = {orjson.loads(f["task"])["resource"]: (i, orjson.loads(f["task"])["token"])
              for i, f in tasks}
    now = datetime.now(UTC)
    left_entry, left = tokens["left"]
    right_entry, right = tokens["right"]
    assert await first.apply(arn, left_entry, TaskResult(left, now, output="L")) == "ok"
    assert await second.apply(arn, right_entry, TaskResult(right, now, output="R")) == "ok"
    assert second.stale == 1
    described = await api.describe_execution(arn)
    assert (described["status"], orjson.loads(described["output"])) == ("SUCCEEDED", ["L", "R"])
    assert_contiguous(await history(api, arn))


async def _left(data: Any) -> Any:
    await asyncio.sleep(0)
    return "L"


async def _right(data: Any) -> Any:
    await asyncio.sleep(0)
    return "R"


async def test_two_workers_racing_for_the_same_executions_store_each_step_once(
    redis: Redis,
) -> None:
    tasks = {"left": _left, "right": _right}
    api = Executions(redis, {"pair": PAIR})
    arns = [(await api.start_execution("pair", "{}"))["executionArn"] for _ in range(20)]
    async with worker(redis, tasks, consumer="a"), worker(redis, tasks, consumer="b"):
        done = [await until_closed(api, arn) for arn in arns]
    local = run_local(PAIR, "{}", tasks={"left": lambda _: "L", "right": lambda _: "R"})
    for arn, described in zip(arns, done, strict=True):
        assert described["output"] == local["output"]
        events = await history(api, arn)
        assert_contiguous(events)
        assert sorted(e["type"] for e in events) == sorted(e["type"] for e in local["events"])


async def test_work_entries_are_trimmed_once_applied_and_kept_until_then(redis: Redis) -> None:
    api = Executions(redis, {"pair": PAIR})
    await ensure_work_groups(redis)
    done = (await api.start_execution("pair", "{}", name="done"))["executionArn"]
    async with worker(redis, {"left": _left, "right": _right}):
        await until_closed(api, done)
    waiting = (await api.start_execution("pair", "{}", name="waiting"))["executionArn"]
    await store.trim_work(redis, keys.WORKFLOW_GROUP)
    left = {p: await redis.xlen(keys.workflow_work(p)) for p in range(keys.WORKFLOW_PARTITIONS)}
    # What no worker has read yet stays, with at most the last entry delivered before it.
    assert left[store.partition_of(waiting)] in (1, 2)
    if store.partition_of(done) != store.partition_of(waiting):
        assert left[store.partition_of(done)] <= 1
    async with worker(redis, {"left": _left, "right": _right}):
        assert (await until_closed(api, waiting))["status"] == "SUCCEEDED"


TRIO = machine({"All": {"Type": "Parallel", "End": True, "Branches": [
    {"StartAt": n, "States": {n: {"Type": "Task", "Resource": n, "End": True}}}
    for n in ("a", "b", "c")]}})


async def _trio_tasks(redis: Redis) -> tuple[Executions, str, dict[str, tuple[str, TaskResult]]]:
    """A started execution of TRIO, its three task entries and a reply for each."""
    await ensure_work_groups(redis)
    api = Executions(redis, {"trio": TRIO})
    arn = (await api.start_execution("trio", "{}"))["executionArn"]
    [(entry, _)] = await _work(redis, arn)
    assert await Driver(redis, keys.WORKFLOW_GROUP).apply(arn, entry, None) == "ok"
    now = datetime.now(UTC)
    tasks = {}
    for i, f in await _work(redis, arn):
        task = orjson.loads(f["task"])
        tasks[task["resource"]] = (i, TaskResult(task["token"], now, output=task["resource"]))
    return api, arn, tasks


async def test_replies_arriving_while_a_step_is_stored_are_applied_as_one_step(
    redis: Redis,
) -> None:
    api, arn, tasks = await _trio_tasks(redis)
    driver = Driver(redis, keys.WORKFLOW_GROUP)
    answers = await asyncio.gather(*(driver.apply(arn, *tasks[n]) for n in ("a", "b", "c")))
    assert answers == ["ok", "ok", "ok"]
    assert driver.steps == 2  # a's, then b's and c's together (b and c waited for a's)
    described = await api.describe_execution(arn)
    assert (described["status"], orjson.loads(described["output"])) == \
        ("SUCCEEDED", ["a", "b", "c"])
    assert_contiguous(await history(api, arn))
    p = store.partition_of(arn)
    assert await redis.llen(keys.workflow_replies(p, arn)) == 3
    pending = await redis.xpending(keys.workflow_work(p), keys.WORKFLOW_GROUP)
    assert pending["pending"] == 0


async def test_a_reply_applied_already_leaves_the_others_of_its_step_to_be_applied(
    redis: Redis,
) -> None:
    api, arn, tasks = await _trio_tasks(redis)
    assert await Driver(redis, keys.WORKFLOW_GROUP).apply(arn, *tasks["b"]) == "ok"
    other = Driver(redis, keys.WORKFLOW_GROUP)  # did not see b's step
    # a's step goes first; b's (applied already) and c's wait for it and go together: the
    # script refuses the pair for b's entry, and c's is applied alone.
    answers = await asyncio.gather(*(other.apply(arn, *tasks[n]) for n in ("a", "b", "c")))
    assert answers == ["ok", "duplicate", "ok"]
    described = await api.describe_execution(arn)
    assert (described["status"], orjson.loads(described["output"])) == \
        ("SUCCEEDED", ["a", "b", "c"])
    assert_contiguous(await history(api, arn))
    assert await redis.llen(keys.workflow_replies(store.partition_of(arn), arn)) == 3


async def test_a_reply_the_step_function_refuses_fails_alone_not_the_others_of_its_step(
    redis: Redis,
) -> None:
    api, arn, tasks = await _trio_tasks(redis)
    driver = Driver(redis, keys.WORKFLOW_GROUP)
    wrong = Redrive(datetime.now(UTC), 1)  # for a closed execution only: the step raises
    answers = await asyncio.gather(
        driver.apply(arn, *tasks["a"]), driver.apply(arn, *tasks["b"]),
        driver.apply(arn, None, wrong), driver.apply(arn, *tasks["c"]), return_exceptions=True)
    assert answers[:2] == ["ok", "ok"] and answers[3] == "ok"
    assert isinstance(answers[2], ValueError)
    described = await api.describe_execution(arn)
    assert (described["status"], orjson.loads(described["output"])) == \
        ("SUCCEEDED", ["a", "b", "c"])
    assert_contiguous(await history(api, arn))
