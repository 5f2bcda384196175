"""The router process: read the buses, route, hand deliveries to their lanes, deliver.

One asyncio loop runs these tasks, all on one Redis:

- **bus reader**: XREADGROUP ``routers`` over every partition of every bus the rules name (own
  pending entries first, from ``0``, then new ones, ``>``); a whole batch is routed at once and
  its deliveries written to the targets' queues in one Lua script that also XACKs the batch, so a
  bus entry is acknowledged exactly when all its deliveries are recorded; the next batch is read
  while one is being recorded;
- **queue reader**: one XREADGROUP ``deliverers`` over the queues of every lane that has room,
  which also carries the acknowledgements of the deliveries finished since the last read; each
  entry is sent by its lane (:mod:`eventbus.lanes`), so a slow target fills only its own lane;
- **retry mover**: moves due retries back into their queues (one Lua script call per 100 lanes);
- **claimer**: XAUTOCLAIMs bus and queue entries idle longer than ``claim_idle`` (a router that
  died), and keeps the entries this router holds from looking idle;
- **reloader**: reloads the rules when a file changes or on SIGHUP; an invalid rule set is refused
  and logged, and the running one stays;
- **trimmer**: applies each bus's retention (:func:`eventbus.bus.trim`).
- **scheduler**: fires the running rule set's schedule rules (:mod:`eventbus.scheduler`);
- **metrics**: routing and delivery counts, kept in memory and added to Redis every second
  (:mod:`eventbus.metrics`).

With ``http`` (``eventbus run --http PORT``) the gateway is served in the same loop and sees
each reloaded rule set.

SIGTERM stops the readers, lets held deliveries finish (for ``shutdown_grace`` seconds; what is
left stays pending and is claimed by another router), acknowledges, and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventbus import bus as bus_ops
from eventbus import keys
from eventbus.autopipe import AutoPipelineRedis, use_hiredis_packing
from eventbus.client import AsyncEventBusClient
from eventbus.config import BusRules, RuleSet, load_rules
from eventbus.delivery import (
    ack,
    enqueue_deliveries,
    ensure_group,
    finish,
    iso_ms,
    move_due_retries,
)
from eventbus.errors import BusError, MatchBudgetExceededError, RuleFileError
from eventbus.lanes import AckBuffer, Deliverer, Lane, Outcome
from eventbus.metrics import Metrics, labels_of
from eventbus.router import MATCH_BUDGET_EXCEEDED, Delivery, route
from eventbus.scheduler import Clock, run_scheduler
from eventbus.settings import Settings, get_settings
from eventbus.targets import load_target_class
from eventbus.targets.base import TargetServices

if TYPE_CHECKING:
    from eventbus.gateway.state import Gateway
    from eventbus.patterns import Matcher

__all__ = [
    "DEFAULT_CLAIM_IDLE_SECONDS",
    "EVENT_TOO_LARGE",
    "MALFORMED_EVENT",
    "HttpOptions",
    "Router",
    "RouterOptions",
    "configure_logging",
    "run_router",
]

log = logging.getLogger("eventbus.worker")

DEFAULT_CLAIM_IDLE_SECONDS = 30.0
MALFORMED_EVENT = "MALFORMED_EVENT"
EVENT_TOO_LARGE = "EVENT_TOO_LARGE"
ROUTING_FAILED = "ROUTING_FAILED"
# Room for the envelope around the largest entry PutEvents accepts (id, time, account, ...).
ENVELOPE_ALLOWANCE_BYTES = 8192
# What a Redis outage looks like to the loops: they wait and try again.
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, BusError, OSError)


@dataclass(frozen=True, slots=True)
class RouterOptions:
    """How a router runs; every default has a name here."""

    claim_idle: float = DEFAULT_CLAIM_IDLE_SECONDS  # reclaim entries idle this long (s)
    consumer: str = ""  # consumer name in both groups; default <host>-<pid>
    bus_batch: int = 1000  # bus entries per XREADGROUP (per partition)
    queue_batch: int = 200  # queue entries per XREADGROUP (per lane)
    concurrency: int = 64  # deliveries in flight per lane
    block_ms: int = 100  # how long a read waits for new entries
    retry_poll: float = 0.1  # how often due retries are moved back (s)
    reload_poll: float = 1.0  # how often rule files are checked for changes (s)
    trim_interval: float = 10.0  # how often retention runs (s)
    shutdown_grace: float = 10.0  # how long SIGTERM waits for held deliveries (s)
    pause_on_error: float = 0.5  # wait after a Redis error before trying again (s)
    max_connections: int = 128  # Redis connections; past it, commands wait for a free one


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """The gateway a router also serves (``eventbus run --http PORT``)."""

    port: int
    host: str = "127.0.0.1"
    no_auth: bool = False
    credentials_file: str | None = None


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

    @classmethod
    def build(cls, ruleset: RuleSet) -> RoutingTable:
        table = cls(ruleset)
        for name, bus_rules in ruleset.buses.items():
            table.buses[name] = BusRouting(bus_rules, ruleset.matcher(name))
            for stream in keys.bus_streams(name, bus_rules.config.partitions):
                table.streams[stream.encode()] = name
        return table


class Router:
    """One router process's work; ``await run()`` until ``stop()``."""

    def __init__(
        self,
        redis: Redis,
        rules_path: str | Path,
        options: RouterOptions | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis
        self.clock = clock  # the scheduler's; None: the system clock
        self.rules_path = Path(rules_path)
        self.options = options or RouterOptions()
        self.settings = settings or get_settings()
        self.consumer = self.options.consumer or f"{socket.gethostname()}-{os.getpid()}"
        # Targets share one auto-pipelining client: their many small commands in one round trip.
        self.target_redis = AutoPipelineRedis(connection_pool=redis.connection_pool)
        self.publisher = AsyncEventBusClient(redis, settings=self.settings)
        self.acks = AckBuffer()
        self.metrics = Metrics(redis)
        self.deliverer = Deliverer(
            redis,
            self.acks,
            on_outcome=self._publish_outcome,
            target_redis=self.target_redis,
            metrics=self.metrics,
        )
        self.table = RoutingTable(RuleSet())
        self.gateway: Gateway | None = None  # the gateway served alongside, told of reloads
        self.gateway_port: int | None = None  # the port it listens on
        self.lanes: dict[tuple[str, str, str], Lane] = {}
        self.by_queue: dict[bytes, Lane] = {}
        self.retiring: dict[Lane, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._reload_now = asyncio.Event()
        self._room = asyncio.Event()
        self._rules_signature: tuple[Any, ...] = ()

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop reading; ``run`` returns once held work is finished or handed back."""
        self._stopping.set()

    def request_reload(self) -> None:
        """Reload the rules at the next poll (SIGHUP)."""
        self._reload_now.set()

    async def start(self) -> None:
        """Load the rules (``RuleFileError`` when they are invalid) and prepare Redis."""
        self._rules_signature = _signature(self.rules_path)
        ruleset = load_rules(self.rules_path, settings=self.settings)
        while True:
            try:
                await self._apply(ruleset)
                return
            except _TRANSIENT as e:  # Redis not up yet, or restarting: wait for it
                if self._stopping.is_set():
                    raise
                log.warning("starting: Redis unavailable (%s); trying again", e)
                await asyncio.sleep(self.options.pause_on_error)

    async def run(self) -> None:
        if not self.lanes and not self.table.buses:
            await self.start()
        loops = [self._bus_loop(), self._queue_loop(), self._scheduler_loop()]
        helpers = [self._retry_loop(), self._claim_loop(), self._reload_loop(), self._trim_loop(),
                   self._liveness_loop()]  # fmt: skip
        readers = [asyncio.create_task(c) for c in loops]
        self.metrics.start()
        background = [asyncio.create_task(c) for c in helpers]
        log.info("router started", extra={"fields": {"consumer": self.consumer}})
        await self._stopping.wait()
        # The loops see the stop themselves: cancelling them inside a redis-py call can leave
        # the cancellation swallowed and the loop running.
        await asyncio.gather(*readers, *background, return_exceptions=True)
        await self._finish()

    async def _scheduler_loop(self) -> None:
        """Fire the schedule rules of the running rule set (see :mod:`eventbus.scheduler`)."""
        fire = run_scheduler(self.redis, lambda: self.table.ruleset, stop=self._stopping,
                             clock=self.clock, consumer=self.consumer, settings=self.settings,
                             claim_idle=self.options.claim_idle)  # fmt: skip
        await self._guard("scheduling", fire)

    async def _finish(self) -> None:
        lanes = [*self.lanes.values(), *self.retiring]
        await asyncio.gather(*(lane.drain(self.options.shutdown_grace) for lane in lanes))
        with contextlib.suppress(*_TRANSIENT, RedisError):
            await self._flush_acks()
        await asyncio.gather(*(lane.close() for lane in lanes))
        await self.metrics.aclose()
        log.info("router stopped", extra={"fields": {"consumer": self.consumer}})

    # --- rules ------------------------------------------------------------------------------

    async def _apply(self, ruleset: RuleSet) -> None:
        """Make ``ruleset`` the running one: buses registered, groups created, lanes reconciled."""
        table = RoutingTable.build(ruleset)
        await self._prepare_redis(table)
        lanes: dict[tuple[str, str, str], Lane] = {}
        for bus_name, rule, target in ruleset.deliveries():
            bus_rules = ruleset.buses[bus_name]
            old = self.lanes.get((bus_name, rule.name, target.id))
            if old is not None and old.target.spec == target.spec:
                old.refresh(bus_rules, rule, target)
                lanes[old.key] = old
                continue
            lane = self._make_lane(bus_rules, rule, target)
            if lane is not None:
                lanes[lane.key] = lane
        retired = [lane for key, lane in self.lanes.items() if lanes.get(key) is not lane]
        self.table, self.lanes = table, lanes
        if self.gateway is not None:
            self.gateway.rules = ruleset
        self.by_queue = {lane.queue_bytes: lane for lane in lanes.values()}
        for lane in retired:
            self.retiring[lane] = asyncio.create_task(self._retire(lane))

    async def _prepare_redis(self, table: RoutingTable) -> None:
        for name, routing in table.buses.items():
            cfg = routing.rules.config
            config = {"partitions": cfg.partitions, "max_len": cfg.max_len,
                      "max_age_seconds": cfg.max_age_seconds}  # fmt: skip
            await bus_ops.run_async(self.redis, bus_ops.register_bus(name, config))
        streams = [s.decode() for s in table.streams]
        if streams:
            await bus_ops.run_async(self.redis, bus_ops.ensure_groups(streams))
        for bus_name, rule, target in table.ruleset.deliveries():
            await ensure_group(self.redis, keys.delivery_queue(bus_name, rule.name, target.id))

    def _make_lane(self, bus_rules: BusRules, rule: Any, target: Any) -> Lane | None:
        services = TargetServices(
            redis=self.target_redis,
            publish=self.publisher.put_events,
            target_id=target.id,
            rule=rule.name,
            bus=bus_rules.name,
        )
        try:
            instance = load_target_class(target.type)(target.config, services)
        except Exception:
            log.exception("target %s of rule %s cannot be built; its deliveries wait in its queue",
                          target.id, rule.name)  # fmt: skip
            return None
        lane = Lane(bus_rules, rule, target, instance, self.options.concurrency)
        lane.on_free = self._room.set
        return lane

    async def _retire(self, lane: Lane) -> None:
        """A lane the new rules dropped or changed: its held deliveries finish, then it closes."""
        try:
            await lane.drain()
            await lane.close()
        finally:
            self.retiring.pop(lane, None)

    async def reload(self) -> bool:
        """Load the rule files again; keep the running rules when the new ones are invalid."""
        self._rules_signature = _signature(self.rules_path)
        try:
            ruleset = await asyncio.to_thread(load_rules, self.rules_path, settings=self.settings)
        except RuleFileError as e:
            for problem in e.problems:
                log.error("rules refused, the running rules stay: %s", problem)
            return False
        await self._apply(ruleset)
        log.warning("rules reloaded", extra={"fields": {"lanes": len(self.lanes)}})
        return True

    async def _ticks(self, interval: float) -> AsyncIterator[None]:
        """Yield every ``interval`` seconds until the router stops."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if not self._stopping.is_set():
                yield

    async def _reload_loop(self) -> None:
        async for _ in self._ticks(self.options.reload_poll):
            requested = self._reload_now.is_set()
            self._reload_now.clear()
            if requested or _signature(self.rules_path) != self._rules_signature:
                await self._guard("reloading rules", self.reload())

    # --- bus side ---------------------------------------------------------------------------

    async def _bus_loop(self) -> None:
        cursor: dict[bytes, bytes] = {}
        # The previous batch being recorded while the next one is read: the router would
        # otherwise sit idle for every round trip of a read and of a recording.
        recording: asyncio.Task[None] | None = None
        while not self._stopping.is_set():
            table = self.table
            if not table.streams:
                await asyncio.sleep(self.options.block_ms / 1000)
                continue
            ids = {s: cursor.setdefault(s, b"0") for s in table.streams}
            try:
                reply = await self.redis.xreadgroup(
                    keys.ROUTER_GROUP,
                    self.consumer,
                    ids,  # type: ignore[arg-type]
                    count=self.options.bus_batch,
                    block=self.options.block_ms,
                )
                _advance(cursor, ids, reply)
                recording, previous = None, recording
                if previous is not None:
                    await previous
                if reply:
                    recording = asyncio.create_task(self.route_entries(table, reply))
            except (*_TRANSIENT, ResponseError) as e:
                await _finished(recording)
                recording = None
                # Re-read our own pending entries once Redis answers again: nothing is skipped.
                cursor.clear()
                await self._pause("reading the bus", e, table)
        await _finished(recording)

    async def route_entries(self, table: RoutingTable, reply: Iterable[Any]) -> None:
        """Route a read batch and record its deliveries, acknowledging it in the same step."""
        deliveries: list[Delivery] = []
        acks = []
        tally: Counter[tuple[str, str, str, str]] = Counter()
        for stream, entries in reply:
            bus_name = table.streams.get(stream)
            if bus_name is None:
                continue  # a stream the rules no longer read: left pending for a claimer
            for entry_id, fields in entries:
                if fields:
                    routed = self._route_entry(table, bus_name, entry_id, fields)
                    _tally_routed(tally, bus_name, routed)
                    deliveries.extend(routed)
            acks.append((stream.decode(), keys.ROUTER_GROUP, [e for e, _ in entries]))
        for (name, *values), n in tally.items():
            labels = {k: v for k, v in zip(("bus", "rule", "target"), values, strict=True) if v}
            self.metrics.count(name, n, **labels)
        if acks:
            made = await enqueue_deliveries(self.redis, deliveries, ack=acks, inline=self._inline)
            if made:
                self._count_inline(made)

    def _inline(self, delivery: Delivery) -> Sequence[str | bytes | int] | None:
        """The command that makes ``delivery`` right away on the bus's Redis, when its target
        has one (see :func:`eventbus.delivery.enqueue_deliveries`)."""
        lane = self.lanes.get((delivery.bus, delivery.rule, delivery.target_id))
        if lane is None or lane.inline_command is None:
            return None
        return lane.inline_command(delivery)

    def _count_inline(self, made: list[Delivery]) -> None:
        """The metrics of deliveries made inline: one successful first attempt each."""
        now_ms = time.time() * 1000
        latencies: dict[tuple[str, str, str], list[float]] = {}
        for d in made:
            latencies.setdefault((d.bus, d.rule, d.target_id), []).append(now_ms - d.since_ms)
        m = self.metrics
        for (bus, rule, target), values in latencies.items():
            series = labels_of(bus=bus, rule=rule, target=target)
            for name in ("InvocationAttempts", "SuccessfulInvocationAttempts", "Invocations"):
                m.add(name, series, len(values))
            m.observe_in("IngestionToInvocationStartLatency", series, values)
            m.observe_in("IngestionToInvocationSuccessLatency", series, values)

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
            log.exception("routing event %s failed", entry_id.decode())
            return [_rejected(routing, fields, since_ms, ROUTING_FAILED, repr(e))]

    # --- delivery side ----------------------------------------------------------------------

    async def _queue_loop(self) -> None:
        while not self._stopping.is_set():
            lanes = [lane for lane in self.lanes.values() if lane.wants_more()]
            if not lanes:
                await self._wait_for_room()
            acks = self.acks.take()
            streams = {lane.queue_bytes: b">" for lane in lanes}
            try:
                reply = await self._ack_and_read(acks, streams)
            except (*_TRANSIENT, ResponseError) as e:
                self._restore_acks(acks)
                await self._pause("reading the delivery queues", e, self.table)
                continue
            self._dispatch(reply or [])

    async def _wait_for_room(self) -> None:
        self._room.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), self.options.block_ms / 1000)

    async def _ack_and_read(
        self, acks: dict[str, list[bytes]], streams: dict[bytes, bytes]
    ) -> list[Any] | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue, ids in acks.items():
                finish(pipe, queue, ids)
            if streams:
                pipe.xreadgroup(
                    keys.DELIVERY_GROUP,
                    self.consumer,
                    streams,  # type: ignore[arg-type]
                    count=self.options.queue_batch,
                    block=self.options.block_ms,
                )
            if not acks and not streams:
                return None
            replies = await pipe.execute()
        return replies[-1] if streams else None

    def _restore_acks(self, acks: dict[str, list[bytes]]) -> None:
        for queue, ids in acks.items():
            for entry_id in ids:
                self.acks.add(queue, entry_id)

    def _dispatch(self, reply: Iterable[Any]) -> None:
        for stream, entries in reply:
            lane = self.by_queue.get(stream)
            if lane is None:
                continue
            todo = []
            for entry_id, fields in entries:
                if entry_id is None:
                    continue
                if not fields:  # deleted from the queue after it was read: nothing to send
                    self.acks.add(lane.queue, entry_id)
                    continue
                todo.append((entry_id, fields))
            lane.start(todo, self.deliverer)

    async def _flush_acks(self) -> None:
        acks = self.acks.take()
        if acks:
            await ack(self.redis, acks)

    async def _retry_loop(self) -> None:
        async for _ in self._ticks(self.options.retry_poll):
            pairs = [(lane.retries, lane.queue) for lane in self.lanes.values()]
            await self._guard("moving retries", move_due_retries(self.redis, pairs, _now_ms()))

    # --- claims -----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        interval = max(min(self.options.claim_idle / 3, 10.0), 0.05)
        async for _ in self._ticks(interval):
            await self._guard("keeping held deliveries", self._heartbeat())
            await self._guard("claiming idle entries", self.claim_idle_entries())

    async def _heartbeat(self) -> None:
        """XCLAIM (JUSTID) what we hold, which resets its idle time: a slow delivery of ours
        is not taken for the work of a dead router."""
        lanes = [lane for lane in (*self.lanes.values(), *self.retiring) if lane.held]
        if not lanes:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in lanes:
                pipe.xclaim(lane.queue, keys.DELIVERY_GROUP, self.consumer, 0,
                            list(lane.held), justid=True)  # fmt: skip
            await pipe.execute()

    async def claim_idle_entries(self) -> None:
        """Take over bus and queue entries another consumer has held for ``claim_idle``."""
        table = self.table
        for stream in table.streams:
            entries = await self._autoclaim(stream, keys.ROUTER_GROUP)
            if entries:
                await self.route_entries(table, [(stream, entries)])
        for lane in list(self.lanes.values()):
            entries = await self._autoclaim(lane.queue_bytes, keys.DELIVERY_GROUP)
            held = self._held(lane.queue)
            self._dispatch([(lane.queue_bytes, [e for e in entries if e[0] not in held])])

    def _held(self, queue: str) -> set[bytes]:
        lanes = (*self.lanes.values(), *self.retiring)
        return {e for lane in lanes if lane.queue == queue for e in lane.held}

    async def _autoclaim(self, stream: bytes, group: str) -> list[Any]:
        """Entries idle past ``claim_idle``, claimed for us. Redis 6.2 answers [cursor, entries]
        (deleted entries as nil), Redis 7 [cursor, entries, deleted ids]: both are read."""
        min_idle = int(self.options.claim_idle * 1000)
        start: bytes | str = "0-0"
        claimed: list[Any] = []
        for _ in range(100):  # bounded: a huge backlog is taken over a few rounds
            reply = await self.redis.xautoclaim(
                stream, group, self.consumer, min_idle, start_id=start, count=self.options.bus_batch
            )
            start, entries = reply[0], reply[1]
            claimed.extend(e for e in entries if e[0] is not None)
            if start in (b"0-0", "0-0"):
                break
        if claimed:
            where = {"stream": stream.decode(), "count": len(claimed)}
            log.warning("claimed idle entries", extra={"fields": where})
        return claimed

    # --- retention, outcomes, errors ---------------------------------------------------------

    async def _trim_loop(self) -> None:
        async for _ in self._ticks(self.options.trim_interval):
            for name in list(self.table.buses):
                await self._guard("trimming", bus_ops.run_async(self.redis, bus_ops.trim(name)))

    async def _liveness_loop(self) -> None:
        """Tell the gateway's /healthz this router is alive (``eb:routers``)."""
        from eventbus.gateway.health import HEARTBEAT_INTERVAL_SECONDS, record_router_heartbeat

        beat = record_router_heartbeat
        await self._guard("heartbeat", beat(self.redis, self.consumer))
        async for _ in self._ticks(HEARTBEAT_INTERVAL_SECONDS):
            await self._guard("heartbeat", beat(self.redis, self.consumer))

    async def _publish_outcome(self, outcome: Outcome) -> None:
        lane, record = outcome.lane, outcome.record
        detail: dict[str, Any] = {
            "bus": lane.bus_rules.name,
            "rule": lane.rule.name,
            "target": lane.target.id,
            "delivery-id": record.delivery_id,
            "event-id": record.event_id,
            "attempts": outcome.attempts,
        }
        if outcome.succeeded:
            detail["result"] = outcome.result if outcome.result is not None else {}
        else:
            detail["error-code"] = outcome.error_code
            detail["error-message"] = outcome.error_message
        entry = {
            "Source": "eventbus",
            "DetailType": "Delivery Succeeded" if outcome.succeeded else "Delivery Failed",
            "Detail": orjson.dumps(detail).decode(),
            "Resources": [lane.rule.arn],
            "EventBusName": lane.bus_rules.name,
        }
        await self.publisher.put_events([entry], hops=record.hops + 1)

    async def _guard(self, doing: str, work: Awaitable[Any]) -> None:
        """Run a periodic step; a Redis outage or a bug is logged and the loop goes on."""
        try:
            await work
        except _TRANSIENT as e:
            log.warning("%s: Redis unavailable (%s); trying again", doing, e)
        except Exception:
            log.exception("%s failed", doing)

    async def _pause(self, doing: str, error: Exception, table: RoutingTable) -> None:
        log.warning("%s: %s; trying again", doing, error)
        await asyncio.sleep(self.options.pause_on_error)
        if isinstance(error, ResponseError) and "NOGROUP" in str(error):
            await self._guard("creating consumer groups", self._prepare_redis(table))


