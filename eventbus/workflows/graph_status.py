"""Each state's status in an execution, read from its event history (pure).

The history has GetExecutionHistory's shape: ``<Type>StateEntered`` / ``<Type>StateExited``
with ``stateEnteredEventDetails.name``, failures such as ``TaskFailed`` or
``ParallelStateFailed``, and one closing ``Execution*`` event. Branches of a Parallel and
iterations of a Map interleave in one history, so a failure event is charged to the most
recently entered state still open whose type can raise it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["StateMark", "Status", "statuses_from_history"]


class Status(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    CAUGHT = "CAUGHT"  # failed, and a Catch moved on to another state
    FAILED = "FAILED"
    RUNNING = "RUNNING"
    ABORTED = "ABORTED"  # cut short: the execution ended elsewhere while it ran


# When a state ran several times (a loop, a Map's iterations), the worst run is shown.
_WORST_FIRST = (Status.FAILED, Status.CAUGHT, Status.RUNNING, Status.ABORTED, Status.SUCCEEDED)


@dataclass(frozen=True, slots=True)
class StateMark:
    """How a state fared: its status, how often it was entered and how often retried."""

    status: Status
    entered: int = 1
    retries: int = 0


@dataclass(slots=True)
class _Visit:
    name: str
    kind: str  # the state's Type, from its event's prefix
    failed: bool = False
    attempts: int = 0


# Which state types raise each family of events.
_EVENT_KINDS = (("Task", "Task"), ("LambdaFunction", "Task"), ("Activity", "Task"),
                ("Parallel", "Parallel"), ("MapRun", "Map"), ("Map", "Map"))
_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
# Events that begin an attempt: a second one in a visit is a retry, which clears a failure.
_ATTEMPTS = ("TaskScheduled", "ActivityScheduled", "LambdaFunctionScheduled",
             "ParallelStateStarted", "MapStateStarted")


def _name(event: Mapping[str, Any], key: str) -> str:
    details = event.get(key)
    return str(details.get("name", "")) if isinstance(details, dict) else ""


def _kind(event_type: str) -> str | None:
    """The state type an event belongs to; None for execution- and iteration-level events
    (their states' own events say what happened), "" for any state type."""
    if event_type == "EvaluationFailed":
        return ""
    if event_type.startswith(("Execution", "MapIteration")):
        return None
    for prefix, kind in _EVENT_KINDS:
        if event_type.startswith(prefix):
            return kind
    return None


def _latest(open_visits: list[_Visit], kind: str) -> _Visit | None:
    for visit in reversed(open_visits):
        if not kind or visit.kind == kind:
            return visit
    return None


def statuses_from_history(events: Iterable[Mapping[str, Any]]) -> dict[str, StateMark]:
    """{state name: mark} for every state the execution entered; a state never entered is
    absent (not reached)."""
    open_visits: list[_Visit] = []
    outcomes: dict[str, list[Status]] = {}
    retries: dict[str, int] = {}
    closing: str | None = None

    def close(visit: _Visit, status: Status) -> None:
        outcomes.setdefault(visit.name, []).append(status)
        retries[visit.name] = retries.get(visit.name, 0) + max(visit.attempts - 1, 0)

    for event in sorted(events, key=lambda e: int(e.get("id", 0))):
        event_type = str(event.get("type", ""))
        if event_type.endswith("StateEntered"):
            name = _name(event, "stateEnteredEventDetails")
            open_visits.append(_Visit(name, event_type.removesuffix("StateEntered")))
        elif event_type.endswith("StateExited"):
            name = _name(event, "stateExitedEventDetails")
            visit = next((v for v in reversed(open_visits) if v.name == name), None)
            if visit is not None:
                open_visits.remove(visit)
                close(visit, Status.CAUGHT if visit.failed else Status.SUCCEEDED)
        elif event_type in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
                            "ExecutionAborted"):
            closing = event_type
        else:
            kind = _kind(event_type)
            visit = None if kind is None else _latest(open_visits, kind)
            if visit is not None and event_type.endswith(_FAILURE_SUFFIXES):
                visit.failed = True
            elif visit is not None and event_type in _ATTEMPTS:
                visit.attempts += 1
                visit.failed = False
    for visit in open_visits:
        close(visit, _unfinished(visit, closing))
    return {
        name: StateMark(min(seen, key=_WORST_FIRST.index), len(seen), retries.get(name, 0))
        for name, seen in outcomes.items()
    }


def _unfinished(visit: _Visit, closing: str | None) -> Status:
    """A state entered and never exited: still running, one that failed the execution (a
    failure was charged to it, or it is a Fail state) or one cut short."""
    if closing is None:
        return Status.RUNNING
    if closing == "ExecutionFailed" and (visit.failed or visit.kind == "Fail"):
        return Status.FAILED
    return Status.ABORTED
