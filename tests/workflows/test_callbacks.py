"""Callback tasks of durable executions: ``.waitForTaskToken`` and activities, answered with
SendTaskSuccess/Failure/Heartbeat, bounded by TimeoutSeconds and HeartbeatSeconds."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from eventbus import keys
from eventbus.errors import InvalidOutput, InvalidToken, TaskDoesNotExist, TaskTimedOut
from eventbus.workflows.activities import Activities
from eventbus.workflows.executions import Executions
from eventbus.workflows.task_token import decode_token, encode_token

from .durable import assert_contiguous, history, until_closed, worker
from .helpers import machine

CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:resize"


def callback_machine(**task: Any) -> str:
    return machine({"Wait": {"Type": "Task", "Resource": CALLBACK, "End": True,
                             "Parameters": {"token.$": "$$.Task.Token", "job.$": "$.job"},
                             **task}})


def activity_machine(**task: Any) -> str:
    return machine({"Work": {"Type": "Task", "Resource": ACTIVITY, "End": True, **task}})


class Inbox:
    """The callback resource: keeps what each invocation was given."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def call(self, data: dict[str, Any]) -> dict[str, Any]:
        await self.calls.put(data)
        return {"MessageId": "ignored"}  # a callback task's result is what SendTask* says

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(30):
            return await self.calls.get()


async def test_a_wait_for_task_token_task_waits_for_send_task_success(redis: Redis) -> None:
    api, tasks, inbox = Executions(redis, {"cb": callback_machine()}), Activities(redis), Inbox()
    arn = (await api.start_execution("cb", '{"job": 7}', name="e1"))["executionArn"]
    async with worker(redis, {CALLBACK: inbox.call}):
        call = await inbox.next()
        assert call["job"] == 7
        assert decode_token(call["token"])[0] == arn  # the token leads to its execution
        assert (await api.describe_execution(arn))["status"] == "RUNNING"
        await tasks.send_task_success(call["token"], '{"done": true}')
        done = await until_closed(api, arn)
    assert done["status"] == "SUCCEEDED"
    assert orjson.loads(done["output"]) == {"done": True}
    assert_contiguous(await history(api, arn))


async def test_any_target_type_can_hand_its_token_to_another_system(redis: Redis) -> None:
    definition = machine({"Send": {
        "Type": "Task", "Resource": "arn:eventbus:states:::target:redis_stream.waitForTaskToken",
        "Parameters": {"stream": "jobs", "Payload": {"token.$": "$$.Task.Token"}}, "End": True}})
    api, tasks = Executions(redis, {"m": definition}), Activities(redis)
    arn = (await api.start_execution("m", "{}", name="e1"))["executionArn"]
    async with worker(redis):
        async with asyncio.timeout(30):
            while not (entries := await redis.xrange("jobs")):
                await asyncio.sleep(0.02)
        token = orjson.loads(entries[0][1][b"payload"])["token"]
        await tasks.send_task_success(token, '{"from": "the consumer"}')
        done = await until_closed(api, arn)
    assert orjson.loads(done["output"]) == {"from": "the consumer"}


async def test_put_events_can_wait_for_a_rule_s_consumer_to_answer(redis: Redis) -> None:
    entry = {"Source": "shop", "DetailType": "Resize", "EventBusName": "callbacks",
             "Detail": {"token.$": "$$.Task.Token"}}
    definition = machine({"Publish": {
        "Type": "Task", "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
        "Parameters": {"Entries": [entry]}, "End": True}})
    api, tasks = Executions(redis, {"m": definition}), Activities(redis)
    arn = (await api.start_execution("m", "{}", name="e1"))["executionArn"]
    async with worker(redis):
        async with asyncio.timeout(30):
            while not (entries := await redis.xrange(keys.bus_stream("callbacks", 0))):
                await asyncio.sleep(0.02)
        event = orjson.loads(entries[0][1][b"event"])
        await tasks.send_task_success(event["detail"]["token"], '"resized"')
        done = await until_closed(api, arn)
    assert (done["status"], done["output"]) == ("SUCCEEDED", '"resized"')


