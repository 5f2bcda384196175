"""The EventBridge event envelope and PutEvents entries (pure: no I/O).

A PutEvents entry is checked once by :func:`validate_entry`, which answers each problem with the
per-entry ``ErrorCode`` / ``ErrorMessage`` EventBridge gives, and then turned into the delivered
event by :func:`make_event`::

    validate_entry({"Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'})
    → ValidEntry(source="shop", detail_type="OrderPlaced", detail={"id": 1}, bus="default", ...)
    make_event(valid) → {"version": "0", "id": "<uuid4>", "detail-type": "OrderPlaced",
                         "source": "shop", "account": ..., "time": ..., "region": ...,
                         "resources": [], "detail": {"id": 1}}
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from eventbus.errors import InvalidEventError
from eventbus.settings import DEFAULT_BUS, Settings, get_settings

__all__ = [
    "EVENT_TIME_FORMAT",
    "MALFORMED_DETAIL",
    "TEST_EVENT_REQUIRED_FIELDS",
    "ValidEntry",
    "check_test_event",
    "entry_size",
    "format_event_time",
    "make_event",
    "make_events",
    "new_event_ids",
    "resolve_bus_name",
    "validate_entry",
]

# How EventBridge writes an event's `time`: UTC, whole seconds.
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# EventBridge's size formula counts a present `Time` as a fixed 14 bytes, whatever its text.
TIME_FIELD_BYTES = 14
# API limits of the PutEvents entry fields.
MAX_DETAIL_TYPE_CHARS = 128
MAX_TRACE_HEADER_CHARS = 500
MAX_IDEMPOTENCY_KEY_CHARS = 256
MAX_BUS_NAME_OR_ARN_CHARS = 1600
# EventBridge processes Detail nesting to 1000 levels, but orjson writes at most 254 levels of
# containers and the envelope adds one: 250 leaves room, and a deeper Detail is MalformedDetail
# rather than an event no part of the bus could write. Integers must fit 64-bit signed.
MAX_DETAIL_DEPTH = 250
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# EventBridge's NonPartnerEventBusNameOrArn pattern, except that the region and account parts of
# an ARN are loosened so ARNs built from our own settings (region "local") resolve too.
_BUS_NAME_OR_ARN = re.compile(
    r"(?:arn:aws[\w-]*:events:[\w-]+:[0-9]{12}:event-bus/)?(?P<name>[.\-_A-Za-z0-9]+)"
)
# Only a run of 19 or more digits can be an integer outside the 64-bit range.
_LONG_DIGITS = re.compile(r"\d{19}")

# TestEventPattern judges only events carrying these fields (`resources` and `version` are
# optional in practice: AWS judged recorded events without them).
TEST_EVENT_REQUIRED_FIELDS = ("id", "account", "source", "time", "region", "detail-type")

# A Time that reads as a moment, but one outside years 1 to 9999 in UTC.
_TIME_OUT_OF_RANGE = ("InvalidArgument", "Parameter Time is not valid.")
# What PutEvents answers for a Detail that is not a JSON object it can take.
MALFORMED_DETAIL = ("MalformedDetail", "Detail is malformed.")


# Not frozen: a frozen dataclass takes three times as long to build, once per published entry.
@dataclass(slots=True)
class ValidEntry:
    """A PutEvents entry that passed validation, with its Detail parsed and its bus resolved."""

    source: str
    detail_type: str
    detail: dict[str, Any]
    detail_text: str
    resources: tuple[str, ...] = ()
    time: str | None = None  # already in EVENT_TIME_FORMAT, UTC
    bus: str = DEFAULT_BUS
    trace_header: str | None = None
    idempotency_key: str | None = None


def check_test_event(event: Any) -> dict[str, Any]:
    """The event TestEventPattern accepts, or ``InvalidEventError`` as AWS answers it.

    An event nested deeper than the envelope around the deepest Detail PutEvents takes is
    refused too: no event on a bus can be like it, and matching would recurse that deep."""
    if (
        not isinstance(event, dict)
        or any(f not in event for f in TEST_EVENT_REQUIRED_FIELDS)
        or _depth_exceeds(event, MAX_DETAIL_DEPTH + 1)
    ):
        raise InvalidEventError("ValidationException", "Parameter Event is not valid.")
    return event


def _invalid(field: str, reason: str) -> InvalidEventError:
    return InvalidEventError("InvalidArgument", f"Parameter {field} is not valid. Reason: {reason}")


def _utf8_size(field: str, text: str) -> int:
    if text.isascii():  # most texts: their length, without encoding a copy
        return len(text)
    # A lone surrogate (possible in a Python str, never in JSON orjson read) has no UTF-8 form.
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise _invalid(
            field, f"{field} is not valid Unicode text (it holds a lone surrogate)."
        ) from None


def entry_size(entry: Mapping[str, Any]) -> int:
    """EventBridge's documented entry size: 14 bytes for a present ``Time``, plus the UTF-8 bytes
    of ``Source``, ``DetailType``, ``Detail`` and each ``Resources`` item (nothing else counts).

    ``InvalidEventError`` for a text with no UTF-8 form."""
    size = TIME_FIELD_BYTES if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        value = entry.get(field)
        if isinstance(value, str):
            size += _utf8_size(field, value)
    resources = entry.get("Resources") or ()
    return size + sum(_utf8_size("Resources", r) for r in resources if isinstance(r, str))


def resolve_bus_name(name_or_arn: str) -> str:
    """The bus name behind an ``EventBusName`` (a name or an event-bus ARN).

    ``InvalidEventError`` (``InvalidArgument``) when it matches neither form.
    """
    if not isinstance(name_or_arn, str) or not 1 <= len(name_or_arn) <= MAX_BUS_NAME_OR_ARN_CHARS:
        raise _invalid("EventBusName", "EventBusName must be 1 to 1600 characters.")
    found = _BUS_NAME_OR_ARN.fullmatch(name_or_arn)
    if found is None:
        raise _invalid("EventBusName", f"{name_or_arn} is not a valid event bus name or ARN.")
    return found["name"]


def format_event_time(moment: datetime) -> str:
    """``moment`` as EventBridge writes an event's ``time`` (naive datetimes are taken as UTC).

    ``OverflowError`` when the moment in UTC falls outside years 1 to 9999."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    # strftime writes years before 1000 without padding on glibc ("1-01-01T…"): pad by hand.
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


