"""The deterministic step function of an execution (pure: no clock, randomness or I/O).

``start`` begins an execution and ``step`` feeds it one reply (a task's result, a timer that
fired, the execution's own timeout). Each returns a ``Step``: the history events it added,
the commands the driver must now carry out and, once the execution has ended, its result.
Time arrives with each reply and uuids/random numbers come from the callables given to
``start``, so feeding the same replies again replays the execution exactly: that replay is
how a stored execution is resumed.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import jsontext
from eventbus.workflows.commands import (
    EXECUTION_TIMEOUT_TOKEN,
    Block,
    Command,
    ExecutionTimeout,
    Redrive,
    Reply,
    StartTimer,
    StopExecution,
)
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.history import Clock, History
from eventbus.workflows.interpreter import language_of, run_branch
from eventbus.workflows.runtime import Env, Frame, StateFailure

__all__ = ["EXECUTION_TIMEOUT_TOKEN", "Execution", "Step", "replay", "start", "step"]


@dataclass(slots=True)
class Step:
    events: list[dict[str, Any]]
    commands: list[Command]
    status: str = "RUNNING"
    output: str | None = None
    error: str | None = None
    cause: str | None = None


@dataclass(slots=True)
class Execution:
    """An execution between two steps: its history and its interpreter, suspended."""

    env: Env
    clock: Clock
    runner: Generator[Command | Block, Any, Any]
    status: str = "RUNNING"
    seen: int = 0
    result: Step = field(default_factory=lambda: Step([], []))
    #: The top-level branch (a redrive runs it again from its last state) and the
    #: definition's TimeoutSeconds with the token of its current timer.
    frame: Frame | None = None
    timeout_seconds: int | None = None
    timeout_token: str = EXECUTION_TIMEOUT_TOKEN


def start(
    definition: Mapping[str, Any],
    info: ExecutionInfo,
    *,
    uuid: Callable[[], str],
    random: Callable[[], float],
) -> tuple[Execution, Step]:
    """Begin an execution of ``definition`` at ``info.start_time`` with ``info.input``."""
    clock = Clock(info.start_time)
    history = History(clock)
    env = Env(info, history, uuid, random, language_of(definition))
    frame = Frame(definition["States"], definition["StartAt"], ChainMap({}), history, first=True)
    history.add("ExecutionStarted", {
        "input": jsontext.dumps(info.input), "inputDetails": {"truncated": False},
        "roleArn": info.role_arn or "",
    }, previous=0)
    timeout = definition.get("TimeoutSeconds")
    execution = Execution(env, clock, run_branch(env, frame, info.input), frame=frame,
                          timeout_seconds=None if timeout is None else int(timeout))
    return execution, _run(execution)


def _run(execution: Execution) -> Step:
    """Advance a runner just made, with the execution's timeout timer first when it has one."""
    result = _advance(execution, None)
    if execution.timeout_seconds is not None:
        deadline = execution.clock.now + timedelta(seconds=execution.timeout_seconds)
        result.commands.insert(0, StartTimer(execution.timeout_token, deadline))
    return result


def replay(
    definition: Mapping[str, Any],
    info: ExecutionInfo,
    replies: Iterable[Reply],
    *,
    uuid: Callable[[], str],
    random: Callable[[], float],
) -> tuple[Execution, Step]:
    """Rebuild a stored execution: ``start`` it again and feed it the replies it had received.

    With ``uuid``/``random`` seeded as the first time, the history comes out the same; the
    returned Step holds the commands still outstanding after the last reply, and the events of
    the last reply only.
    """
    execution, last = start(definition, info, uuid=uuid, random=random)
    for reply in replies:
        last = step(execution, reply)
    return execution, last


def step(execution: Execution, reply: Reply) -> Step:
    """Feed one reply to a running execution (a Redrive: to a closed one)."""
    if isinstance(reply, Redrive) == (execution.status == "RUNNING"):
        raise ValueError(f"{type(reply).__name__} for an execution that is {execution.status}")
    execution.clock.now = max(execution.clock.now, reply.at)
    if isinstance(reply, Redrive):
        return _redrive(execution, reply.count)
    if isinstance(reply, ExecutionTimeout):
        if reply.token != execution.timeout_token:
            return Step([], [])  # the timeout of the run before a redrive
        execution.runner.close()
        execution.env.history.add("ExecutionTimedOut")
        return _ended(execution, "TIMED_OUT")
    if isinstance(reply, StopExecution):
        execution.runner.close()
        details = {k: v for k, v in (("error", reply.error), ("cause", reply.cause))
                   if v is not None}
        execution.env.history.add("ExecutionAborted", details)
        return _ended(execution, "ABORTED", error=reply.error, cause=reply.cause)
    return _advance(execution, reply)


def _redrive(execution: Execution, count: int) -> Step:
    """Run the closed execution again from the top-level state it did not finish, with that
    state's input and the variables as they were (a Parallel or Map runs only its branches that
    did not succeed, see ``rerun``); the timeout starts again from now."""
    old = execution.frame
    assert old is not None and old.at is not None
    env = execution.env
    env.history.add("ExecutionRedriven", {"redriveCount": count})
    if env.execution_context is not None and "RedriveCount" in env.execution_context:
        env.execution_context = {**env.execution_context, "RedriveCount": count}
    name, data = old.at
    execution.frame = Frame(old.states, name, old.variables, old.history, resume=old)
    execution.runner = run_branch(env, execution.frame, data)
    execution.status = "RUNNING"
    execution.timeout_token = f"{EXECUTION_TIMEOUT_TOKEN}:{count}"
    return _run(execution)


def _advance(execution: Execution, reply: Reply | None) -> Step:
    """Resume the interpreter with ``reply`` and collect its commands until it blocks."""
    history = execution.env.history
    commands: list[Command] = []
    value: Any = reply
    try:
        while True:
            out = execution.runner.send(value)
            if isinstance(out, Block):
                break
            commands.append(out)
            value = None
    except StopIteration as done:
        output = jsontext.dumps(done.value)
        history.add("ExecutionSucceeded", {"output": output,
                                           "outputDetails": {"truncated": False}})
        return _ended(execution, "SUCCEEDED", output=output)
    except (StateFailure, StatesError) as failure:
        details = {k: v for k, v in (("error", failure.error), ("cause", failure.cause))
                   if v is not None}
        history.add("ExecutionFailed", details)
        return _ended(execution, "FAILED", error=failure.error, cause=failure.cause)
    return Step(_new_events(execution), commands)


def _ended(execution: Execution, status: str, **result: Any) -> Step:
    execution.status = status
    return Step(_new_events(execution), [], status, **result)


def _new_events(execution: Execution) -> list[dict[str, Any]]:
    history = execution.env.history
    events = history.since(execution.seen)
    execution.seen = len(history.events)
    return events

