"""``POST /cloudevents/{bus}``: CloudEvents in binary, structured or batched mode onto a bus.

A single event answers 202 ``{"EventId": ...}`` (or 400 with the entry's error); a batch answers
200 with the PutEvents result shape. Each event is published by :func:`eventbus.bus.publish`, so
it is validated exactly like a PutEvents entry; its envelope then gets the CloudEvent's ``id`` and
the ``cloudevents`` object of the attributes EventBridge has no field for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from eventbus import bus
from eventbus.cloudevents import CloudEventError, MappedEvent, map_event, read_http
from eventbus.errors import InvalidEventError
from eventbus.events import resolve_bus_name, validate_entry
from eventbus.gateway.awsjson import ApiError
from eventbus.settings import Settings

__all__ = ["publish_cloudevents", "read_cloudevents"]

_WRITES = ("XADD", "EVAL")


def read_cloudevents(
    bus_name: str, headers: dict[str, str], body: bytes, max_entries: int
) -> tuple[list[MappedEvent], bool]:
    """The request's events mapped for ``bus_name``, and whether it was a batch."""
    try:
        bus_name = resolve_bus_name(bus_name)
        events, batch = read_http(headers, body)
        if batch and not 1 <= len(events) <= max_entries:
            raise CloudEventError(f"A batch holds 1 to {max_entries} events, not {len(events)}.")
        return [map_event(event, bus_name) for event in events], batch
    except CloudEventError as e:
        raise ApiError("ValidationException", e.message) from None
    except InvalidEventError as e:
        raise ApiError("ValidationException", e.message) from None


def _is_valid(mapped: MappedEvent, settings: Settings) -> bool:
    try:
        validate_entry(mapped.entry, settings=settings)
    except InvalidEventError:
        return False
    return True


def _edit_envelope(data: bytes, mapped: MappedEvent) -> bytes:
    event = orjson.loads(data)
    event["id"] = mapped.event_id
    event["cloudevents"] = mapped.attributes
    return orjson.dumps(event)


def _edit_write(command: bus.Command, mapped: MappedEvent, ids: dict[str, str]) -> bus.Command:
    """A publish command with its envelope edited, remembering which event id it replaced.

    The commands are ``XADD stream * event <json> ...`` and, for entries with an idempotency
    key, ``EVAL script 2 record stream <event id> <json> ...``.
    """
    parts = list(command)
    at = parts.index("event") + 1 if parts[0] == "XADD" else 6
    ids[orjson.loads(parts[at])["id"]] = mapped.event_id
    parts[at] = _edit_envelope(parts[at], mapped)
    if parts[0] == "EVAL":
        parts[5] = mapped.event_id
    return tuple(parts)


def _edit_batch(
    batch: list[bus.Command], valid: Iterator[MappedEvent], ids: dict[str, str]
) -> list[bus.Command]:
    return [
        _edit_write(command, next(valid), ids) if command[0] in _WRITES else command
        for command in batch
    ]


def publish_cloudevents(
    mapped: list[MappedEvent], partitions: bus.PartitionMap, settings: Settings
) -> bus.Steps[dict[str, Any]]:
    """:func:`eventbus.bus.publish` of the events' entries, each envelope edited on its way.

    ``publish`` writes the valid entries in request order, one command each, so the n-th write
    command belongs to the n-th valid event; validating is pure, so the same ones are valid here.
    """
    steps = bus.publish([m.entry for m in mapped], partitions, settings=settings)
    valid = iter([m for m in mapped if _is_valid(m, settings)])
    ids: dict[str, str] = {}
    replies: list[Any] | None = None
    while True:
        try:
            batch = steps.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            result: dict[str, Any] = done.value
            break
        replies = yield _edit_batch(batch, valid, ids)
    for entry in result["Entries"]:
        if "EventId" in entry:
            entry["EventId"] = ids.get(entry["EventId"], entry["EventId"])
    return result
