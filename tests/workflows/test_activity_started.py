"""ActivityStarted is recorded when a worker takes the task (GetActivityTask), with its name,
once per attempt, as AWS records it; an activity nobody took times out without it."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from eventbus import keys
from eventbus.workflows import run_local, store
from eventbus.workflows.activities import Activities
from eventbus.workflows.callbacks import take
from eventbus.workflows.executions import Executions
from eventbus.workflows.task_token import decode_token

from .durable import assert_contiguous, history, until_closed, worker
from .test_callbacks import ACTIVITY, activity_machine


async def _types(api: Executions, arn: str) -> list[str]:
    return [e["type"] for e in await history(api, arn)]


async def test_activity_started_is_recorded_when_a_worker_takes_the_task(redis: Redis) -> None:
    api, tasks = Executions(redis, {"act": activity_machine()}), Activities(redis)
    arn = (await api.start_execution("act", "{}", name="e1"))["executionArn"]
    async with worker(redis):
        async with asyncio.timeout(30):  # scheduled, not started: nobody has taken it
            while "ActivityScheduled" not in await _types(api, arn):
                await asyncio.sleep(0.02)
        assert "ActivityStarted" not in await _types(api, arn)
        task = await tasks.get_activity_task(ACTIVITY, "resizer-1", timeout=30)
        async with asyncio.timeout(30):  # recorded before the worker answers
            while "ActivityStarted" not in await _types(api, arn):
                await asyncio.sleep(0.02)
        # Taken once: a second take of the same attempt (a task queued twice) is refused.
        assert await take(redis, arn, task["taskToken"], "resizer-2") == "taken"
        await tasks.send_task_success(task["taskToken"], '{"done": true}')
        await until_closed(api, arn)
    events = await history(api, arn)
    assert_contiguous(events)
    assert [e["type"] for e in events][2:5] == [
        "ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]
    assert events[3]["activityStartedEventDetails"] == {"workerName": "resizer-1"}
    assert decode_token(task["taskToken"])[0] == arn


async def test_an_activity_no_worker_took_times_out_without_a_start(redis: Redis) -> None:
    api = Executions(redis, {"act": activity_machine(TimeoutSeconds=1)})
    arn = (await api.start_execution("act", "{}", name="e1"))["executionArn"]
    async with worker(redis):
        done = await until_closed(api, arn)
    assert done["status"] == "FAILED"
    assert (await _types(api, arn))[2:4] == ["ActivityScheduled", "ActivityTimedOut"]


def test_run_local_records_the_start_of_an_activity_it_answers() -> None:
    result = run_local(activity_machine(), "{}", tasks={ACTIVITY: lambda _: {"ok": 1}})
    assert [e["type"] for e in result["events"]][2:5] == [
        "ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]


async def test_an_answer_applied_before_the_start_records_the_start_with_the_name(
    redis: Redis,
) -> None:
    api, tasks = Executions(redis, {"act": activity_machine()}), Activities(redis)
    arn = (await api.start_execution("act", "{}", name="e1"))["executionArn"]
    async with worker(redis):
        task = await tasks.get_activity_task(ACTIVITY, "quick", timeout=30)
        async with asyncio.timeout(30):
            while "ActivityStarted" not in await _types(api, arn):
                await asyncio.sleep(0.02)
    # Replay the same as if the start's work entry came after the answer's: the stored
    # execution, rebuilt without the start, is given the answer, then the start.
    p = store.partition_of(arn)
    replies = keys.workflow_replies(p, arn)
    started = await redis.rpop(replies)
    await redis.hset(keys.workflow_execution(p, arn), mapping={"replies": 0, "events": 3})
    await redis.ltrim(keys.workflow_history(p, arn), 0, 2)
    await tasks.send_task_success(task["taskToken"], '{"done": true}')
    await redis.xadd(keys.workflow_work(p), {"kind": "reply", "arn": arn, "reply": started})
    async with worker(redis):
        await until_closed(api, arn)
    events = await history(api, arn)
    assert_contiguous(events)
    assert [e["type"] for e in events][2:5] == [
        "ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]
    assert events[3]["activityStartedEventDetails"] == {"workerName": "quick"}
    assert [e["type"] for e in events].count("ActivityStarted") == 1
