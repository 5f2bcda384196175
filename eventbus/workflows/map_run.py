"""Map Runs: a durable DISTRIBUTED Map's iterations as child executions.

In a durable execution a DISTRIBUTED Map does not run its iterations itself: it issues one
task, :data:`MAP_RUN`, whose input holds the item processor (as a state machine definition),
the iterations' inputs, MaxConcurrency and the tolerated failures, and waits for its result
(the iterations' outputs in item order) as a callback task waits. The worker that takes the
task stores the Map Run on the parent's partition (one slot):

- ``eb:{wf:pN}:mr:<run>`` (hash): the parent, the processor, counts (total, next to start,
  done, failed), the tolerance and the status;
- ``eb:{wf:pN}:mri:<run>`` (list): the iterations' inputs, in order;
- ``eb:{wf:pN}:mrr:<run>`` (hash): index → the iteration's output (``null`` for a failure).

Each child is started by a ``mapchild`` work entry on the parent's partition, queued by the
script that decides it may start (at most MaxConcurrency are out at once): the worker holding
the entry starts the child (named after the run and the index, so a repeat finds it) and
acknowledges. A child's close reaches :func:`child_closed` (through the ``closed`` entry of
:mod:`eventbus.workflows.child_completions`), which records its outcome once, queues the next
child, and says when the run has ended: then the parent's wait is ended with the outputs, or
with ``States.ExceedToleratedFailureThreshold``. Only the children out at a time are live in
the workers, and their histories are their own, so a run of 10,000 items holds 10,000 small
inputs and outputs in Redis and no more than MaxConcurrency executions in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from redis.asyncio import Redis

from eventbus import keys
from eventbus.errors import TaskFailed
from eventbus.workflows import jsontext, store
from eventbus.workflows.arns import execution_arn
from eventbus.workflows.child_executions import child_name, parent_link, start_child
from eventbus.workflows.map_state import MAP_RUN
from eventbus.workflows.task_services import TaskServices

__all__ = ["MAP_RUN", "MAX_CHILDREN", "child_closed", "finish", "forget", "start_next",
           "start_run"]

# AWS's bound on a Map Run's concurrent child executions (MaxConcurrency 0 means this).
MAX_CHILDREN: Final = 10_000
# Results read per round trip when a run ends.
_READ_BATCH: Final = 1000

# Stores a Map Run unless it is stored already, and queues its first children.
# KEYS: run, items, work. ARGV: parent ARN, run id, machine, definition, total, limit,
# tolerated count ('' none), tolerated percentage ('' none), then the items.
_START_RUN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'arn', ARGV[1], 'run', ARGV[2], 'machine', ARGV[3],
           'definition', ARGV[4], 'total', ARGV[5], 'limit', ARGV[6], 'count', ARGV[7],
           'pct', ARGV[8], 'status', 'RUNNING', 'done', 0, 'failed', 0)
for i = 9, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
local first = math.min(tonumber(ARGV[5]), tonumber(ARGV[6]))
for i = 0, first - 1 do
  redis.call('XADD', KEYS[3], '*', 'kind', 'mapchild', 'arn', ARGV[1], 'run', ARGV[2],
             'index', i)
end
redis.call('HSET', KEYS[1], 'next', first)
return 1
"""

# Records a child's outcome once, queues the next child, and settles the run: ABORTED once the
# parent has ended (stopped, timed out, failed elsewhere), as AWS aborts its Map Runs.
# KEYS: run, results, work, the parent's record. ARGV: index, '1' if the child succeeded, its
# output. Answers the run's status ('missing' once the run is gone).
_CHILD_DONE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'RUNNING' and redis.call('HGET', KEYS[4], 'status') ~= 'RUNNING' then
  redis.call('HSET', KEYS[1], 'status', 'ABORTED')
  return 'ABORTED'
end
if status ~= 'RUNNING' or redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then
  return status
end
local run = redis.call('HMGET', KEYS[1], 'total', 'next', 'count', 'pct', 'arn', 'run')
local total = tonumber(run[1])
local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
local failed = tonumber(redis.call('HGET', KEYS[1], 'failed'))
if ARGV[2] ~= '1' then failed = redis.call('HINCRBY', KEYS[1], 'failed', 1) end
local tolerated = failed == 0 or (run[3] ~= '' and failed <= tonumber(run[3]))
  or (run[4] ~= '' and failed * 100 / total <= tonumber(run[4]))
