"""CloudEvents 1.0 over HTTP, mapped onto EventBridge events (pure: no I/O).

The three modes of the HTTP binding are read into one attribute dict each (``data`` included):

- binary: attributes in ``ce-*`` headers, ``Content-Type`` is ``datacontenttype``, body is data;
- structured: ``Content-Type: application/cloudevents+json``, the body is the event as JSON;
- batched: ``Content-Type: application/cloudevents-batch+json``, a JSON array of events.

Then each event becomes a PutEvents entry plus the attributes EventBridge has no field for::

    {"specversion": "1.0", "id": "a1", "source": "shop", "type": "OrderPlaced",
     "time": "2024-05-01T12:00:00Z", "subject": "order/7", "tenant": "acme", "data": {"n": 1}}
    → entry {"Source": "shop", "DetailType": "OrderPlaced", "Time": "2024-05-01T12:00:00Z",
             "Detail": '{"n":1}', "EventBusName": <bus>, "IdempotencyKey": <event id>}
      event id uuid5(("shop", "a1")), top-level "cloudevents": {"specversion": "1.0", "id": "a1",
          "time": "2024-05-01T12:00:00Z", "subject": "order/7", "tenant": "acme"}

CloudEvents identifies an event by its ``source`` and ``id`` together, so the event id is a
name-based UUID of the pair: two sources may use the same ``id``, and a resent event gets the id
it got the first time, which also serves as its ``IdempotencyKey``. The CloudEvent's own ``id``
stays readable as ``cloudevents.id``, and its ``time``, digits past the second included, as
``cloudevents.time`` (the envelope's ``time`` is whole seconds, as in every EventBridge event).

Data that is not a JSON object is wrapped as ``{"data": <value>}``; binary data that is not UTF-8
text, and structured ``data_base64``, arrive as ``{"data_base64": "<base64>"}``.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson

from eventbus.errors import EventBusError, InvalidEventError
from eventbus.events import MALFORMED_DETAIL

__all__ = [
    "BATCH_CONTENT_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "CloudEventError",
    "MappedEvent",
    "event_id",
    "map_event",
    "read_http",
]

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
SPEC_VERSION = "1.0"
REQUIRED = ("id", "source", "specversion", "type")
# Attributes that become envelope fields; every other one, `id` and `time` included, goes into
# the `cloudevents` object. `time` is in both: the envelope's `time` has EventBridge's whole
# seconds, so the original keeps its sub-second digits (and its offset) in `cloudevents.time`.
MAPPED = frozenset({"source", "type", "data", "data_base64"})
# The namespace of the name-based event ids (fixed: a resent event must get the same id).
EVENT_ID_NAMESPACE = uuid.UUID("6f0c7f1e-3a52-5d8e-9b0a-2c1d4e5f6a7b")


class CloudEventError(EventBusError, ValueError):
    """A request that is not a CloudEvent this bus accepts; ``message`` says why."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class MappedEvent:
    """One CloudEvent as a PutEvents ``entry``, its ``event_id`` and the unmapped ``attributes``;
    ``error`` is set, instead of publishing it, when its data cannot become a ``Detail``."""

    entry: dict[str, Any]
    event_id: str
    attributes: dict[str, Any]
    error: InvalidEventError | None = None


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type in ("application/json", "text/json") or media_type.endswith("+json")


