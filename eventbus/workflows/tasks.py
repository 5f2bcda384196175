"""What a Task state's ``Resource`` calls, for the durable worker.

- ``arn:eventbus:states:::target:<type>``: any installed target type. The task's input (its
  Parameters or Arguments) holds the target's fields; its ``Payload`` field, if any, is what is
  sent (a string as it is, anything else as JSON text; without it, ``{}``). The target's
  outcome details (a dict, or ``{}``) are the task's result; a ``TargetError`` fails the task
  with its code as the error and its message as the cause.
- Any resource named in the worker's ``tasks`` mapping: a Python callable of the task input
  (a coroutine function is awaited, a plain one runs in a thread), as ``run_local`` calls it.
- The AWS integrations of :mod:`eventbus.workflows.integrations`
  (``arn:aws:states:::http:invoke``, ``arn:aws:states:::events:putEvents``), on the services
  in :attr:`TaskResolver.integrations` (the HTTP tasks' connections among them).

Every invocation is at least once: a worker that dies mid-call leaves the work entry pending,
and the worker that claims it calls again. The target's ``DeliveryContext.delivery_id``
(``<execution ARN>:<task token>``) is the same on every such call of one attempt; a retry
(``Retry``) of the state is a new attempt with a new token.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from eventbus.connections import ConnectionSpec
from eventbus.errors import StatesError
from eventbus.targets import load_target_class, load_target_config
from eventbus.targets.base import DeliveryContext, Target, TargetServices
from eventbus.workflows import jsontext
from eventbus.workflows.commands import InvokeTask, TaskResult
from eventbus.workflows.integrations import integration_for
from eventbus.workflows.local import TaskCallable, failure_of
from eventbus.workflows.task_services import TaskServices

__all__ = ["TARGET_PREFIX", "TaskResolver"]

TARGET_PREFIX = "arn:eventbus:states:::target:"

def _now() -> datetime:
    return datetime.now(UTC)


class TaskResolver:
    """Calls the resource of an InvokeTask; targets are built once per distinct settings."""

    def __init__(self, services: TargetServices,
                 tasks: Mapping[str, TaskCallable] | None = None, *,
                 connections: Mapping[str, ConnectionSpec] | None = None) -> None:
        self.services = services
        self.tasks = dict(tasks or {})
        self._targets: dict[tuple[str, bytes], Target] = {}
        # A rules reload hands new connections to integrations.set_connections.
        self.integrations = TaskServices(
            redis=services.redis, publish=services.publish, connections=connections,
            http=services.http, connection_limit=services.connections)

    async def invoke(self, command: InvokeTask, arn: str) -> TaskResult:
        try:
            call = self._call(command, arn)
            output = await (call if command.timeout_seconds is None
                            else asyncio.wait_for(call, command.timeout_seconds))
        except Exception as err:
            return failure_of(command.token, _now(), err)
        return TaskResult(command.token, _now(), output=jsontext.loads(jsontext.dumps(output)))

    async def _call(self, command: InvokeTask, arn: str) -> Any:
        fn = self.tasks.get(command.resource)
        if fn is not None:
            if inspect.iscoroutinefunction(fn):
                return await fn(command.input)
            return await asyncio.to_thread(fn, command.input)
        integration = integration_for(command.resource)
        if integration is not None:
            return await integration(command.input, arn, command.token, self.integrations)
        if command.resource.startswith(TARGET_PREFIX):
            return await self._send(command, arn)
        raise StatesError("States.TaskFailed",
                          f"No task is registered for the resource '{command.resource}'.")

    async def _send(self, command: InvokeTask, arn: str) -> Any:
        kind = command.resource[len(TARGET_PREFIX):]
        fields = dict(command.input) if isinstance(command.input, dict) else {}
        payload = fields.pop("Payload", {})
        text = payload if isinstance(payload, str) else jsontext.dumps(payload)
        target = self._target(kind, fields)
        ctx = DeliveryContext(
            delivery_id=f"{arn}:{command.token}", event_id=command.token, bus="default",
            rule=arn, rule_arn=arn, target_id=kind, attempt=1, event=fields,
            extra={"redis": self.services.redis},
        )
        details = await target.send(text, ctx)
        return details if details is not None else {}

    def _target(self, kind: str, fields: dict[str, Any]) -> Target:
        key = (kind, orjson.dumps(fields, option=orjson.OPT_SORT_KEYS))
        target = self._targets.get(key)
        if target is None:
            try:
                config = load_target_config(kind).model_validate(fields)
                target = load_target_class(kind)(config, self.services)
            except (KeyError, ValueError) as e:
                raise StatesError("States.TaskFailed",
                                  f"target:{kind}: the task's fields do not make a target: "
                                  f"{e}") from e
            self._targets[key] = target
        return target

    async def aclose(self) -> None:
        for target in self._targets.values():
            await target.aclose()
        self._targets.clear()
        await self.integrations.aclose()