if not tolerated then
  status = 'FAILED'
elseif done == total then
  status = 'SUCCEEDED'
elseif tonumber(run[2]) < total then
  redis.call('XADD', KEYS[3], '*', 'kind', 'mapchild', 'arn', run[5], 'run', run[6],
             'index', run[2])
  redis.call('HSET', KEYS[1], 'next', tonumber(run[2]) + 1)
end
redis.call('HSET', KEYS[1], 'status', status)
return status
"""


def _run_keys(parent_arn: str, run: str) -> list[str]:
    tag = keys.workflow_tag(store.partition_of(parent_arn))
    return [f"eb:{tag}:mr:{run}", f"eb:{tag}:mri:{run}", f"eb:{tag}:mrr:{run}"]


def _optional(value: Any) -> str:
    return "" if value is None else str(value)


async def start_run(task_input: Any, arn: str, token: str, services: TaskServices) -> Any:
    """The MAP_RUN task: store the run and queue its first children (once per token)."""
    run_key, items_key, _ = _run_keys(arn, token)
    items = [jsontext.dumps(item) for item in task_input["Items"]]
    limit = int(task_input.get("MaxConcurrency") or MAX_CHILDREN)
    script = services.redis.register_script(_START_RUN)
    await script(
        keys=[run_key, items_key, keys.workflow_work(store.partition_of(arn))],
        args=[arn, token, task_input["Machine"], task_input["Definition"], len(items),
              min(limit, MAX_CHILDREN), _optional(task_input.get("ToleratedFailureCount")),
              _optional(task_input.get("ToleratedFailurePercentage")), *items],
    )
    return {}


async def start_next(services: TaskServices, fields: Mapping[str, str]) -> str:
    """A ``mapchild`` work entry: start child ``index`` of the run. A child that cannot start
    counts as failed: then the run's status is answered, as :func:`child_closed` does."""
    parent, run, index = fields["arn"], fields["run"], int(fields["index"])
    run_key, items_key, _ = _run_keys(parent, run)
    redis: Redis = services.redis
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(run_key, "machine", "definition")
        pipe.lindex(items_key, index)
        (machine, definition), item = await pipe.execute()
    if machine is None or item is None:
        return "missing"
    link = parent_link(parent, run, "map", index=index)
    try:
        await start_child(services, store.text(machine), store.text(definition),
                          store.text(item), child_name(run, str(index)), link)
    except TaskFailed:
        return await child_closed(redis, parent, run, index, None)
    return "started"


async def child_closed(redis: Redis, parent: str, run: str, index: int,
                       output: str | None) -> str:
    """Record child ``index``'s end (``output`` None: it did not succeed); the run's status."""
    run_key, _, results_key = _run_keys(parent, run)
    script = redis.register_script(_CHILD_DONE)
    answer = await script(
        keys=[run_key, results_key, keys.workflow_work(store.partition_of(parent)),
              keys.workflow_execution(store.partition_of(parent), parent)],
        args=[index, "1" if output is not None else "0", output if output is not None else "null"],
    )
    return store.text(answer)


async def finish(redis: Redis, parent: str, run: str) -> tuple[list[Any] | None, list[str]]:
    """An ended run's outputs in item order (None unless it succeeded) and the children it
    left running (to stop)."""
    run_key, _, results_key = _run_keys(parent, run)
    fields = await redis.hmget(run_key, "status", "total", "next", "machine")
    if fields[0] is None:
        return None, []
    status, total, started, machine = (store.text(f) for f in fields)
    outputs: list[Any] = []
    for first in range(0, int(total), _READ_BATCH):
        indexes = range(first, min(first + _READ_BATCH, int(total)))
        outputs += await redis.hmget(results_key, [str(i) for i in indexes])
    unfinished = [i for i in range(int(started)) if outputs[i] is None]
    running = [execution_arn(machine, child_name(run, str(i)))
               for i in unfinished]
    if status != "SUCCEEDED":
        return None, running
    return jsontext.loads("[" + ",".join(store.text(o) for o in outputs) + "]"), running


async def forget(redis: Redis, parent: str, run: str) -> None:
    """Delete an ended run (its result has reached the parent)."""
    await redis.delete(*_run_keys(parent, run))