def _parse_time(value: Any) -> str:
    """An entry's ``Time`` (see :func:`_read_time`) in EVENT_TIME_FORMAT; a time that reads but
    lies outside years 1 to 9999 once in UTC (``0001-01-01T00:00:00+01:00``) is not valid."""
    try:
        return _read_time(value)
    except OverflowError:
        raise InvalidEventError(*_TIME_OUT_OF_RANGE) from None


def _read_time(value: Any) -> str:
    """RFC 3339 text, a date alone (AWS accepts ``2022-01-01``), epoch seconds (what AWS SDKs
    send over the JSON protocol) or a ``datetime``."""
    if isinstance(value, datetime):
        return format_event_time(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return format_event_time(datetime.fromtimestamp(value, UTC))
        except (OSError, ValueError):
            # A number always reads as epoch seconds: only its range can be wrong.
            raise OverflowError(value) from None
    elif isinstance(value, date):
        return format_event_time(datetime(value.year, value.month, value.day))
    elif isinstance(value, str):
        try:
            return format_event_time(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise _invalid("Time", f"{value!r} is not an RFC 3339 timestamp.")


def _required_text(entry: Mapping[str, Any], field: str) -> str:
    value = entry.get(field)
    if value is None or value == "":
        raise _invalid(field, f"{field} is a required argument.")
    if not isinstance(value, str):
        raise _invalid(field, f"{field} must be a string.")
    return value


def _optional_text(entry: Mapping[str, Any], field: str, max_chars: int) -> str | None:
    value = entry.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_chars:
        raise _invalid(field, f"{field} must be a string of 1 to {max_chars} characters.")
    _utf8_size(field, value)
    return value


def _resources(entry: Mapping[str, Any]) -> tuple[str, ...]:
    value = entry.get("Resources")
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(r, str) for r in value):
        raise _invalid("Resources", "Resources must be a list of strings.")
    return tuple(value)


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _checked_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(text)
    return value


def _int_out_of_range(text: str) -> bool:
    # orjson quietly reads integers past 64 bits as floats, so only a second, slower parse
    # still sees the literal; it runs only when a long digit run makes it possible.
    try:
        json.loads(text, parse_int=_checked_int)
    except ValueError:
        return True
    except RecursionError:
        return False
    return False


def _parse_detail(text: str) -> dict[str, Any]:
    """Detail as a JSON object, or ``MalformedDetail``.

    The depth and integer-range walks only run when cheap text counts say they could fail, so
    ordinary events pay two C-speed scans of the text and nothing more.
    """
    try:
        detail = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidEventError(*MALFORMED_DETAIL) from None
    if not isinstance(detail, dict):
        raise InvalidEventError(*MALFORMED_DETAIL)
    # Nesting past the cap takes more brackets, and an integer past 64 bits 19 digits, than
    # most Details have characters: their scans are skipped for those.
    if (
        len(text) > MAX_DETAIL_DEPTH
        and text.count("{") + text.count("[") > MAX_DETAIL_DEPTH
        and _depth_exceeds(detail, MAX_DETAIL_DEPTH)
    ) or (len(text) >= 19 and _LONG_DIGITS.search(text) and _int_out_of_range(text)):
        raise InvalidEventError(*MALFORMED_DETAIL)
    return detail


def validate_entry(
    entry: Mapping[str, Any], *, settings: Settings | None = None, service: bool = False
) -> ValidEntry:
    """Check one PutEvents entry the way EventBridge does; ``InvalidEventError`` otherwise.
    ``service``: the runtime publishes it on a service's behalf (Step Functions' status
    changes), so an ``aws.`` source is allowed.

    Order: the required fields (``Source``, ``DetailType``, ``Detail``), the ``aws.`` source
    prefix, the optional fields, the entry size against ``max_entry_bytes`` (a deliberate
    difference: EventBridge limits the whole request), and last the Detail's JSON.
    """
    if not isinstance(entry, Mapping):
        raise _invalid("Entry", "Entry must be an object.")
    source = _required_text(entry, "Source")
    detail_type = _required_text(entry, "DetailType")
    detail_text = _required_text(entry, "Detail")
    if source.startswith("aws.") and not service:
        raise InvalidEventError("NotAuthorizedForSourceException", "Not authorized for the source.")
    if len(detail_type) > MAX_DETAIL_TYPE_CHARS:
        raise _invalid("DetailType", "DetailType must be at most 128 characters.")
    resources = _resources(entry)
    time = None if entry.get("Time") is None else _parse_time(entry["Time"])
    bus_arg = entry.get("EventBusName")
    bus = DEFAULT_BUS if bus_arg is None else resolve_bus_name(bus_arg)
    trace_header = _optional_text(entry, "TraceHeader", MAX_TRACE_HEADER_CHARS)
    idempotency_key = _optional_text(entry, "IdempotencyKey", MAX_IDEMPOTENCY_KEY_CHARS)
    limit = (settings or get_settings()).max_entry_bytes
    size = entry_size(entry)
    if size > limit:
        raise InvalidEventError(
            "InvalidArgument", f"Entry size {size} bytes is over the limit of {limit} bytes."
        )
    return ValidEntry(
        source=source,
        detail_type=detail_type,
        detail=_parse_detail(detail_text),
        detail_text=detail_text,
        resources=resources,
        time=time,
        bus=bus,
        trace_header=trace_header,
        idempotency_key=idempotency_key,
    )


def make_event(
    entry: ValidEntry,
    *,
    event_id: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The delivered event, keys in EventBridge's order; ``time`` defaults to ``now`` (or the
    current time) and ``id`` to a new UUIDv4."""
    return make_events([entry], event_ids=[event_id], now=now, settings=settings)[0]


def make_events(
    entries: Sequence[ValidEntry],
    *,
    event_ids: Sequence[str | None] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """:func:`make_event` for each entry (``event_ids``, one per entry when given): the time is
    formatted once and the new ids drawn at once, the per-entry cost of a PutEvents call."""
    s = settings or get_settings()
    account, region = s.account, s.region
    now_text = format_event_time(now or datetime.now(UTC))
    ids = event_ids if event_ids is not None else [None] * len(entries)
    fresh = iter(new_event_ids(sum(1 for i in ids if not i)))
    return [
        {
            "version": "0",
            "id": event_id or next(fresh),
            "detail-type": entry.detail_type,
            "source": entry.source,
            "account": account,
            "time": entry.time or now_text,
            "region": region,
            "resources": list(entry.resources),
            "detail": entry.detail,
        }
        for entry, event_id in zip(entries, ids, strict=True)
    ]


def new_event_ids(count: int) -> list[str]:
    """``count`` random UUIDv4 texts, from one read of the system's random source (a fifth of
    the cost of ``str(uuid.uuid4())`` each)."""
    raw = os.urandom(16 * count).hex()
    ids = []
    for start in range(0, 32 * count, 32):
        h = raw[start : start + 32]
        # The version nibble is 4 and the variant's two high bits are 10 (RFC 9562).
        variant = "89ab"[int(h[16], 16) & 3]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}")
    return ids
