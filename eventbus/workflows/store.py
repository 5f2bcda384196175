"""Durable executions on Redis: the key layout, the scripts that change an execution, and the
JSON form of what is stored.

An execution lives in partition ``crc32(arn) % WORKFLOW_PARTITIONS``; its record, history and
replies, and its partition's work stream, timers and outbox share the tag ``{wf:p<N>}`` (see
:mod:`eventbus.keys`), so every script below touches one hash slot.

The stored truth of an execution is its definition, its record (input, start time, seed) and
the replies fed to its step function, in order: replaying them through ``step.replay`` gives
the same execution again. The history is stored too, for readers, and its length is the
version a step is checked against.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from eventbus import keys
from eventbus.workflows.commands import (
    EXECUTION_TIMEOUT_TOKEN,
    Command,
    ExecutionTimeout,
    InvokeTask,
    Redrive,
    Reply,
    StartTimer,
    StopExecution,
    TaskResult,
    TaskStarted,
    TimerFired,
)
from eventbus.workflows.step import Step

__all__ = [
    "Stored",
    "ack",
    "apply_step",
    "definition_version",
    "from_ms",
    "load",
    "move_due_timers",
    "partition_of",
    "reply_from_json",
    "reply_to_json",
    "start_record",
    "status_of",
    "task_from_json",
    "text",
    "timer_member",
    "to_ms",
    "trim_work",
]

# Applies one step of one execution, only if the execution is where the worker read it.
# KEYS: record, history, replies, work stream, timers, outbox, closed index.
# ARGV: expected history length, expected reply count, group, status, output, error, cause,
#       stop date, then counted lists: work entry ids, replies JSON (the start has none), events,
#       task commands, timers as (score, member) pairs, status-change events.
# One step may apply several replies in order (the replies of one execution that arrived
# together), each answering one of the work entries; entries past the replies are those the
# step found closed. All are acknowledged in the script.
# A child execution (its record names a parent) that closes queues a 'closed' work entry: the
# worker handling it tells the parent (see child_completions).
# Answers 'ok', 'stale' (the history moved on: reload and try again), 'duplicate' (the only
# work entry was already applied) or 'duplicate:<i>' (of several, the i-th was: nothing is
# acknowledged), 'closed' or 'missing' (nothing to do; the entries are acknowledged).
_APPLY_STEP = """
local entries = tonumber(ARGV[9])
local last = 9 + entries
local state = redis.call('HMGET', KEYS[1], 'status', 'events', 'replies')
if not state[1] or state[1] ~= 'RUNNING' then
  if entries > 0 then redis.call('XACK', KEYS[4], ARGV[3], unpack(ARGV, 10, last)) end
  return state[1] and 'closed' or 'missing'
end
if state[2] ~= ARGV[1] or state[3] ~= ARGV[2] then return 'stale' end
if entries == 1 then
  if redis.call('XACK', KEYS[4], ARGV[3], ARGV[10]) == 0 then return 'duplicate' end
elseif entries > 1 then
  -- Checked before any is acknowledged: a refused step leaves them all pending.
  for j = 1, entries do
    local id = ARGV[9 + j]
    if #redis.call('XPENDING', KEYS[4], ARGV[3], id, id, 1) == 0 then
      return 'duplicate:' .. j
    end
  end
  redis.call('XACK', KEYS[4], ARGV[3], unpack(ARGV, 10, last))
end
local i = last + 1
local n = tonumber(ARGV[i])
for j = 1, n do redis.call('RPUSH', KEYS[3], ARGV[i + j]) end
local replies = tonumber(ARGV[2]) + n
i = i + n + 1
n = tonumber(ARGV[i])
for j = 1, n do redis.call('RPUSH', KEYS[2], ARGV[i + j]) end
local events = tonumber(ARGV[1]) + n
i = i + n + 1
redis.call('HSET', KEYS[1], 'events', events, 'replies', replies, 'status', ARGV[4])
if ARGV[4] ~= 'RUNNING' then
  redis.call('HSET', KEYS[1], 'output', ARGV[5], 'error', ARGV[6], 'cause', ARGV[7],
             'stop', ARGV[8])
  -- Retention counts from the close, by Redis's clock: one clock for every worker.
  local now = redis.call('TIME')
  redis.call('ZADD', KEYS[7], now[1] .. string.format('%03d', math.floor(now[2] / 1000)),
             redis.call('HGET', KEYS[1], 'arn'))
  if redis.call('HEXISTS', KEYS[1], 'parent') == 1 then
    redis.call('XADD', KEYS[4], '*', 'kind', 'closed', 'arn', redis.call('HGET', KEYS[1], 'arn'))
  end
