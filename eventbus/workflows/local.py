"""``run_local``: run an execution to its end in-process, on a virtual clock.

Tasks are called through the ``tasks`` mapping (Resource -> callable); Wait states and retry
back-offs do not sleep: the clock jumps to the next timer.
"""

from __future__ import annotations

import heapq
import random as random_module
import uuid as uuid_module
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from eventbus.errors import InvalidExecutionInput, StatesError, TargetError
from eventbus.workflows import jsontext
from eventbus.workflows.commands import (
    ExecutionTimeout,
    InvokeTask,
    Reply,
    StartTimer,
    TaskResult,
    TimerFired,
)
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.definition import parse_definition, validate_definition
from eventbus.workflows.step import EXECUTION_TIMEOUT_TOKEN, Execution, Step, start, step

__all__ = ["failure_of", "result_of", "run_local"]

TaskCallable = Callable[[Any], Any]


def run_local(
    definition: str,
    input: str,
    *,
    tasks: Mapping[str, TaskCallable] | None = None,
    execution_name: str | None = None,
    start_time: datetime | None = None,
    state_machine_type: str = "STANDARD",
    invocation: str = "StartExecution",
) -> dict[str, Any]:
    """Run ``definition`` on ``input`` (JSON text) to completion; see the module doc."""
    validate_definition(definition, state_machine_type)
    parsed = parse_definition(definition)
    try:
        data = jsontext.loads(input or "{}")
    except ValueError as err:
        raise InvalidExecutionInput(f"Invalid execution input: {err}") from err
    seed = random_module.Random(execution_name or definition + input)
    name = execution_name or str(uuid_module.UUID(int=seed.getrandbits(128), version=4))
    info = ExecutionInfo(
        name=name,
        state_machine_name="LocalStateMachine",
        start_time=start_time or datetime.now(UTC),
        input=data,
        state_machine_type=state_machine_type,
        invocation=invocation,
        execution_uuid=str(uuid_module.UUID(int=seed.getrandbits(128), version=4)),
    )
    execution, first = start(
        parsed, info,
        uuid=lambda: str(uuid_module.UUID(int=seed.getrandbits(128), version=4)),
        random=seed.random,
    )
    result = _drive(execution, first, tasks or {})
    return {
        "status": result.status,
        "output": result.output,
        "error": result.error,
        "cause": result.cause,
        "events": execution.env.history.events,
    }


def _drive(execution: Execution, current: Step, tasks: Mapping[str, TaskCallable]) -> Step:
    """Tasks are called as soon as they are asked for; their results are fed back in order,
    before the clock moves on to the earliest timer."""
    timers: list[tuple[datetime, int, str]] = []
    ready: deque[Reply] = deque()
    order = 0
    while True:
        for command in current.commands:
            if isinstance(command, StartTimer):
                order += 1
                heapq.heappush(timers, (command.fire_at, order, command.token))
            else:
                ready.append(_call(command, tasks, execution.clock.now))
        if current.status != "RUNNING":
            return current
        if ready:
            reply = ready.popleft()
        else:
            fire_at, _, token = heapq.heappop(timers)
            reply = ExecutionTimeout(fire_at) if token == EXECUTION_TIMEOUT_TOKEN \
                else TimerFired(token, fire_at)
        current = step(execution, reply)


def _call(command: InvokeTask, tasks: Mapping[str, TaskCallable], now: datetime) -> TaskResult:
    fn = tasks.get(command.resource)
    if fn is None:
        return TaskResult(command.token, now, failed=True, error="States.TaskFailed",
                          cause=f"No task is registered for the resource '{command.resource}'.")
    return result_of(command.token, now, lambda: fn(command.input))


def result_of(token: str, at: datetime, call: Callable[[], Any]) -> TaskResult:
    """The TaskResult of calling ``call``: its output, or the failure its exception says."""
    try:
        output = call()
    except Exception as err:
        return failure_of(token, at, err)
    return TaskResult(token, at, output=jsontext.loads(jsontext.dumps(output)))


def failure_of(token: str, at: datetime, err: Exception) -> TaskResult:
    """The TaskResult of a task that raised ``err``: a ``StatesError`` (``TaskFailed``) fails
    with its error and cause, ``TimeoutError`` times the task out, a ``TargetError`` fails
    with its code, anything else with the exception's class name."""
    if isinstance(err, StatesError):
        return TaskResult(token, at, failed=True, error=err.error, cause=err.cause)
    if isinstance(err, TimeoutError):
        # How a task says it ran past its TimeoutSeconds/HeartbeatSeconds.
        return TaskResult(token, at, timed_out=True)
    if isinstance(err, TargetError):
        return TaskResult(token, at, failed=True, error=err.code, cause=str(err))
    return TaskResult(token, at, failed=True, error=type(err).__name__, cause=str(err))
