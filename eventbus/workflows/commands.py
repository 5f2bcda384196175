"""What the step function asks its driver to do, and what the driver answers (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "BLOCK",
    "EXECUTION_TIMEOUT_TOKEN",
    "Block",
    "Command",
    "ExecutionTimeout",
    "InvokeTask",
    "Redrive",
    "Reply",
    "StartTimer",
    "StopExecution",
    "TaskResult",
    "TaskStarted",
    "TimerFired",
    "is_execution_timeout",
]


#: The token of the timer of a definition's top-level TimeoutSeconds (before any redrive).
EXECUTION_TIMEOUT_TOKEN = "execution-timeout"


def is_execution_timeout(token: str) -> bool:
    """Whether a timer's token is an execution timeout's (a redrive's is ``TOKEN:count``)."""
    return token == EXECUTION_TIMEOUT_TOKEN or token.startswith(EXECUTION_TIMEOUT_TOKEN + ":")


@dataclass(frozen=True, slots=True)
class InvokeTask:
    """Call the task ``resource`` with ``input``; answer with a TaskResult carrying ``token``."""

    token: str
    resource: str
    input: Any
    timeout_seconds: int | None = None
    heartbeat_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Answer with TimerFired(token) once the clock reaches ``fire_at``."""

    token: str
    fire_at: datetime


Command = InvokeTask | StartTimer


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's outcome: ``output`` on success, else ``error``/``cause`` (or ``timed_out``)."""

    token: str
    at: datetime
    output: Any = None
    error: str | None = None
    cause: str | None = None
    failed: bool = False
    timed_out: bool = False
    # An activity's: the name of the worker that took it ('' unnamed), when its TaskStarted
    # may not have been applied first (another worker applied this answer quicker).
    taken_by: str | None = None


@dataclass(frozen=True, slots=True)
class TaskStarted:
    """A worker took the activity task ``token`` (GetActivityTask) at ``at``; its TaskResult
    comes later. Only activities are told of it, as AWS records ``ActivityStarted``."""

    token: str
    at: datetime
    worker_name: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    token: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ExecutionTimeout:
    """The execution's top-level ``TimeoutSeconds`` elapsed at ``at``. ``token`` is its timer's:
    each redrive starts the timeout again under a new token, so the old one is ignored."""

    at: datetime
    token: str = EXECUTION_TIMEOUT_TOKEN


@dataclass(frozen=True, slots=True)
class StopExecution:
    """StopExecution: the execution ends ABORTED with the optional ``error`` and ``cause``."""

    at: datetime
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class Redrive:
    """RedriveExecution: the closed execution runs again from the state that did not succeed;
    ``count`` is its redrive count from now on (1 for the first redrive)."""

    at: datetime
    count: int


Reply = TaskResult | TaskStarted | TimerFired | ExecutionTimeout | StopExecution | Redrive


class Block:
    """Yielded by a branch that has issued its commands and now waits for a reply.

    The protocol of every generator in the interpreter: yielding a Command issues it (the
    generator is resumed at once with None); yielding BLOCK suspends it until a reply arrives
    (it is resumed with that reply). Branches that run side by side (Parallel, Map) each issue
    their commands before any of them blocks, so their tasks and timers run concurrently.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "BLOCK"


BLOCK = Block()