end
n = tonumber(ARGV[i])
local arn = redis.call('HGET', KEYS[1], 'arn')
for j = 1, n do
  redis.call('XADD', KEYS[4], '*', 'kind', 'task', 'arn', arn, 'task', ARGV[i + j])
end
i = i + n + 1
n = tonumber(ARGV[i])
for j = 1, n do
  redis.call('ZADD', KEYS[5], ARGV[i + 2 * j - 1], ARGV[i + 2 * j])
end
i = i + 2 * n + 1
n = tonumber(ARGV[i])
for j = 1, n do redis.call('XADD', KEYS[6], '*', 'event', ARGV[i + j]) end
return 'ok'
"""

# Starts an execution unless one of that ARN exists.
# KEYS: record, index, definition, work stream.
# ARGV: input, start ms, definition text, the record as JSON (carried by the start entry, so
#       that the worker need not read it back), then the record's fields and values.
# Answers {'new'|'running'|'exists', stored input, stored start date}.
_START = """
local old = redis.call('HMGET', KEYS[1], 'status', 'input', 'start')
if old[1] then
  local same = old[1] == 'RUNNING' and old[2] == ARGV[1]
  return {same and 'running' or 'exists', old[2], old[3]}
end
redis.call('SET', KEYS[3], ARGV[3], 'NX')
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
local arn = redis.call('HGET', KEYS[1], 'arn')
redis.call('ZADD', KEYS[2], ARGV[2], arn)
redis.call('XADD', KEYS[4], '*', 'kind', 'start', 'arn', arn, 'record', ARGV[4])
return {'new', ARGV[1], redis.call('HGET', KEYS[1], 'start')}
"""

# Reads an execution's record and replies, as they stand together.
# KEYS: record, replies. Answers {record as a flat field/value list, replies}.
_LOAD = """
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
"""

# Moves a partition's due timers to its work stream, each exactly once.
# KEYS: timers, work stream. ARGV: now (ms), most to move. Answers how many moved and when the
# first timer left is due (ms; -1 when none is).
_MOVE_TIMERS = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'kind', 'timer', 'timer', member)
  redis.call('ZREM', KEYS[1], member)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, first[2] or '-1'}
"""


# Trims a work stream of what every worker is done with: the entries before the oldest one
# pending, or (none pending) before the last one delivered to the group.
# KEYS: work stream. ARGV: group. Answers how many entries went.
_TRIM_WORK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local keep = summary[2]
if not keep then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    for j = 1, #group, 2 do
      if group[j] == 'name' and group[j + 1] ~= ARGV[1] then break end
      if group[j] == 'last-delivered-id' then keep = group[j + 1] end
    end
  end
end
if not keep then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', keep)
"""


class _Lua:
    """A script run by EVALSHA (loaded on first refusal): one command, so that concurrent
    callers on an auto-pipelining client share round trips, without the per-call SHA-1 and
    bookkeeping of ``register_script``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)


_apply_step, _start, _load = _Lua(_APPLY_STEP), _Lua(_START), _Lua(_LOAD)


@lru_cache(maxsize=8)
def _guarded(guard: str) -> _Lua:
    """The step script with ``guard`` run first (a redrive's): one script per guard text."""
    return _Lua(guard + _APPLY_STEP)


def partition_of(arn: str) -> int:
    return zlib.crc32(arn.encode()) % keys.WORKFLOW_PARTITIONS