async def test_send_task_failure_fails_the_task_with_its_error_and_cause(redis: Redis) -> None:
    catch = [{"ErrorEquals": ["Resize.Failed"], "Next": "Caught"}]
    definition = machine({
        "Wait": {"Type": "Task", "Resource": CALLBACK, "Catch": catch, "End": True,
                 "Parameters": {"token.$": "$$.Task.Token"}},
        "Caught": {"Type": "Pass", "End": True},
    })
    api, tasks, inbox = Executions(redis, {"cb": definition}), Activities(redis), Inbox()
    arn = (await api.start_execution("cb", "{}", name="e1"))["executionArn"]
    async with worker(redis, {CALLBACK: inbox.call}):
        token = (await inbox.next())["token"]
        await tasks.send_task_failure(token, "Resize.Failed", "disk full")
        done = await until_closed(api, arn)
    assert done["status"] == "SUCCEEDED"
    assert orjson.loads(done["output"]) == {"Error": "Resize.Failed", "Cause": "disk full"}


async def test_a_task_answered_twice_answers_task_timed_out_the_second_time(
    redis: Redis,
) -> None:
    api, tasks, inbox = Executions(redis, {"cb": callback_machine()}), Activities(redis), Inbox()
    arn = (await api.start_execution("cb", '{"job": 1}', name="e1"))["executionArn"]
    async with worker(redis, {CALLBACK: inbox.call}):
        token = (await inbox.next())["token"]
        await tasks.send_task_success(token, "1")
        with pytest.raises(TaskTimedOut):
            await tasks.send_task_success(token, "2")
        done = await until_closed(api, arn)
    assert done["output"] == "1"


async def test_a_token_of_an_execution_that_has_ended_answers_task_timed_out(
    redis: Redis,
) -> None:
    api, tasks, inbox = Executions(redis, {"cb": callback_machine()}), Activities(redis), Inbox()
    arn = (await api.start_execution("cb", '{"job": 1}', name="e1"))["executionArn"]
    async with worker(redis, {CALLBACK: inbox.call}):
        token = (await inbox.next())["token"]
        await api.stop_execution(arn)
        assert (await until_closed(api, arn))["status"] == "ABORTED"
    with pytest.raises(TaskTimedOut):
        await tasks.send_task_heartbeat(token)
    with pytest.raises(TaskTimedOut):
        await tasks.send_task_success(token, "{}")


async def test_timeout_seconds_times_the_wait_out(redis: Redis) -> None:
    api, tasks, inbox = Executions(redis, {"cb": callback_machine(TimeoutSeconds=1)}), \
        Activities(redis), Inbox()
    arn = (await api.start_execution("cb", '{"job": 1}', name="e1"))["executionArn"]
    async with worker(redis, {CALLBACK: inbox.call}):
        token = (await inbox.next())["token"]
        done = await until_closed(api, arn)
        with pytest.raises(TaskTimedOut):
            await tasks.send_task_success(token, "{}")
    assert (done["status"], done["error"]) == ("FAILED", "States.Timeout")
    timed_out = [e for e in await history(api, arn) if e["type"] == "TaskTimedOut"]
    assert timed_out[0]["taskTimedOutEventDetails"]["error"] == "States.Timeout"


async def test_a_missed_heartbeat_times_the_task_out_with_heartbeat_timeout(
    redis: Redis,
) -> None:
    api = Executions(redis, {"cb": callback_machine(HeartbeatSeconds=1)})
    inbox = Inbox()
    arn = (await api.start_execution("cb", '{"job": 1}', name="e1"))["executionArn"]
    async with worker(redis, {CALLBACK: inbox.call}):
        await inbox.next()
        done = await until_closed(api, arn)
    assert (done["status"], done["error"]) == ("FAILED", "States.HeartbeatTimeout")