def _loads(body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise CloudEventError(f"{what} is not valid JSON: {e}") from None


def _binary(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    # Header values are percent-encoded by the binding (RFC 3986 for non-printable and '%').
    event: dict[str, Any] = {
        name[3:]: unquote(value) for name, value in headers.items() if name.startswith("ce-")
    }
    content_type = headers.get("content-type", "")
    if content_type:
        event["datacontenttype"] = content_type
    if not body:
        return event
    if _is_json(_media_type(content_type)):
        event["data"] = _loads(body, "The event data")
        return event
    try:
        event["data"] = body.decode()
    except UnicodeDecodeError:
        event["data_base64"] = base64.b64encode(body).decode()
        return event
    if not content_type:
        # No datacontenttype: JSON is what CloudEvents implies, so JSON data is read as JSON.
        with contextlib.suppress(orjson.JSONDecodeError):
            event["data"] = orjson.loads(body)
    return event


def read_http(headers: Mapping[str, str], body: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The CloudEvents in an HTTP request, and whether it was a batch.

    ``headers`` has lowercase names. The mode is told by ``Content-Type`` (structured, batch) and
    otherwise by a ``ce-specversion`` header (binary); anything else is a ``CloudEventError``.
    """
    media_type = _media_type(headers.get("content-type", ""))
    if media_type == BATCH_CONTENT_TYPE:
        events = _loads(body, "The batch")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise CloudEventError("A batch must be a JSON array of event objects.")
        return events, True
    if media_type == STRUCTURED_CONTENT_TYPE:
        event = _loads(body, "The event")
        if not isinstance(event, dict):
            raise CloudEventError("A structured event must be a JSON object.")
        return [event], False
    if "ce-specversion" in headers:
        return [_binary(headers, body)], False
    raise CloudEventError(
        f"Not a CloudEvent: send Content-Type {STRUCTURED_CONTENT_TYPE} or "
        f"{BATCH_CONTENT_TYPE}, or the ce-specversion, ce-id, ce-source and ce-type headers."
    )


def _check(event: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED if not isinstance(event.get(name), str) or not event[name]]
    if missing:
        raise CloudEventError(f"Missing or empty required attribute(s): {', '.join(missing)}.")
    if event["specversion"] != SPEC_VERSION:
        raise CloudEventError(
            f"specversion {event['specversion']!r} is not supported; expected '{SPEC_VERSION}'."
        )


def _detail(event: Mapping[str, Any]) -> dict[str, Any]:
    if "data_base64" in event:
        return {"data_base64": event["data_base64"]}
    if "data" not in event:
        return {}
    data = event["data"]
    if isinstance(data, str) and _is_json(_media_type(str(event.get("datacontenttype", "")))):
        # Structured mode may carry JSON data as a string: EventBridge wants the object.
        with contextlib.suppress(orjson.JSONDecodeError):
            data = orjson.loads(data)
    return data if isinstance(data, dict) else {"data": data}


def event_id(source: str, id_: str) -> str:
    """The EventBridge id of the CloudEvent ``(source, id_)``: a UUIDv5 of the pair as a JSON
    array, so ``("a#b", "c")`` and ``("a", "b#c")`` stay apart."""
    try:
        name = orjson.dumps([source, id_]).decode()
    except orjson.JSONEncodeError:
        raise CloudEventError("source and id must be valid Unicode text.") from None
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def map_event(event: Mapping[str, Any], bus: str) -> MappedEvent:
    """A CloudEvent attribute dict → the PutEvents entry for ``bus`` and the rest.

    ``IdempotencyKey`` is the event id (see :func:`event_id`), so a producer re-sending the same
    event does not publish it twice. Data orjson cannot write (nested past its 254 levels) sets
    ``error`` to ``MalformedDetail``, as such a ``Detail`` would get from PutEvents.
    """
    _check(event)
    eid = event_id(event["source"], event["id"])
    attributes = {name: value for name, value in event.items() if name not in MAPPED}
    entry: dict[str, Any] = {
        "Source": event["source"],
        "DetailType": event["type"],
        "EventBusName": bus,
        "IdempotencyKey": eid,
    }
    if event.get("time") is not None:
        entry["Time"] = event["time"]
    try:
        entry["Detail"] = orjson.dumps(_detail(event)).decode()
    except orjson.JSONEncodeError:
        return MappedEvent(entry, eid, attributes, InvalidEventError(*MALFORMED_DETAIL))
    return MappedEvent(entry, eid, attributes)
