"""The bus reader: read the buses, route each batch, record its deliveries and acknowledge it.

XREADGROUP ``routers`` over every partition of every bus the rules name (own pending entries
first, from ``0``, then new ones, ``>``); a whole batch is routed at once and its deliveries
written to the targets' queues in one Lua script that also XACKs the batch, so a bus entry is
acknowledged exactly when all its deliveries are recorded. The next batch is read while one is
being recorded. An entry that cannot be routed is dead-lettered on its own (``MALFORMED_EVENT``,
``EVENT_TOO_LARGE``, ``ROUTING_FAILED``) and its batch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from eventbus import keys
from eventbus.archives.capture import Capture, CaptureRecord, captures_of
from eventbus.config import BusRules, RuleSet
from eventbus.delivery import enqueue_deliveries, iso_ms
from eventbus.errors import MatchBudgetExceededError
from eventbus.lanes import Lane
from eventbus.loops.base import TRANSIENT, Loop
from eventbus.metrics import Metrics, Series
from eventbus.router import MATCH_BUDGET_EXCEEDED, Delivery, route
from eventbus.settings import Settings

if TYPE_CHECKING:
    from eventbus.patterns import Matcher

__all__ = [
    "EVENT_TOO_LARGE",
    "MALFORMED_EVENT",
    "ROUTING_FAILED",
    "BusReader",
    "BusRouting",
    "Routing",
    "RoutingLoop",
    "RoutingTable",
]

log = logging.getLogger("eventbus.worker")

MALFORMED_EVENT = "MALFORMED_EVENT"
EVENT_TOO_LARGE = "EVENT_TOO_LARGE"
ROUTING_FAILED = "ROUTING_FAILED"
# Room for the envelope around the largest entry PutEvents accepts (id, time, account, ...).
ENVELOPE_ALLOWANCE_BYTES = 8192

LaneKey = tuple[str, str, str]
# A batch's routing counts: (metric, bus, rule, target) → n.
Tally = dict[tuple[str, str, str, str], int]


@dataclass(frozen=True, slots=True)
class BusRouting:
    rules: BusRules
    matcher: Matcher


@dataclass(slots=True)
class RoutingTable:
    """A rule set ready to route: each bus's rules and matcher, and which stream is which bus."""

    ruleset: RuleSet
    buses: dict[str, BusRouting] = field(default_factory=dict)
    streams: dict[bytes, str] = field(default_factory=dict)
    # The archives of each bus that has any: captured in the step acknowledging its entries.
    captures: dict[str, Capture] = field(default_factory=dict)

    @classmethod
    def build(cls, ruleset: RuleSet) -> RoutingTable:
        table = cls(ruleset)
        if ruleset.archives:
            table.captures = captures_of(ruleset.archives.values())
        for name, bus_rules in ruleset.buses.items():
            table.buses[name] = BusRouting(bus_rules, ruleset.matcher(name))
            for stream in keys.bus_streams(name, bus_rules.config.partitions):
                table.streams[stream.encode()] = name
        return table


@dataclass(frozen=True, slots=True)
class Routing:
    """What the running rule set routes with and delivers through; replaced whole on reload."""

    table: RoutingTable
    lanes: dict[LaneKey, Lane] = field(default_factory=dict)
    by_queue: dict[bytes, Lane] = field(default_factory=dict)

    @classmethod
    def of(cls, table: RoutingTable, lanes: dict[LaneKey, Lane]) -> Routing:
        return cls(table, lanes, {lane.queue_bytes: lane for lane in lanes.values()})


class RoutingLoop(Loop):
    """A loop that follows the running rule set: the supervisor hands it each one."""

    def __init__(self, stop: asyncio.Event, *, every: float = 0.0, pause: float = 0.5) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.routing = Routing(RoutingTable(RuleSet()))

    def use(self, routing: Routing) -> None:
        self.routing = routing


