"""The AWS service integrations a Task state's ``Resource`` may name, for the worker's task
resolver: each is an async function of the task's effective input (its Parameters or
Arguments, parsed), the execution ARN, the task token and the worker's
:class:`~eventbus.workflows.task_services.TaskServices`, returning the task's result or raising
:class:`~eventbus.errors.TaskFailed` with AWS's error name and cause.

A ``.waitForTaskToken`` form makes the same call; the worker then waits for
``SendTaskSuccess``/``SendTaskFailure`` with the token instead of taking the result. Until the
worker waits, :func:`integration_for` does not answer for those forms (such a task fails with
``States.TaskFailed``, rather than going on without the answer it waits for);
:func:`base_resource` gives the resource whose function a waiting worker calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from eventbus.workflows import child_executions, map_run
from eventbus.workflows.events_task import PUT_EVENTS, put_events
from eventbus.workflows.http_task import HTTP_INVOKE, invoke_http
from eventbus.workflows.task_services import TaskServices

__all__ = ["WAIT_FOR_TASK_TOKEN", "Integration", "base_resource", "integration_for"]

Integration = Callable[[Any, str, str, TaskServices], Awaitable[Any]]
WAIT_FOR_TASK_TOKEN: Final = ".waitForTaskToken"

_INTEGRATIONS: Final[dict[str, Integration]] = {
    HTTP_INVOKE: invoke_http,
    PUT_EVENTS: put_events,
    **child_executions.INTEGRATIONS,
    map_run.MAP_RUN: map_run.start_run,
}


def integration_for(resource: str) -> Integration | None:
    """The function ``resource`` calls; None when it names no integration of ours."""
    return _INTEGRATIONS.get(resource)


def base_resource(resource: str) -> str:
    """``resource`` without its ``.waitForTaskToken`` suffix."""
    return resource.removesuffix(WAIT_FOR_TASK_TOKEN)
