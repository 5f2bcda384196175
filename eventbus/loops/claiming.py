"""The claimer: takes over bus and queue entries another router held for ``claim_idle`` (a
router that died), and keeps the deliveries this router holds from looking idle."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from eventbus import keys
from eventbus.gateway.health import HEARTBEAT_INTERVAL_SECONDS
from eventbus.lanes import Lane
from eventbus.loops.base import TRANSIENT
from eventbus.loops.delivering import QueueReader
from eventbus.loops.routing import BusReader, Routing, RoutingLoop

__all__ = ["Claimer"]

log = logging.getLogger("eventbus.worker")

# Lanes whose queues are claimed in one pipelined round trip.
QUEUE_CLAIMS_PER_ROUND_TRIP = 500
SCAN_COUNT = 2000  # keys a SCAN call looks at


class Claimer(RoutingLoop):
    """Every ``claim_idle / 3`` seconds (at most 10 s): heartbeat what is held, then claim; each
    stream is claimed on its own, so one that fails is skipped until the next round.

    The bus partitions (few) are claimed every round. The delivery queues (one per lane, up to
    thousands) are claimed only while watched: a live router keeps its held entries fresh, so
    only entries held when a lane starts here (by a router that died before, or by this one's
    previous run) and those of a router whose heartbeat in ``eb:routers`` went stale can need
    taking over. For the lanes new to this router (all at start, those a reload adds), and for
    every lane when a router dies, one XPENDING summary per queue finds the queues holding such
    entries; each is then claimed every round until what it held is idle past ``claim_idle``
    (one more round after that), with the queues a lane failed to take entries from
    (:attr:`QueueReader.lapsed`). An idle round costs one ZRANGEBYSCORE, not one call per lane.
    """

    name = "claimer"
    # The readers first take back their own pending entries after a restart.
    waits_first = True

    def __init__(
        self,
        stop: asyncio.Event,
        redis: Redis,
        consumer: str,
        bus_reader: BusReader,
        queue_reader: QueueReader,
        retiring: Mapping[Lane, object],
        *,
        claim_idle: float,
        batch: int,
        pause: float,
    ) -> None:
        super().__init__(stop, every=max(min(claim_idle / 3, 10.0), 0.05), pause=pause)
        self.redis, self.consumer = redis, consumer
        self.bus_reader, self.queue_reader = bus_reader, queue_reader
        self.retiring = retiring  # lanes the rules dropped, still finishing what they hold
        self.claim_idle, self.batch = claim_idle, batch
        # A router silent this long has held nothing fresh for ``claim_idle``: its last
        # heartbeat, then at most one more round of keeping its entries fresh.
        self.dead_after = claim_idle + HEARTBEAT_INTERVAL_SECONDS + self.every
        self._taken_over: set[str] = set()  # dead routers whose queues were looked at
        # Lanes new to this router (all at start, those a reload adds): their queues may hold
        # entries a router gone before left, looked for once.
        self._new_lanes: dict[bytes, Lane] = {}
        # Queues holding entries another router (or this one's previous run) may have left,
        # and since when: claimed every round until those are idle past claim_idle.
        self.watched: dict[bytes, float] = {}
        # When the previous round claimed the watched queues (monotonic clock).
        self._claimed_at = 0.0

    def use(self, routing: Routing) -> None:
        old = self.routing.by_queue
        self._new_lanes.update((q, lane) for q, lane in routing.by_queue.items() if q not in old)
        super().use(routing)

    def created(self, queues: Iterable[bytes]) -> None:
        """``queues`` got their consumer group just now: nothing in them was ever held, so
        they need no look (a start on a new Redis creates every queue, 10,000 XPENDING calls
        saved with 10,000 rules)."""
        for queue in queues:
            self._new_lanes.pop(queue, None)

    async def run(self) -> None:
        # The queues held at start are looked for at once (claims wait a round: waits_first),
        # while start-up is busy anyway, rather than in the first idle round.
        try:
            await self._look_at_new_lanes()
        except Exception as e:  # the first round looks again
            self.item_failed("looking for held queues", e)
        await super().run()

    async def _look_at_new_lanes(self) -> None:
        by_queue = self.routing.by_queue
        lanes = [lane for q, lane in self._new_lanes.items() if by_queue.get(q) is lane]
        if len(lanes) > QUEUE_CLAIMS_PER_ROUND_TRIP:
            # Many lanes (a start with thousands of rules): only a queue that exists can hold
            # entries, and a few SCAN calls find them, where a call per lane would cost the
            # router what the rules do (lanes delivered inline may have no queue at all).
            found = {key if isinstance(key, bytes) else key.encode()
                     async for key in self.redis.scan_iter(
                         match=keys.delivery_queue("*", "*", "*"), count=SCAN_COUNT,
                         _type="stream")}
            lanes = [lane for lane in lanes if lane.queue_bytes in found]
        await self.watch_held_queues(set(), lanes)
        self._new_lanes.clear()

    async def step(self) -> None:
        try:
            await self.keep_held()
        except TRANSIENT:
            raise
        except Exception as e:
            self.item_failed("keeping held deliveries", e)
        await self.claim_bus_entries()
        if self._new_lanes:
            await self._look_at_new_lanes()
        dead = await self._newly_dead()
        if dead:
            await self.watch_held_queues(dead, self.routing.lanes.values())
        await self._claim_watched()

    async def _claim_watched(self) -> None:
        """Claim the watched queues and those whose entries one of our lanes failed to take,
        until a round has claimed them with what they held idle past ``claim_idle`` (and a
        round's length more), then they are forgotten. The test is on when the previous round
        ran, not on the clock now: a round that comes late (a loaded machine) still claims what
        turned idle since, where a window of one round's length could be stepped over."""
        now, previous = time.monotonic(), self._claimed_at
        for watched in (self.watched, self.queue_reader.lapsed):
            for queue, since in list(watched.items()):
                if previous - since > self.claim_idle + self.every:
                    del watched[queue]
        by_queue = self.routing.by_queue
        queues = self.watched.keys() | self.queue_reader.lapsed.keys()
        await self.claim_queue_entries([by_queue[q] for q in queues if q in by_queue])
        self._claimed_at = now

    async def _newly_dead(self) -> set[str]:
        """The routers found dead since the last round."""
        since = time.time() - self.dead_after
        members = await self.redis.zrangebyscore(keys.ROUTERS, "-inf", since)
        dead = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
        dead.discard(self.consumer)
        newly = dead - self._taken_over
        self._taken_over = dead
        if newly:
            names = sorted(newly)
            log.warning("taking over dead routers' queues", extra={"fields": {"routers": names}})
        return newly

    async def watch_held_queues(self, holders: set[str], among: Iterable[Lane]) -> None:
        """Watch the queues of the lanes ``among`` holding entries of ``holders`` (of anyone,
        when empty): one XPENDING summary per queue, ``QUEUE_CLAIMS_PER_ROUND_TRIP`` to a round
        trip."""
        lanes = list(among)
        now = time.monotonic()
        for start in range(0, len(lanes), QUEUE_CLAIMS_PER_ROUND_TRIP):
            chunk = lanes[start : start + QUEUE_CLAIMS_PER_ROUND_TRIP]
            async with self.redis.pipeline(transaction=False) as pipe:
                for lane in chunk:
                    pipe.xpending(lane.queue_bytes, keys.DELIVERY_GROUP)
                replies = await pipe.execute(raise_on_error=False)
            for lane, reply in zip(chunk, replies, strict=True):
                if isinstance(reply, TRANSIENT):
                    raise reply
                if isinstance(reply, Exception):  # its group is gone, say: the reader recreates it
                    self.item_failed(f"looking at queue {lane.queue}", reply)
                elif _holds(reply, holders):
                    self.watched[lane.queue_bytes] = now

    async def keep_held(self) -> None:
        """XCLAIM (JUSTID) what we hold, which resets its idle time: a slow delivery of ours
        is not taken for the work of a dead router."""
        lanes = [lane for lane in (*self.routing.lanes.values(), *self.retiring) if lane.held]
        if not lanes:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in lanes:
                pipe.xclaim(lane.queue, keys.DELIVERY_GROUP, self.consumer, 0,
                            list(lane.held), justid=True)  # fmt: skip
            await pipe.execute()

    async def claim_idle_entries(self) -> None:
        """Take over bus and queue entries another consumer has held for ``claim_idle``."""
        await self.claim_bus_entries()
        await self.claim_queue_entries()

    async def claim_bus_entries(self) -> None:
        """Take over bus entries another consumer has held for ``claim_idle``."""
        routing = self.routing
        for stream in routing.table.streams:
            try:
                entries = await self._autoclaim(stream, keys.ROUTER_GROUP)
                if entries:
                    await self.bus_reader.route_entries(routing.table, [(stream, entries)])
            except TRANSIENT:
                raise
            except Exception as e:
                self.item_failed(f"claiming bus stream {stream.decode()}", e)

    async def claim_queue_entries(self, lanes: Iterable[Lane] | None = None) -> None:
        """Take over delivery-queue entries (of ``lanes``, default all) another consumer has
        held for ``claim_idle``."""
        chosen = list(self.routing.lanes.values() if lanes is None else lanes)
        # One round trip per QUEUE_CLAIMS_PER_ROUND_TRIP lanes, not one per lane: in a sweep of
        # thousands of lanes nearly every answer is empty.
        for start in range(0, len(chosen), QUEUE_CLAIMS_PER_ROUND_TRIP):
            chunk = chosen[start : start + QUEUE_CLAIMS_PER_ROUND_TRIP]
            async with self.redis.pipeline(transaction=False) as pipe:
                for lane in chunk:
                    pipe.xautoclaim(lane.queue_bytes, keys.DELIVERY_GROUP, self.consumer,
                                    int(self.claim_idle * 1000), start_id="0-0",
                                    count=self.batch)  # fmt: skip
                replies = await pipe.execute(raise_on_error=False)
            for lane, reply in zip(chunk, replies, strict=True):
                try:
                    await self._take_over(lane, reply)
                except TRANSIENT:
                    raise
                except Exception as e:
                    self.item_failed(f"claiming queue {lane.queue}", e)

    async def _take_over(self, lane: Lane, reply: Any) -> None:
        """Hand what one XAUTOCLAIM of ``lane``'s queue took to the lane (less what it holds)."""
        if isinstance(reply, Exception):
            raise reply
        entries = [e for e in reply[1] if e[0] is not None]
        if reply[0] not in (b"0-0", "0-0"):  # more than one batch: the rest now
            entries += await self._autoclaim(lane.queue_bytes, keys.DELIVERY_GROUP, reply[0])
        elif entries:
            where = {"stream": lane.queue, "count": len(entries)}
            log.warning("claimed idle entries", extra={"fields": where})
        if entries:
            held = self._held(lane.queue)
            fresh = [e for e in entries if e[0] not in held]
            self.queue_reader.dispatch([(lane.queue_bytes, fresh)])

    def _held(self, queue: str) -> set[bytes]:
        lanes = (*self.routing.lanes.values(), *self.retiring)
        return {e for lane in lanes if lane.queue == queue for e in lane.held}

    async def _autoclaim(self, stream: bytes, group: str, start: bytes | str = "0-0") -> list[Any]:
        """Entries idle past ``claim_idle``, claimed for us. Redis 6.2 answers [cursor, entries]
        (deleted entries as nil), Redis 7 [cursor, entries, deleted ids]: both are read."""
        min_idle = int(self.claim_idle * 1000)
        claimed: list[Any] = []
        for _ in range(100):  # bounded: a huge backlog is taken over a few rounds
            reply = await self.redis.xautoclaim(
                stream, group, self.consumer, min_idle, start_id=start, count=self.batch
            )
            start, entries = reply[0], reply[1]
            claimed.extend(e for e in entries if e[0] is not None)
            if start in (b"0-0", "0-0"):
                break
        if claimed:
            where = {"stream": stream.decode(), "count": len(claimed)}
            log.warning("claimed idle entries", extra={"fields": where})
        return claimed


def _holds(summary: Any, holders: set[str]) -> bool:
    """Whether an XPENDING summary counts entries of ``holders`` (of anyone, when empty)."""
    if not summary or not summary.get("pending"):
        return False
    if not holders:
        return True
    names = {c["name"] for c in summary.get("consumers") or []}
    return any((n.decode() if isinstance(n, bytes) else str(n)) in holders for n in names)