def definition_version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _us(moment: datetime) -> int:
    # Replies keep microseconds: a replayed clock must be the clock that was.
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def reply_to_json(reply: Reply) -> bytes:
    data: dict[str, Any] = {"at": _us(reply.at)}
    if isinstance(reply, TaskResult):
        data.update(kind="task", token=reply.token, output=reply.output, error=reply.error,
                    cause=reply.cause, failed=reply.failed, timed_out=reply.timed_out)
        if reply.taken_by is not None:
            data["taken_by"] = reply.taken_by
    elif isinstance(reply, TaskStarted):
        data.update(kind="started", token=reply.token, worker=reply.worker_name)
    elif isinstance(reply, TimerFired):
        data.update(kind="timer", token=reply.token)
    elif isinstance(reply, ExecutionTimeout):
        data.update(kind="timeout")
        if reply.token != EXECUTION_TIMEOUT_TOKEN:  # the first run's is left out, as before
            data.update(token=reply.token)
    elif isinstance(reply, Redrive):
        data.update(kind="redrive", count=reply.count)
    else:
        data.update(kind="stop", error=reply.error, cause=reply.cause)
    return orjson.dumps(data)


def reply_from_json(text: bytes | str) -> Reply:
    data = orjson.loads(text)
    at = _from_us(data["at"])
    kind = data["kind"]
    if kind == "task":
        return TaskResult(data["token"], at, output=data["output"], error=data["error"],
                          cause=data["cause"], failed=data["failed"],
                          timed_out=data["timed_out"], taken_by=data.get("taken_by"))
    if kind == "started":
        return TaskStarted(data["token"], at, data["worker"])
    if kind == "timer":
        return TimerFired(data["token"], at)
    if kind == "timeout":
        return ExecutionTimeout(at, data.get("token", EXECUTION_TIMEOUT_TOKEN))
    if kind == "redrive":
        return Redrive(at, data["count"])
    return StopExecution(at, data["error"], data["cause"])


