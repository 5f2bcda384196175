"""Callback tasks on the durable store: ``.waitForTaskToken`` tasks and activities.

A callback task's work entry does not step the execution: the worker registers the wait in the
execution's waits hash (with its TimeoutSeconds and HeartbeatSeconds timers in the partition's
timers), invokes the resource (or, for an activity, queues the task for GetActivityTask), and
acknowledges the entry. The execution then waits until exactly one of SendTaskSuccess,
SendTaskFailure, the timeout or a missed heartbeat *resolves* the wait: the resolve script
marks the wait answered and queues the reply on the partition's work stream, where any worker
applies it as any other step. Every script touches the keys of the execution's partition only
(one hash slot); an activity's queue has its own slot and is written by a command of its own.

Invocation is at least once: a worker that dies after invoking (or queueing) and before
acknowledging leaves the entry to be claimed again, and the resource is invoked again with the
same token. The first answer with the token wins; later ones answer TaskTimedOut.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.workflows import jsontext, store
from eventbus.workflows.commands import InvokeTask, TaskResult, TaskStarted
from eventbus.workflows.task_token import activity_name
from eventbus.workflows.tasks import TaskResolver

__all__ = ["CallbackTasks", "heartbeat", "resolve", "take", "wait_timer"]

_WAIT_SUFFIX = ".waitForTaskToken"

# Registers a callback task's wait once. KEYS: waits, record, timers.
# ARGV: token, HeartbeatSeconds ('' none), now (ms), timeout due (ms, '' none), the timeout
# timer's member, the heartbeat timer's member, '1' to start the heartbeat clock now ('' for an
# activity: its clock starts when a worker takes the task). The hash goes with the execution
# (see retention.py).
# Answers 'closed' (the execution has ended), 'answered', 'sent' (invoked already) or 'waiting'.
_BEGIN = """
if redis.call('HGET', KEYS[2], 'status') ~= 'RUNNING' then return 'closed' end
local w = redis.call('HGET', KEYS[1], ARGV[1])
if w then
  if w ~= 'waiting' then return 'answered' end
  if redis.call('HEXISTS', KEYS[1], ARGV[1] .. ':sent') == 1 then return 'sent' end
  return 'waiting'
end
redis.call('HSET', KEYS[1], ARGV[1], 'waiting')
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5]) end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1] .. ':hb', ARGV[2])
  if ARGV[7] ~= '' then
    local due = tonumber(ARGV[3]) + 1000 * tonumber(ARGV[2])
    redis.call('HSET', KEYS[1], ARGV[1] .. ':due', due)
    redis.call('ZADD', KEYS[3], due, ARGV[6])
  end
end
return 'waiting'
"""

# Ends a wait and queues its reply (with who took it, for an activity taken), unless it has
# ended already. KEYS: waits, record, work
# stream, timers. ARGV: token, how it ended, reply JSON, execution ARN, timeout member,
# heartbeat member, work entry to acknowledge ('' none), group, now (ms) when a heartbeat
# timer fired ('' otherwise: a heartbeat since then makes it 'early', nothing ends).
# Answers 'missing' (no such wait), 'closed' (ended already, or the execution has), 'early', 'ok'.
_RESOLVE = """
local function ack() if ARGV[7] ~= '' then redis.call('XACK', KEYS[3], ARGV[8], ARGV[7]) end end
local w = redis.call('HGET', KEYS[1], ARGV[1])
if not w then ack() return 'missing' end
if w ~= 'waiting' or redis.call('HGET', KEYS[2], 'status') ~= 'RUNNING' then
  ack()
  return 'closed'
end
if ARGV[9] ~= '' then
  local due = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':due') or '0')
  if due > tonumber(ARGV[9]) then ack() return 'early' end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[5], ARGV[6])
local taken = redis.call('HGET', KEYS[1], ARGV[1] .. ':started')
if taken then
  redis.call('XADD', KEYS[3], '*', 'kind', 'reply', 'arn', ARGV[4], 'reply', ARGV[3],
             'taken_by', taken)
else
  redis.call('XADD', KEYS[3], '*', 'kind', 'reply', 'arn', ARGV[4], 'reply', ARGV[3])
end
ack()
return 'ok'
"""

# The parts of the heartbeat and take scripts. KEYS: waits, record, timers, ...
# ARGV: token, now (ms), heartbeat member, ...
_WAITING = """
local w = redis.call('HGET', KEYS[1], ARGV[1])
if not w then return 'missing' end
if w ~= 'waiting' or redis.call('HGET', KEYS[2], 'status') ~= 'RUNNING' then return 'closed' end
"""
_PUSH_HEARTBEAT = """
local hb = redis.call('HGET', KEYS[1], ARGV[1] .. ':hb')
if hb then
  local due = tonumber(ARGV[2]) + 1000 * tonumber(hb)
  redis.call('HSET', KEYS[1], ARGV[1] .. ':due', due)
  redis.call('ZADD', KEYS[3], due, ARGV[3])
end
"""

# Pushes a waiting task's heartbeat deadline on. Answers 'missing', 'closed' or 'ok'.
_HEARTBEAT = _WAITING + _PUSH_HEARTBEAT + "return 'ok'"

# An activity worker takes a waiting task (GetActivityTask): at most once per attempt, it
# starts the heartbeat clock and queues the TaskStarted reply that records ActivityStarted.
# KEYS: waits, record, timers, work stream. ARGV: token, now (ms), heartbeat member, worker
# name, reply JSON, execution ARN. Answers 'missing', 'closed', 'taken' (by another) or 'ok'.
_TAKE = _WAITING + """
if redis.call('HSETNX', KEYS[1], ARGV[1] .. ':started', ARGV[4]) == 0 then return 'taken' end
""" + _PUSH_HEARTBEAT + """
redis.call('XADD', KEYS[4], '*', 'kind', 'reply', 'arn', ARGV[6], 'reply', ARGV[5])
return 'ok'
"""


def wait_timer(arn: str, token: str, kind: str) -> bytes:
    """The timers member of a wait's ``timeout`` or ``heartbeat`` timer."""
    return orjson.dumps({"arn": arn, "token": token, "wait": kind})


