"""The Step Functions API of callback tasks in Python: GetActivityTask, SendTaskSuccess,
SendTaskFailure and SendTaskHeartbeat, with AWS's request and answer shapes and errors.

An activity exists as soon as a state machine or a worker names it (CreateActivity is not
needed): its tasks wait in the list ``keys.activity_queue(NAME)``, and a task taken by a
worker that dies is not handed to another: it times out by its HeartbeatSeconds (or
TimeoutSeconds), and the state's Retry applies, as with AWS.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.errors import (
    InvalidOutput,
    RequestRejected,
    TaskDoesNotExist,
    TaskTimedOut,
)
from eventbus.workflows import jsontext
from eventbus.workflows.callbacks import heartbeat, resolve, take
from eventbus.workflows.commands import TaskResult
from eventbus.workflows.task_token import activity_name, decode_token

__all__ = ["POLL_SECONDS", "Activities"]

#: How long GetActivityTask waits for a task, as AWS.
POLL_SECONDS = 60.0
# A poll is BLPOPs of at most this long: well within any client's socket timeout (redis-py's
# default is 5 s), at one round trip a second per waiting worker.
_SLICE_SECONDS = 1.0


def _refused(answer: str) -> None:
    if answer == "missing":
        raise TaskDoesNotExist("Task Does Not Exist: no waiting task has this token")
    if answer == "closed":
        raise TaskTimedOut("Task Timed Out: the task has timed out, been answered already, "
                           "or its execution has ended")


class Activities:
    """Callback tasks of the durable executions stored in ``redis``."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def get_activity_task(self, activity_arn: str, worker_name: str | None = None,
                                timeout: float = POLL_SECONDS) -> dict[str, Any]:
        """The next task of the activity, ``{taskToken, input}``, or ``{}`` when none came
        within ``timeout`` seconds. The task's heartbeat clock starts as the worker takes it,
        and its ``ActivityStarted`` (with ``workerName``) is recorded."""
        name = activity_name(activity_arn)
        if name is None:
            raise RequestRejected(f"Invalid Arn: '{activity_arn}' is not an activity ARN",
                                  code="InvalidArn")
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            popped = await self.redis.blpop([keys.activity_queue(name)],
                                            timeout=min(left, _SLICE_SECONDS))
            if popped is None:
                continue
            task = orjson.loads(popped[1])
            arn, _ = decode_token(task["token"])
            # A task whose wait has ended while it was queued, or that another worker took (it
            # was queued twice by a repeated invocation), is dropped, not handed out.
            if await take(self.redis, arn, task["token"], worker_name) == "ok":
                return {"taskToken": task["token"], "input": task["input"]}
        return {}

    async def send_task_success(self, task_token: str, output: str) -> dict[str, Any]:
        try:
            value = jsontext.loads(output)
        except ValueError as err:
            raise InvalidOutput(f"Invalid Output: the output is not JSON text: {err}") from err
        await self._answer(task_token, TaskResult(task_token, datetime.now(UTC), output=value),
                           "succeeded")
        return {}

    async def send_task_failure(self, task_token: str, error: str | None = None,
                                cause: str | None = None) -> dict[str, Any]:
        reply = TaskResult(task_token, datetime.now(UTC), error=error, cause=cause, failed=True)
        await self._answer(task_token, reply, "failed")
        return {}

    async def send_task_heartbeat(self, task_token: str) -> dict[str, Any]:
        arn, _ = decode_token(task_token)
        _refused(await heartbeat(self.redis, arn, task_token))
        return {}

    async def _answer(self, token: str, reply: TaskResult, outcome: str) -> None:
        arn, _ = decode_token(token)
        _refused(await resolve(self.redis, arn, reply, outcome))