async def test_heartbeats_keep_a_task_alive_past_its_heartbeat_seconds(redis: Redis) -> None:
    api = Executions(redis, {"cb": callback_machine(HeartbeatSeconds=2)})
    tasks, inbox = Activities(redis), Inbox()
    arn = (await api.start_execution("cb", '{"job": 1}', name="e1"))["executionArn"]
    async with worker(redis, {CALLBACK: inbox.call}):
        token = (await inbox.next())["token"]
        for _ in range(16):  # 4 s of heartbeats every 0.25 s: twice the HeartbeatSeconds
            await tasks.send_task_heartbeat(token)
            await asyncio.sleep(0.25)
        await tasks.send_task_success(token, '"late but alive"')
        done = await until_closed(api, arn)
    assert (done["status"], done["output"]) == ("SUCCEEDED", '"late but alive"')


async def test_tokens_that_were_not_issued_are_refused(redis: Redis) -> None:
    api, tasks, inbox = Executions(redis, {"cb": callback_machine()}), Activities(redis), Inbox()
    arn = (await api.start_execution("cb", '{"job": 1}', name="e1"))["executionArn"]
    with pytest.raises(InvalidToken):
        await tasks.send_task_success("not-a-token", "{}")
    forged = encode_token(arn, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(TaskDoesNotExist):
        await tasks.send_task_success(forged, "{}")
    with pytest.raises(TaskDoesNotExist):
        await tasks.send_task_heartbeat(forged)
    async with worker(redis, {CALLBACK: inbox.call}):
        token = (await inbox.next())["token"]
        with pytest.raises(InvalidOutput):
            await tasks.send_task_success(token, "{not json")
        await tasks.send_task_success(token, "{}")
        await until_closed(api, arn)


async def test_an_activity_task_goes_to_a_polling_worker_and_its_answer_ends_it(
    redis: Redis,
) -> None:
    definition = activity_machine(Parameters={"size.$": "$.size"})
    api, tasks = Executions(redis, {"act": definition}), Activities(redis)
    arn = (await api.start_execution("act", '{"size": 64}', name="e1"))["executionArn"]
    async with worker(redis):
        task = await tasks.get_activity_task(ACTIVITY, "w1", timeout=30)
        assert orjson.loads(task["input"]) == {"size": 64}
        await tasks.send_task_success(task["taskToken"], '{"resized": 64}')
        done = await until_closed(api, arn)
    assert orjson.loads(done["output"]) == {"resized": 64}
    types = [e["type"] for e in await history(api, arn)]
    assert types[2:5] == ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]


async def test_get_activity_task_answers_empty_once_its_poll_ends(redis: Redis) -> None:
    assert await Activities(redis).get_activity_task(ACTIVITY, "w1", timeout=0.2) == {}


# An activity worker in a process of its own: takes one task, says so, and hangs.
DOOMED_WORKER = """
import asyncio, sys
from redis.asyncio import Redis
from eventbus.workflows.activities import Activities

async def main():
    task = await Activities(Redis.from_url(sys.argv[1])).get_activity_task(sys.argv[2], "doomed")
    print(task["taskToken"], flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_an_activity_worker_that_dies_times_out_by_heartbeat_and_retry_applies(
    redis: Redis, redis_url: str,
) -> None:
    retry = [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}]
    api = Executions(redis, {"act": activity_machine(HeartbeatSeconds=2, Retry=retry)})
    tasks = Activities(redis)
    arn = (await api.start_execution("act", '{"n": 1}', name="e1"))["executionArn"]
    doomed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DOOMED_WORKER, redis_url, ACTIVITY, stdout=asyncio.subprocess.PIPE)
    assert doomed.stdout is not None
    async with worker(redis):
        async with asyncio.timeout(60):
            first = (await doomed.stdout.readline()).decode().strip()
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
        retried = await tasks.get_activity_task(ACTIVITY, "survivor", timeout=30)
        await tasks.send_task_success(retried["taskToken"], '{"ok": true}')
        assert retried["taskToken"] != first
        with pytest.raises(TaskTimedOut):
            await tasks.send_task_success(first, "{}")
        done = await until_closed(api, arn)
    assert (done["status"], orjson.loads(done["output"])) == ("SUCCEEDED", {"ok": True})
    events = await history(api, arn)
    assert_contiguous(events)
    timed_out = [e["activityTimedOutEventDetails"] for e in events
                 if e["type"] == "ActivityTimedOut"]
    assert timed_out == [{"error": "States.HeartbeatTimeout"}]