class BusReader(RoutingLoop):
    name = "bus reader"

    def __init__(
        self,
        stop: asyncio.Event,
        redis: Redis,
        consumer: str,
        metrics: Metrics,
        settings: Settings,
        *,
        batch: int,
        block_ms: int,
        pause: float,
        on_missing_group: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(stop, pause=pause)
        self.redis, self.consumer, self.metrics, self.settings = redis, consumer, metrics, settings
        self.batch, self.block_ms = batch, block_ms
        self.on_missing_group = on_missing_group
        self.cursor: dict[bytes, bytes] = {}
        # The previous batch being recorded while the next one is read: the router would
        # otherwise sit idle for every round trip of a read and of a recording.
        self.recording: asyncio.Task[None] | None = None
        # The metrics series of (bus, rule, target), "" where a metric has no such label:
        # a lane's own, or made once per rule set for rule and bus counts.
        self.series: dict[LaneKey, Series] = {}
        # The hash field of each (metric, bus, rule, target) a batch tallies.
        self.counters: dict[tuple[str, str, str, str], str] = {}

    def use(self, routing: Routing) -> None:
        """Follow ``routing``, with the series of its lanes, rules and buses made now, once
        per rule set, rather than on the first event each of thousands of rules matches."""
        super().use(routing)
        self.series = {key: lane.series for key, lane in routing.lanes.items()}
        self.counters = {}
        for bus, routed in routing.table.buses.items():
            self._counter(("MatchedEvents", bus, "", ""))
            for rule in routed.rules.rules:
                self._counter(("TriggeredRules", bus, rule, ""))

    def _counter(self, key: tuple[str, str, str, str]) -> str:
        field = self.counters.get(key)
        if field is None:
            name, bus, rule, target = key
            field = self.counters[key] = self._series((bus, rule, target)).counter(name)
        return field

    def _series(self, key: LaneKey) -> Series:
        series = self.series.get(key)
        if series is None:
            lane = self.routing.lanes.get(key)
            if lane is not None:
                series = lane.series
            else:  # a rule's or a bus's: labels made directly, thousands of them at times
                names = ("bus", "rule", "target")  # (sorted, as labels_of sorts them)
                series = Series(tuple((k, v) for k, v in zip(names, key, strict=True) if v))
            self.series[key] = series
        return series

    async def step(self) -> None:
        table = self.routing.table
        if not table.streams:
            await self.sleep(self.block_ms / 1000)
            return
        cursor = self.cursor
        ids = {s: cursor.setdefault(s, b"0") for s in table.streams}
        reply = await self.redis.xreadgroup(
            keys.ROUTER_GROUP,
            self.consumer,
            ids,  # type: ignore[arg-type]
            count=self.batch,
            block=self.block_ms,
        )
        self.reached_redis()
        _advance(cursor, ids, reply)
        self.recording, previous = None, self.recording
        if previous is not None:
            await previous
        if reply:
            self.recording = asyncio.create_task(self.route_entries(table, reply))

    async def recover(self, error: Exception) -> None:
        recording, self.recording = self.recording, None
        await _finished(recording)
        # Re-read our own pending entries once Redis answers again: nothing is skipped.
        self.cursor.clear()
        if isinstance(error, ResponseError) and "NOGROUP" in str(error):
            await self.on_missing_group()

    async def finish(self) -> None:
        recording, self.recording = self.recording, None
        await _finished(recording)

    async def route_entries(self, table: RoutingTable, reply: Iterable[Any]) -> None:
        """Route a read batch and record its deliveries, acknowledging it in the same step."""
        deliveries: list[Delivery] = []
        acks = []
        captured: list[CaptureRecord] = []
        tally: Tally = {}
        for stream, entries in reply:
            bus_name = table.streams.get(stream)
            if bus_name is None:
                continue  # a stream the rules no longer read: left pending for a claimer
            capture = table.captures.get(bus_name)
            for entry_id, fields in entries:
                if fields:
                    routed = self._route_entry(table, bus_name, entry_id, fields)
                    _tally_routed(tally, bus_name, routed)
                    deliveries.extend(routed)
                    if capture is not None:
                        captured += capture.records(stream, entry_id, fields)
            acks.append((stream.decode(), keys.ROUTER_GROUP, [e for e, _ in entries]))
        field = self.counters.get
        self.metrics.add_fields([(field(key) or self._counter(key), n) for key, n in tally.items()])
        if acks:
            try:
                made = await enqueue_deliveries(
                    self.redis, deliveries, ack=acks, inline=self._inline, captures=captured
                )
            except (*TRANSIENT, RedisError):
                raise
            except Exception:  # a bug recording some entry: find it rather than block the batch
                made = await self._record_one_by_one(table, reply)
            if made:
                self._count_inline(made)

    async def _record_one_by_one(self, table: RoutingTable, reply: Iterable[Any]) -> list[Delivery]:
        """Record a batch entry by entry; an entry whose deliveries cannot be recorded is
        dead-lettered (``ROUTING_FAILED``) and acknowledged, so it does not hold up its
        partition. What was made inline is returned."""
        made: list[Delivery] = []
        for stream, entries in reply:
            bus_name = table.streams.get(stream)
            if bus_name is None:
                continue
            for entry_id, fields in entries:
                ack = [(stream.decode(), keys.ROUTER_GROUP, [entry_id])]
                routed = self._route_entry(table, bus_name, entry_id, fields) if fields else []
                capture = table.captures.get(bus_name)
                captured = capture.records(stream, entry_id, fields) if capture and fields else []
                try:
                    made += await enqueue_deliveries(
                        self.redis, routed, ack=ack, inline=self._inline, captures=captured
                    )
                except (*TRANSIENT, RedisError):
                    raise
                except Exception as e:
                    self.item_failed(f"recording event {entry_id.decode()}", e)
                    since_ms = _id_ms(entry_id)
                    letter = _rejected(table.buses[bus_name], fields, since_ms,
                                       ROUTING_FAILED, repr(e))  # fmt: skip
                    await enqueue_deliveries(self.redis, [letter], ack=ack)
        return made

    def _inline(self, delivery: Delivery) -> Sequence[str | bytes | int] | None:
        """The command that makes ``delivery`` right away on the bus's Redis, when its target
        has one (see :func:`eventbus.delivery.enqueue_deliveries`); a target that fails to
        give it has the delivery go through its queue instead."""
        lane = self.routing.lanes.get((delivery.bus, delivery.rule, delivery.target_id))
        if lane is None or lane.inline_command is None:
            return None
        try:
            return lane.inline_command(delivery)
        except Exception as e:
            self.item_failed(f"inline delivery {delivery.delivery_id}", e)
            return None

    def _count_inline(self, made: list[Delivery]) -> None:
        """The metrics of deliveries made inline: one successful first attempt each."""
        now_ms = time.time() * 1000
        known, series = self.series.get, self._series
        pairs = []
        for d in made:
            key = (d.bus, d.rule, d.target_id)
            pairs.append((known(key) or series(key), now_ms - d.since_ms))
        self.metrics.first_attempts_succeeded(pairs, now_ms / 1000)

    def _route_entry(
        self, table: RoutingTable, bus_name: str, entry_id: bytes, fields: dict[bytes, bytes]
    ) -> list[Delivery]:
        routing = table.buses[bus_name]
        since_ms = _id_ms(entry_id)
        raw = fields.get(b"event")
        if raw is None:
            return [_rejected(routing, fields, since_ms, MALFORMED_EVENT, "no `event` field")]
        if len(raw) > self.settings.max_entry_bytes + ENVELOPE_ALLOWANCE_BYTES:
            message = f"the event is {len(raw)} bytes, past the limit"
            return [_rejected(routing, fields, since_ms, EVENT_TOO_LARGE, message)]
        try:
            event = orjson.loads(raw)
            hops = int(fields.get(b"hops", b"0"))
            if not isinstance(event, dict) or not isinstance(event.get("id"), str):
                raise ValueError("the event is not an object with an `id`")
            ingested = fields.get(b"ingested")
            return route(
                event,
                routing.rules,
                matcher=routing.matcher,
                event_text=raw.decode(),
                hops=hops,
                ingestion_time=ingested.decode() if ingested else iso_ms(since_ms / 1000),
                since_ms=since_ms,
                settings=self.settings,
            )
        except MatchBudgetExceededError as e:
            return [_rejected(routing, fields, since_ms, MATCH_BUDGET_EXCEEDED, str(e))]
        except (ValueError, UnicodeDecodeError) as e:
            return [_rejected(routing, fields, since_ms, MALFORMED_EVENT, str(e))]
        except Exception as e:  # never let one event stop the router
            self.item_failed(f"routing event {entry_id.decode()}", e)
            return [_rejected(routing, fields, since_ms, ROUTING_FAILED, repr(e))]


async def _finished(task: asyncio.Task[None] | None) -> None:
    """Wait for ``task``; a Redis error in it leaves its batch pending, to be read again."""
    if task is not None:
        with contextlib.suppress(*TRANSIENT, ResponseError):
            await task


def _tally_routed(tally: Tally, bus: str, routed: list[Delivery]) -> None:
    """Count an event's routing: (metric, bus, rule, target), the labels a metric lacks empty.
    (A plain dict: a Counter's missing keys cost a Python call each, one per rule a batch
    matched.)"""
    rules = {d.rule for d in routed if d.rule}
    if not rules:
        return
    key: tuple[str, str, str, str] = ("MatchedEvents", bus, "", "")
    tally[key] = tally.get(key, 0) + 1
    for rule in rules:
        key = ("TriggeredRules", bus, rule, "")
        tally[key] = tally.get(key, 0) + 1
    for d in routed:
        if d.error_code:
            key = ("DeadLetterInvocations", bus, d.rule, d.target_id)
            tally[key] = tally.get(key, 0) + 1


def _advance(cursor: dict[bytes, bytes], ids: dict[bytes, bytes], reply: Any) -> None:
    """Move each stream's read position: through our pending entries, then to new ones."""
    got = {stream: entries for stream, entries in reply or []}
    for stream, position in ids.items():
        if position == b">":
            continue
        entries = got.get(stream)
        cursor[stream] = entries[-1][0] if entries else b">"


def _rejected(
    routing: BusRouting, fields: dict[bytes, bytes], since_ms: int, code: str, message: str
) -> Delivery:
    """A bus entry that cannot be routed: a dead letter of the bus, with the entry as it is."""
    raw = fields.get(b"event")
    text = (
        raw.decode(errors="replace")
        if raw is not None
        else orjson.dumps(
            {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
        ).decode()
    )
    log.warning("bus entry rejected", extra={"fields": {"bus": routing.rules.name, "code": code,
                                                        "error": message}})  # fmt: skip
    bus_rules = routing.rules
    default = bus_rules.config.dead_letter
    stream = default.stream if default else keys.bus_dead_letters(bus_rules.name)
    return Delivery(bus_rules.name, "", "", "", "", "", text, None, 0, since_ms, stream,
                    code, message)  # fmt: skip


def _id_ms(entry_id: bytes) -> int:
    try:
        return int(entry_id.split(b"-", 1)[0])
    except ValueError:
        return int(time.time() * 1000)
