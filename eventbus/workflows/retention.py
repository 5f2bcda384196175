"""Retention of closed executions: what an execution leaves in Redis is removed a retention
period (90 days by default, as AWS keeps a closed Standard execution) after it closed.

The step script that closes an execution adds its ARN to its partition's closed index
(``keys.workflow_closed``, scored by the close time by Redis's clock), so a round reads only
the executions that have expired, oldest first, and never the ones still running. Each removal
is one script on the execution's slot: it checks the execution is still closed and expired,
then deletes its record, history, replies and waits and its entries in both indexes. The
definition texts stay: one per version and partition, shared by that version's executions.

Any number of workers sweep at once: a removal that another did first finds nothing to do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from eventbus import keys
from eventbus.loops.base import Loop
from eventbus.settings import get_settings
from eventbus.workflows.store import text

__all__ = [
    "DAY",
    "RetentionSweeper",
    "default_retention",
    "execution_keys",
    "remove_expired",
    "sweep_interval",
]

DAY = 86_400.0
# Executions removed per partition and round trip; a partition with more goes on at once.
BATCH = 200

# Removes one closed execution once expired. KEYS: the closed index, the start index, the
# record, then every other key of the execution. ARGV: ARN, cutoff (ms): closed at or before
# it is expired. Answers 1 when removed, else 0. An execution running again (redriven since it
# closed) only leaves the closed index: its next close adds it again.
_REMOVE = """
local closed = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not closed or tonumber(closed) > tonumber(ARGV[2]) then return 0 end
local status = redis.call('HGET', KEYS[3], 'status')
if status == 'RUNNING' or status == 'PENDING_REDRIVE' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('DEL', unpack(KEYS, 3))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


def default_retention() -> float:
    """The retention period (s) of EVENTBUS_WORKFLOW_RETENTION_DAYS."""
    return get_settings().workflow_retention_days * DAY


def execution_keys(partition: int, arn: str) -> list[str]:
    """Every key of one execution that retention deletes, its record first."""
    return [keys.workflow_execution(partition, arn), keys.workflow_history(partition, arn),
            keys.workflow_replies(partition, arn), keys.workflow_waits(partition, arn)]


async def remove_expired(redis: Redis, retention: float, *, batch: int = BATCH) -> int:
    """Remove the executions of every partition closed more than ``retention`` seconds ago,
    by Redis's clock (the one that dated their close); how many went."""
    seconds, micros = await redis.time()
    cutoff = int(seconds) * 1000 + int(micros) // 1000 - int(retention * 1000)
    script = redis.register_script(_REMOVE)
    removed = 0
    partitions = list(range(keys.WORKFLOW_PARTITIONS))
    while partitions:
        async with redis.pipeline(transaction=False) as pipe:
            for p in partitions:
                pipe.zrangebyscore(keys.workflow_closed(p), "-inf", cutoff, start=0, num=batch)
            expired: list[list[Any]] = await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for p, arns in zip(partitions, expired, strict=True):
                for raw in arns:
                    arn = text(raw)
                    await script(keys=[keys.workflow_closed(p), keys.workflow_index(p),
                                       *execution_keys(p, arn)],
                                 args=[arn, cutoff], client=pipe)
            answers = await pipe.execute()
        removed += sum(int(a) for a in answers)
        partitions = [p for p, arns in zip(partitions, expired, strict=True)
                      if len(arns) == batch]
        await asyncio.sleep(0)  # a long backlog does not hold the worker's other tasks
    return removed


class RetentionSweeper(Loop):
    """Removes expired executions every ``every`` seconds."""

    name = "workflow retention"
    waits_first = True

    def __init__(self, stop: asyncio.Event, redis: Redis, *, retention: float, every: float,
                 pause: float) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.redis, self.retention = redis, retention

    async def step(self) -> None:
        await remove_expired(self.redis, self.retention)


def sweep_interval(retention: float) -> float:
    """How often to sweep: a tenth of the period, between 50 ms and a minute, so an execution
    outlives its period by little whatever the period."""
    return min(max(retention / 10, 0.05), 60.0)

