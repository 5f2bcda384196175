"""Firing a schedule rule (pure): which firings are due, which missed ones to catch up, and
the event and deliveries of one firing.

A firing is named by its rule and its *scheduled* time; everything else derives from that pair,
so every instance (and a backfill) computes the same event id, the same flexible-window moment
and the same claim::

    scheduled_event("arn:aws:events:local:000000000000:rule/nightly", at, event_id="6f1c...")
    → {"version": "0", "id": "6f1c...", "detail-type": "Scheduled Event",
       "source": "aws.events", "account": "000000000000", "time": "2027-01-01T02:00:00Z",
       "region": "local", "resources": ["arn:...:rule/nightly"], "detail": {}}
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import orjson

from eventbus.events import EVENT_TIME_FORMAT
from eventbus.router import Delivery, shape_delivery
from eventbus.schedule.zones import EARLIEST
from eventbus.settings import Settings, get_settings
from eventbus.transform import InputContext

if TYPE_CHECKING:
    from eventbus.config import BusRules, LoadedRule
    from eventbus.schedule.base import Schedule

__all__ = [
    "CatchUp",
    "fire_moment",
    "firing_id",
    "firings_between",
    "iso_ms",
    "scheduled_deliveries",
    "scheduled_event",
    "select_catch_up",
    "window_offset",
]

CatchUp = Literal["none", "latest", "all"]
# Ids of scheduled events are UUIDs named by (rule ARN, scheduled time) in this namespace.
_FIRING_NAMESPACE = uuid.UUID("0b6f3c1e-5d0a-4b8e-9a57-3f2f0c1d7e21")
_TICK = timedelta(microseconds=1)


def firing_id(rule_arn: str, scheduled: datetime) -> str:
    """The id of the event a firing sends: a fresh UUID per firing, yet the same on every
    instance, so a consumer can drop the rare duplicate of a taken-over firing by its id."""
    return str(uuid.uuid5(_FIRING_NAMESPACE, f"{rule_arn}@{scheduled.astimezone(UTC).isoformat()}"))


def window_offset(bus: str, rule: str, scheduled: datetime, window_minutes: int) -> timedelta:
    """Where in its flexible window a firing happens: uniform over [0, window), drawn from a
    hash of the firing rather than a random generator, so every instance agrees on the moment
    and the claim can be made at that moment (no firing waits, claimed, inside an instance)."""
    key = f"{bus}/{rule}@{int(scheduled.timestamp() * 1000)}".encode()
    draw = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return timedelta(milliseconds=draw % (window_minutes * 60_000))


def fire_moment(rule: LoadedRule, scheduled: datetime) -> datetime:
    """When the firing of ``scheduled`` happens: at it, or inside the rule's flexible window."""
    window = rule.model.flexible_time_window
    if window is None or window.mode != "FLEXIBLE" or not window.maximum_window_minutes:
        return scheduled
    return scheduled + window_offset(rule.bus, rule.name, scheduled, window.maximum_window_minutes)


def firings_between(
    schedule: Schedule, after: datetime, until: datetime, *, inclusive: bool = False
) -> Iterator[datetime]:
    """The firings strictly after ``after`` (on or after it when ``inclusive``) and on or
    before ``until``, in order."""
    # Before EARLIEST there are no firings to include, and ``after - _TICK`` could overflow.
    moment = schedule.next_after(after - _TICK if inclusive and after > EARLIEST else after)
    while moment is not None and moment <= until:
        yield moment
        moment = schedule.next_after(moment)


def select_catch_up(missed: list[datetime], policy: CatchUp) -> list[datetime]:
    """Which missed firings (in order) still fire: none, the most recent one, or all."""
    if policy == "all":
        return missed
    if policy == "latest":
        return missed[-1:]
    return []


def scheduled_event(
    rule_arn: str, scheduled: datetime, *, event_id: str, settings: Settings | None = None
) -> dict[str, Any]:
    """The event EventBridge sends for a scheduled rule, in its field order."""
    s = settings or get_settings()
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": s.account,
        "time": scheduled.astimezone(UTC).strftime(EVENT_TIME_FORMAT),
        "region": s.region,
        "resources": [rule_arn],
        "detail": {},
    }


def scheduled_deliveries(
    rule: LoadedRule,
    bus_rules: BusRules,
    scheduled: datetime,
    *,
    now_ms: int,
    settings: Settings | None = None,
    ingestion_time: str | None = None,
) -> list[Delivery]:
    """One delivery per target of ``rule`` for its firing at ``scheduled``, input shaped with
    EventBridge Scheduler's context attributes; ``now_ms`` is when the firing is queued
    (``ingestion_time`` is that moment as text, when the caller has it already).

    ``execution-id`` names the firing (it is the event's id) and ``attempt-number`` is 1: the
    payload is shaped once, when the firing is queued, and retries resend that payload.
    """
    event_id = firing_id(rule.arn, scheduled)
    event = scheduled_event(rule.arn, scheduled, event_id=event_id, settings=settings)
    text = orjson.dumps(event).decode()
    ctx = InputContext(
        rule_name=rule.name,
        rule_arn=rule.arn,
        ingestion_time=ingestion_time or iso_ms(now_ms),
        schedule_arn=rule.arn,
        scheduled_time=event["time"],
        execution_id=event_id,
        attempt_number=1,
    )
    # The event-age budget starts when the firing is queued, not at its scheduled time: a
    # backfilled firing from last month must still get its retries.
    return [
        shape_delivery(event, text, rule, target, bus_rules, ctx, since_ms=now_ms)
        for target in rule.targets
    ]


def iso_ms(ms: int) -> str:
    """``ms`` since the epoch as ISO 8601 UTC with milliseconds, like ingestion times."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