def _now_ms() -> int:
    return int(time.time() * 1000)


async def resolve(redis: Redis, arn: str, reply: TaskResult, outcome: str, *,
                  entry_id: str = "", heartbeat_due_by: int | None = None) -> str:
    """End the wait of ``reply.token`` with ``reply`` (see _RESOLVE)."""
    p = store.partition_of(arn)
    script = redis.register_script(_RESOLVE)
    answer = await script(
        keys=[keys.workflow_waits(p, arn), keys.workflow_execution(p, arn),
              keys.workflow_work(p), keys.workflow_timers(p)],
        args=[reply.token, outcome, store.reply_to_json(reply), arn,
              wait_timer(arn, reply.token, "timeout"), wait_timer(arn, reply.token, "heartbeat"),
              entry_id, keys.WORKFLOW_GROUP,
              "" if heartbeat_due_by is None else heartbeat_due_by],
    )
    return store.text(answer)


async def heartbeat(redis: Redis, arn: str, token: str) -> str:
    """Restart the heartbeat clock of the wait of ``token`` (see _HEARTBEAT)."""
    p = store.partition_of(arn)
    script = redis.register_script(_HEARTBEAT)
    answer = await script(
        keys=[keys.workflow_waits(p, arn), keys.workflow_execution(p, arn),
              keys.workflow_timers(p)],
        args=[token, _now_ms(), wait_timer(arn, token, "heartbeat")],
    )
    return store.text(answer)


async def take(redis: Redis, arn: str, token: str, worker_name: str | None) -> str:
    """An activity worker takes the task of ``token`` (see _TAKE)."""
    p = store.partition_of(arn)
    reply = TaskStarted(token, datetime.now(UTC), worker_name)
    script = redis.register_script(_TAKE)
    answer = await script(
        keys=[keys.workflow_waits(p, arn), keys.workflow_execution(p, arn),
              keys.workflow_timers(p), keys.workflow_work(p)],
        args=[token, store.to_ms(reply.at), wait_timer(arn, token, "heartbeat"),
              worker_name or "", store.reply_to_json(reply), arn],
    )
    return store.text(answer)


class CallbackTasks:
    """A worker's handling of callback task entries and of their timers."""

    def __init__(self, redis: Redis, resolver: TaskResolver) -> None:
        self.redis = redis
        self.resolver = resolver
        # Told of each timer a wait sets, so the worker's timer mover wakes for it.
        self.timer_set: Callable[[int], None] = lambda _at_ms: None

    async def invoke(self, command: InvokeTask, arn: str, entry_id: str) -> str:
        """Register the wait, invoke or queue the task, acknowledge the entry."""
        p = store.partition_of(arn)
        now = _now_ms()
        timeout_due = None if command.timeout_seconds is None \
            else now + 1000 * command.timeout_seconds
        # An activity's heartbeat clock starts when a worker takes the task.
        heartbeat_due = None if command.heartbeat_seconds is None \
            or activity_name(command.resource) is not None \
            else now + 1000 * command.heartbeat_seconds
        script = self.redis.register_script(_BEGIN)
        state = store.text(await script(
            keys=[keys.workflow_waits(p, arn), keys.workflow_execution(p, arn),
                  keys.workflow_timers(p)],
            args=[command.token, command.heartbeat_seconds or "", now,
                  "" if timeout_due is None else timeout_due,
                  wait_timer(arn, command.token, "timeout"),
                  wait_timer(arn, command.token, "heartbeat"),
                  "" if heartbeat_due is None else "1"],
        ))
        if state == "waiting":
            for due in (timeout_due, heartbeat_due):
                if due is not None:
                    self.timer_set(due)
            failure = await self._send(command, arn)
            if failure is not None:
                return await resolve(self.redis, arn, failure, "failed", entry_id=entry_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if state == "waiting":
                pipe.hset(keys.workflow_waits(p, arn), f"{command.token}:sent", 1)
            pipe.xack(keys.workflow_work(p), keys.WORKFLOW_GROUP, entry_id)
            await pipe.execute()
        return state

    async def _send(self, command: InvokeTask, arn: str) -> TaskResult | None:
        """Queue an activity's task, or call the resource: its failure, if it failed (its
        output is not the task's: that comes with SendTaskSuccess)."""
        name = activity_name(command.resource)
        if name is not None:
            task = {"token": command.token, "input": jsontext.dumps(command.input)}
            await self.redis.rpush(keys.activity_queue(name), orjson.dumps(task))
            return None
        if command.resource not in self.resolver.tasks:
            command = dataclasses.replace(command,
                                          resource=command.resource.removesuffix(_WAIT_SUFFIX))
        result = await self.resolver.invoke(command, arn)
        return result if result.failed or result.timed_out else None

    async def expire(self, timer: dict[str, Any], entry_id: str) -> str:
        """A wait's timer fired: time the task out, unless answered (or, for a heartbeat,
        heartbeaten) since."""
        now = datetime.now(UTC)
        missed = timer["wait"] == "heartbeat"
        reply = TaskResult(timer["token"], now, timed_out=True,
                           error="States.HeartbeatTimeout" if missed else "States.Timeout")
        return await resolve(self.redis, timer["arn"], reply, timer["wait"], entry_id=entry_id,
                             heartbeat_due_by=store.to_ms(now) if missed else None)
