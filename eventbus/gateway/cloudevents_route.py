"""``POST /cloudevents/{bus}``: CloudEvents in binary, structured or batched mode onto a bus.

A single event answers 202 ``{"EventId": ...}`` (or 400 with the entry's error); a batch answers
200 with the PutEvents result shape. Each event is published by :func:`eventbus.bus.publish`, so
it is validated exactly like a PutEvents entry; its envelope gets the id made of the CloudEvent's
``source`` and ``id`` and the ``cloudevents`` object of the attributes EventBridge has no field for
(the CloudEvent's ``id`` among them).
"""

from __future__ import annotations

from typing import Any

from eventbus import bus
from eventbus.cloudevents import CloudEventError, MappedEvent, map_event, read_http
from eventbus.errors import InvalidEventError
from eventbus.events import resolve_bus_name
from eventbus.gateway.awsjson import ApiError
from eventbus.settings import Settings

__all__ = ["publish_cloudevents", "read_cloudevents"]


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


def publish_cloudevents(
    mapped: list[MappedEvent], partitions: bus.PartitionMap, settings: Settings
) -> bus.Steps[dict[str, Any]]:
    """:func:`eventbus.bus.publish` of the events' entries, each envelope with its event id and
    ``cloudevents`` attributes; an event whose mapping failed answers its error in its place."""
    ready = [m for m in mapped if m.error is None]
    envelopes = [bus.Envelope(m.event_id, {"cloudevents": m.attributes}) for m in ready]
    published = yield from bus.publish(
        [m.entry for m in ready], partitions, settings=settings, envelopes=envelopes
    )
    outcomes = iter(published["Entries"])
    entries = [
        next(outcomes) if m.error is None
        else {"ErrorCode": m.error.code, "ErrorMessage": m.error.message}
        for m in mapped
    ]  # fmt: skip
    return {"FailedEntryCount": sum("ErrorCode" in e for e in entries), "Entries": entries}
