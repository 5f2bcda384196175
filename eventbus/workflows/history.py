"""An execution's event history in the shape of GetExecutionHistory (pure).

Each event has ``id`` (from 1), ``previousEventId`` (the event it follows), ``type``,
``timestamp`` and, for most types, a ``<type>EventDetails`` object. Inputs and outputs in the
details are JSON text, as AWS returns them.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from eventbus.errors import HistoryLimitReached
from eventbus.workflows import jsontext
from eventbus.workflows.context import iso_time
from eventbus.workflows.limits import MAX_HISTORY_EVENTS

__all__ = ["Clock", "History", "details_key"]


class Clock:
    """The virtual time of one execution, shared by its histories; the driver sets it.

    Its ISO text is kept with it: every event and context object carries the time, which
    changes only when a timer fires or a reply arrives.
    """

    __slots__ = ("_now", "iso")

    def __init__(self, now: datetime) -> None:
        self._now = now
        self.iso = iso_time(now)

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        if value != self._now:
            self._now = value
            self.iso = iso_time(value)

# Event types whose details live under a shared key rather than one named after the type.
_SHARED_KEYS = {"StateEntered": "stateEnteredEventDetails",
                "StateExited": "stateExitedEventDetails"}


@lru_cache(maxsize=256)
def details_key(event_type: str) -> str:
    for suffix, key in _SHARED_KEYS.items():
        if event_type.endswith(suffix):
            return key
    return event_type[0].lower() + event_type[1:] + "EventDetails"


class History:
    """Appends events; ``since(n)`` gives what one step added."""

    __slots__ = ("clock", "events", "head")

    def __init__(self, clock: Clock) -> None:
        self.events: list[dict[str, Any]] = []
        self.clock = clock
        #: The event the next one follows (``previousEventId``). Bookkeeping events such as
        #: MapIterationSucceeded point at the last event without becoming the head, as AWS
        #: records them: the next iteration follows the last state of the one before.
        self.head = 0

    @property
    def now(self) -> datetime:
        return self.clock.now

    @property
    def last_id(self) -> int:
        return len(self.events)

    def add(
        self,
        event_type: str,
        details: dict[str, Any] | None = None,
        *,
        previous: int | None = None,
        advance: bool = True,
    ) -> int:
        """Append one event and return its id; fails the execution past 25,000 events (the
        event that ends the execution is always recorded). ``previous`` overrides the head as
        the event it follows; ``advance=False`` leaves the head where it was."""
        if len(self.events) >= MAX_HISTORY_EVENTS and not event_type.startswith("Execution"):
            raise HistoryLimitReached(
                "States.Runtime",
                f"The execution reached the maximum number of history events "
                f"({MAX_HISTORY_EVENTS}).",
            )
        event_id = len(self.events) + 1
        event: dict[str, Any] = {
            "id": event_id,
            "previousEventId": self.head if previous is None else previous,
            "timestamp": self.clock.iso,
            "type": event_type,
        }
        if details is not None:
            event[details_key(event_type)] = details
        self.events.append(event)
        if advance:
            self.head = event_id
        return event_id

    def bookkeeping(self, event_type: str, details: dict[str, Any] | None = None) -> int:
        """An event that follows the last one but does not become the head."""
        return self.add(event_type, details, previous=self.last_id, advance=False)

    def state_entered(self, state_type: str, name: str, text: str, *, first: bool) -> int:
        """``text`` is the state's input as JSON text."""
        return self.add(
            f"{state_type}StateEntered",
            {"name": name, "input": text, "inputDetails": {"truncated": False}},
            previous=0 if first else None,
        )

    def state_exited(
        self, state_type: str, name: str, text: str, assigned: dict[str, Any] | None
    ) -> int:
        """``text`` is the state's output as JSON text."""
        details: dict[str, Any] = {
            "name": name,
            "output": text,
            "outputDetails": {"truncated": False},
        }
        if assigned:
            details["assignedVariables"] = {k: jsontext.dumps(v) for k, v in assigned.items()}
            details["assignedVariablesDetails"] = {"truncated": False}
        return self.add(f"{state_type}StateExited", details)

    def since(self, count: int) -> list[dict[str, Any]]:
        return self.events[count:]
