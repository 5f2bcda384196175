"""The work entries of child executions: a child that closed (``closed``) and a Map Run's next
child to start (``mapchild``).

The step that closes a child (its record names a parent) queues a ``closed`` work entry on the
child's partition. The worker handling it reads the child's record and, on the parent's
partition, ends the parent's wait (a ``startExecution.sync`` task: the child's description, or
``States.TaskFailed``) or records the child's outcome in its Map Run (a DISTRIBUTED Map's
iteration; once the run has ended, the wait is ended with its result). Then it acknowledges
the entry. A worker that dies in between leaves the entry pending; the one that claims it does
the same again, and the waits hash and the run's results (each written once) make the repeat
change nothing: delivered exactly once, at least once across crashes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.workflows import jsontext, map_run, store
from eventbus.workflows.callbacks import resolve
from eventbus.workflows.child_executions import child_output, waits_for_child
from eventbus.workflows.commands import TaskResult
from eventbus.workflows.map_state import THRESHOLD_EXCEEDED
from eventbus.workflows.task_services import TaskServices
from eventbus.workflows.task_token import is_callback

__all__ = ["deliver", "start_map_child", "waits"]

_RUN_ENDED = ("SUCCEEDED", "FAILED", "ABORTED")


def waits(resource: str) -> bool:
    """Does a task with this resource wait (in the waits hash) for an answer from outside?"""
    return is_callback(resource) or waits_for_child(resource) or resource == map_run.MAP_RUN


async def deliver(redis: Redis, child: str, entry_id: str) -> str:
    """Handle the ``closed`` entry of ``child``: tell its parent, then acknowledge."""
    raw = await redis.hgetall(keys.workflow_execution(store.partition_of(child), child))
    record = {store.text(k): store.text(v) for k, v in raw.items()}
    answer = "missing"
    if "parent" in record:
        link = orjson.loads(record["parent"])
        if link["mode"] == "map":
            output = record.get("output") if record["status"] == "SUCCEEDED" else None
            answer = await map_run.child_closed(redis, link["arn"], link["token"],
                                                link["index"], output)
            if answer in _RUN_ENDED:
                await _end_run(redis, link["arn"], link["token"], answer)
        elif link["mode"]:
            answer = await _answer_parent(redis, link, record)
        else:  # started without waiting: nobody to tell
            answer = "unwaited"
    await store.ack(redis, child, entry_id, keys.WORKFLOW_GROUP)
    return answer


async def start_map_child(services: TaskServices, fields: dict[str, str],
                          entry_id: str) -> str:
    """Handle a ``mapchild`` entry: start the Map Run's child, then acknowledge. (A child that
    cannot start fails at once, and may end the run.)"""
    answer = await map_run.start_next(services, fields)
    if answer in _RUN_ENDED:
        await _end_run(services.redis, fields["arn"], fields["run"], answer)
    await store.ack(services.redis, fields["arn"], entry_id, keys.WORKFLOW_GROUP)
    return answer


async def _answer_parent(redis: Redis, link: dict[str, str], record: dict[str, str]) -> str:
    description = child_output(record, link["mode"])
    now = datetime.now(UTC)
    if record["status"] == "SUCCEEDED":
        reply = TaskResult(link["token"], now, output=description)
        return await resolve(redis, link["arn"], reply, "succeeded")
    # AWS fails a .sync task whose child did not succeed with the child's description.
    reply = TaskResult(link["token"], now, error="States.TaskFailed",
                       cause=jsontext.dumps(description), failed=True)
    return await resolve(redis, link["arn"], reply, "failed")


async def _end_run(redis: Redis, parent: str, run: str, status: str) -> None:
    """End the parent's wait with the run's result (unless the parent has ended), stop the
    children it left running, forget the run."""
    outputs, running = await map_run.finish(redis, parent, run)
    now = datetime.now(UTC)
    if outputs is not None:
        await resolve(redis, parent, TaskResult(run, now, output=outputs), "succeeded")
    elif status == "FAILED":
        error, cause = THRESHOLD_EXCEEDED
        await resolve(redis, parent, TaskResult(run, now, error=error, cause=cause,
                                                failed=True), "failed")
    for arn in running:  # a failed or aborted Map Run stops its children, as AWS does
        stop = {"kind": "stop", "arn": arn, "at": str(store.to_ms(now))}
        await redis.xadd(keys.workflow_work(store.partition_of(arn)), stop)  # type: ignore[arg-type]
    await map_run.forget(redis, parent, run)