def text(value: Any) -> str:
    """A Redis reply as text, whether the client decodes replies or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Stored:
    """An execution as read from Redis: its record, its definition and its replies."""

    record: dict[str, str]
    definition: str
    replies: list[Reply]

    @property
    def events(self) -> int:
        return int(self.record["events"])

    @property
    def status(self) -> str:
        return self.record["status"]


async def load(redis: Redis, arn: str, known: Container[str] = ()) -> Stored | None:
    """The stored execution ``arn``, or None when there is none. One script reads record and
    replies, so they agree with each other; the definition is read unless its version is
    ``known`` to the caller (then it is left empty)."""
    p = partition_of(arn)
    raw, replies = await _load(
        redis, [keys.workflow_execution(p, arn), keys.workflow_replies(p, arn)], [])
    if not raw:
        return None
    record = {text(raw[i]): text(raw[i + 1]) for i in range(0, len(raw), 2)}
    if record["version"] in known:
        return Stored(record, "", [reply_from_json(r) for r in replies])
    definition = await redis.get(keys.workflow_definition(p, record["version"]))
    if definition is None:
        raise LookupError(f"the definition {record['version']} of {arn} is missing from Redis")
    return Stored(record, text(definition), [reply_from_json(r) for r in replies])


async def start_record(
    redis: Redis, arn: str, record: dict[str, str], definition: str
) -> tuple[str, str]:
    """Store a new execution and queue its start, unless ``arn`` exists: ('new' | 'running' |
    'exists', the start date of the execution of that ARN)."""
    p = partition_of(arn)
    fields = [x for item in record.items() for x in item]
    answer = await _start(
        redis,
        [keys.workflow_execution(p, arn), keys.workflow_index(p),
         keys.workflow_definition(p, record["version"]), keys.workflow_work(p)],
        [record["input"], record["start_ms"], definition, orjson.dumps(record), *fields],
    )
    return text(answer[0]), text(answer[2])


def _task_json(command: InvokeTask) -> bytes:
    return orjson.dumps({"token": command.token, "resource": command.resource,
                         "input": command.input, "timeout": command.timeout_seconds,
                         "heartbeat": command.heartbeat_seconds})


def task_from_json(text: bytes | str) -> InvokeTask:
    data = orjson.loads(text)
    return InvokeTask(data["token"], data["resource"], data["input"], data["timeout"],
                      data["heartbeat"])


def timer_member(arn: str, token: str) -> bytes:
    return orjson.dumps({"arn": arn, "token": token})


async def apply_step(
    redis: Redis,
    arn: str,
    *,
    expected: tuple[int, int],
    entries: Sequence[str] = (),
    group: str = "",
    replies: Sequence[Reply] = (),
    step: Step,
    commands: list[Command],
    stop_date: str = "",
    status_events: Sequence[bytes] = (),
    guard: str = "",
    guard_args: Sequence[str] = (),
) -> str:
    """Store one step of ``arn`` (see _APPLY_STEP): ``expected`` is the (history length, reply
    count) the step was computed from, ``replies`` what it applied in order, ``entries`` the
    ids of the work entries of ``group`` it answers, acknowledged in the same script. ``guard``
    is Lua run first in the same script, reading ``guard_args`` from the end of ARGV (a
    redrive reopens the execution there)."""
    p = partition_of(arn)
    tasks = [_task_json(c) for c in commands if isinstance(c, InvokeTask)]
    timers: list[Any] = []
    for c in commands:
        if isinstance(c, StartTimer):
            timers += [to_ms(c.fire_at), timer_member(arn, c.token)]
    events = [orjson.dumps(e) for e in step.events]
    args: list[Any] = [
        expected[0], expected[1], group, step.status, step.output or "", step.error or "",
        step.cause or "", stop_date, len(entries), *entries,
        len(replies), *(reply_to_json(r) for r in replies), len(events), *events,
        len(tasks), *tasks, len(timers) // 2, *timers, len(status_events), *status_events,
        *guard_args,
    ]
    script = _guarded(guard) if guard else _apply_step
    answer = await script(
        redis,
        [keys.workflow_execution(p, arn), keys.workflow_history(p, arn),
         keys.workflow_replies(p, arn), keys.workflow_work(p), keys.workflow_timers(p),
         keys.workflow_outbox(p), keys.workflow_closed(p)],
        args,
    )
    return text(answer)


async def move_due_timers(redis: Redis, now_ms: int, limit: int = 500) -> tuple[int, int | None]:
    """Move every partition's timers due by ``now_ms`` to its work stream: one script per
    partition (one slot each), all in one round trip. Answers how many moved and when the
    first timer left is due (ms), if any."""
    script = redis.register_script(_MOVE_TIMERS)
    async with redis.pipeline(transaction=False) as pipe:
        for p in range(keys.WORKFLOW_PARTITIONS):
            await script(keys=[keys.workflow_timers(p), keys.workflow_work(p)],
                         args=[now_ms, limit], client=pipe)
        answers = await pipe.execute()
    moved = sum(int(m) for m, _ in answers)
    due = [int(float(d)) for _, d in answers if int(float(d)) >= 0]
    return moved, min(due) if due else None


async def trim_work(redis: Redis, group: str) -> int:
    """Trim every partition's work stream of the entries the group is done with (one script
    per partition, in one round trip); how many went."""
    script = redis.register_script(_TRIM_WORK)
    async with redis.pipeline(transaction=False) as pipe:
        for p in range(keys.WORKFLOW_PARTITIONS):
            await script(keys=[keys.workflow_work(p)], args=[group], client=pipe)
        trimmed = await pipe.execute()
    return sum(int(t) for t in trimmed)


async def status_of(redis: Redis, arn: str) -> str | None:
    status = await redis.hget(keys.workflow_execution(partition_of(arn), arn), "status")
    return None if status is None else text(status)


async def ack(redis: Redis, arn: str, entry_id: str, group: str) -> None:
    """Acknowledge a work entry of ``arn``'s partition that needs no step."""
    await redis.xack(keys.workflow_work(partition_of(arn)), group, entry_id)
