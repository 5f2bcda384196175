"""The AWS service integrations a Task state's ``Resource`` may name, for the worker's task
resolver: each is an async function of the task's effective input (its Parameters or
Arguments, parsed), the execution ARN, the task token and the worker's
:class:`~eventbus.workflows.task_services.TaskServices`, returning the task's result or raising
:class:`~eventbus.errors.TaskFailed` with AWS's error name and cause.

``.waitForTaskToken`` forms map to the same function: the call is the same, and the worker
then waits for ``SendTaskSuccess``/``SendTaskFailure`` with the token instead of taking the
result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from eventbus.workflows.events_task import PUT_EVENTS, put_events
from eventbus.workflows.http_task import HTTP_INVOKE, invoke_http
from eventbus.workflows.task_services import TaskServices

__all__ = ["WAIT_FOR_TASK_TOKEN", "Integration", "integration_for"]

Integration = Callable[[Any, str, str, TaskServices], Awaitable[Any]]
WAIT_FOR_TASK_TOKEN: Final = ".waitForTaskToken"

_INTEGRATIONS: Final[dict[str, Integration]] = {
    HTTP_INVOKE: invoke_http,
    PUT_EVENTS: put_events,
    PUT_EVENTS + WAIT_FOR_TASK_TOKEN: put_events,
}


def integration_for(resource: str) -> Integration | None:
    """The function ``resource`` calls; None when it names no integration of ours."""
    return _INTEGRATIONS.get(resource)
