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
    Block,
    Command,
    ExecutionTimeout,
    Reply,
    StartTimer,
    StopExecution,
)
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.history import Clock, History
from eventbus.workflows.interpreter import language_of, run_branch
from eventbus.workflows.runtime import Env, Frame, StateFailure

__all__ = ["EXECUTION_TIMEOUT_TOKEN", "Execution", "Step", "replay", "start", "step"]

#: The token of the timer ``start`` asks for when the definition has a top-level TimeoutSeconds.
EXECUTION_TIMEOUT_TOKEN = "execution-timeout"


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
    execution = Execution(env, clock, run_branch(env, frame, info.input))
    commands: list[Command] = []
    if "TimeoutSeconds" in definition:
        deadline = info.start_time + timedelta(seconds=int(definition["TimeoutSeconds"]))
        commands.append(StartTimer(EXECUTION_TIMEOUT_TOKEN, deadline))
    result = _advance(execution, None)
    result.commands[:0] = commands
    return execution, result


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
    """Feed one reply to a running execution."""
    if execution.status != "RUNNING":
        raise ValueError(f"the execution has already ended ({execution.status})")
    execution.clock.now = max(execution.clock.now, reply.at)
    if isinstance(reply, ExecutionTimeout):
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