async def _finished(task: asyncio.Task[None] | None) -> None:
    """Wait for ``task``; a Redis error in it leaves its batch pending, to be read again."""
    if task is not None:
        with contextlib.suppress(*_TRANSIENT, ResponseError):
            await task


def _tally_routed(
    tally: Counter[tuple[str, str, str, str]], bus: str, routed: list[Delivery]
) -> None:
    """Count an event's routing: (metric, bus, rule, target), the labels a metric lacks empty."""
    rules = {d.rule for d in routed if d.rule}
    if not rules:
        return
    tally["MatchedEvents", bus, "", ""] += 1
    for rule in rules:
        tally["TriggeredRules", bus, rule, ""] += 1
    for d in routed:
        if d.error_code:
            tally["DeadLetterInvocations", bus, d.rule, d.target_id] += 1


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
        return _now_ms()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _signature(path: Path) -> tuple[Any, ...]:
    """What changes when a rule file is edited, added or removed."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
    else:
        return ()
    out = []
    for p in files:
        with contextlib.suppress(OSError):
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


# --- logging and the process entry point ------------------------------------------------------


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_ms(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(verbose: bool = False) -> None:
    """JSON lines on standard error; warnings and errors only unless ``verbose``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger("eventbus")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


async def run_router(
    redis_url: str,
    rules_path: str | Path,
    options: RouterOptions | None = None,
    *,
    settings: Settings | None = None,
    ready: Callable[[Router], None] | None = None,
    http: HttpOptions | None = None,
) -> None:
    """Run a router until SIGTERM or SIGINT (SIGHUP reloads the rules), and with ``http`` the
    gateway too (``OSError`` when its port cannot be bound)."""
    options = options or RouterOptions()
    # A blocking pool: a burst of deliveries waits for a connection instead of failing.
    pool = BlockingConnectionPool.from_url(
        redis_url, max_connections=options.max_connections, timeout=None, health_check_interval=30
    )
    use_hiredis_packing(pool)
    redis = Redis(connection_pool=pool)
    router = Router(redis, rules_path, options, settings=settings)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, router.stop)
    loop.add_signal_handler(signal.SIGINT, router.stop)
    loop.add_signal_handler(signal.SIGHUP, router.request_reload)
    try:
        await router.start()
        gateway = await _start_gateway(router, redis_url, http) if http else None
        if ready is not None:
            ready(router)
        try:
            await router.run()
        finally:
            if gateway is not None:
                gateway.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gateway
    finally:
        await redis.aclose()


async def _start_gateway(router: Router, redis_url: str, http: HttpOptions) -> asyncio.Task[None]:
    """Serve the gateway in this loop; returns once it listens (raises when it cannot)."""
    from eventbus.gateway.server import serve_in_router

    listening = asyncio.Event()

    def attach(gateway: Gateway, port: int) -> None:
        router.gateway, router.gateway_port = gateway, port
        listening.set()

    task = asyncio.create_task(serve_in_router(
        router.table.ruleset, redis_url, port=http.port, host=http.host, no_auth=http.no_auth,
        credentials_file=http.credentials_file, ready=attach,
    ))  # fmt: skip
    waiter = asyncio.create_task(listening.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # the gateway could not start: its error
    where = {"host": http.host, "port": router.gateway_port}
    log.info("gateway listening", extra={"fields": where})
    return task
