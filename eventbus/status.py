"""What is going on, read from Redis for ``eventbus status``: buses and their backlog, each
target's queue, retries, dead letters and latest outcomes, schedules, and live routers.

Everything is read, nothing written; the result is plain data (``asdict`` gives the ``--json``
form)::

    report = await read_status(redis, ruleset)
    report.buses[0].backlog   # bus entries not yet routed
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from eventbus import bus as bus_ops
from eventbus import keys
from eventbus.config import RuleSet
from eventbus.delivery import dead_letters_of
from eventbus.gateway.health import ROUTER_STALE_SECONDS
from eventbus.metrics import labels_of
from eventbus.metrics_page import read_target_activity

__all__ = ["BusStatus", "RouterStatus", "ScheduleStatus", "Status", "TargetStatus", "read_status"]

# On Redis 6.2 (no consumer-group `lag`) the unread entries are counted by reading them, at
# most this many per partition.
COUNT_CAP = 10_000
# A dead-letter stream shared by several targets is scanned to count each one's letters, up to
# this many entries (past it, the counts are marked as estimates).
DEAD_LETTER_SCAN_CAP = 100_000


@dataclass(slots=True)
class BusStatus:
    name: str
    partitions: int
    backlog: int  # entries not yet routed: unread by any router, plus read and not finished
    unread: int
    in_progress: int
    estimate: bool  # True when ``unread`` was counted without the group's lag (Redis 6.2)
    routers: list[str]  # consumers of the routers group


@dataclass(slots=True)
class TargetStatus:
    bus: str
    rule: str
    target: str
    type: str
    state: str  # its rule's: ENABLED or DISABLED
    queue: int  # deliveries waiting in or being sent from its queue
    retries: int  # deliveries waiting for a retry
    dead_letters: int
    dead_letter_stream: str
    dead_letters_estimate: bool
    last_success: float | None  # epoch seconds
    last_error: dict[str, Any] | None  # {"time": epoch seconds, "error": "CODE: message"}


@dataclass(slots=True)
class ScheduleStatus:
    bus: str
    rule: str
    expression: str
    timezone: str
    state: str
    next_firing: str | None  # ISO 8601 in the rule's zone; None when disabled or ended
    last_fired: float | None  # epoch seconds of the latest firing made (its scheduled time)


@dataclass(slots=True)
class RouterStatus:
    name: str
    last_heartbeat: float  # epoch seconds
    alive: bool


@dataclass(slots=True)
class Status:
    redis_url: str
    redis_version: str
    time: float
    buses: list[BusStatus] = field(default_factory=list)
    targets: list[TargetStatus] = field(default_factory=list)
    schedules: list[ScheduleStatus] = field(default_factory=list)
    routers: list[RouterStatus] = field(default_factory=list)


async def read_status(redis: Redis, ruleset: RuleSet, redis_url: str = "") -> Status:
    """The status of the buses and targets of ``ruleset`` and of every bus Redis knows.

    ``redis`` must decode responses (``connect_async``)."""
    info = await redis.info("server")
    now = time.time()
    status = Status(redis_url, str(info.get("redis_version", "?")), now)
    known = await bus_ops.run_async(redis, bus_ops.list_buses())
    for name in sorted(set(known) | set(ruleset.buses)):
        rules = ruleset.buses.get(name)
        status.buses.append(await _bus(redis, name, rules.config.partitions if rules else 1))
    status.targets = await _targets(redis, ruleset)
    status.schedules = await _schedules(redis, ruleset, now)
    beats: Any = await redis.zrange(keys.ROUTERS, 0, -1, withscores=True)
    status.routers = [RouterStatus(str(n), float(t), now - float(t) <= ROUTER_STALE_SECONDS)
                      for n, t in sorted(beats, key=lambda x: -x[1])]  # fmt: skip
    return status


async def _bus(redis: Redis, name: str, configured: int) -> BusStatus:
    """``configured``: the partitions the rule files give, for a bus no router registered yet."""
    config = await bus_ops.run_async(redis, bus_ops.read_bus_config(name))
    partitions = int(config.get("partitions", configured))
    unread = in_progress = 0
    estimate = False
    routers: set[str] = set()
    for stream in keys.bus_streams(name, partitions):
        group = await _group(redis, stream, keys.ROUTER_GROUP)
        if group is None:  # never read: every entry is unread
            unread += int(await redis.xlen(stream))
            continue
        in_progress += int(group["pending"])
        lag = group.get("lag")
        if lag is not None:
            unread += int(lag)
        else:
            # Redis 6.2, or a 7.x whose lag is unknown after deletions: count what follows the
            # last entry handed to a router. Entries deleted or trimmed meanwhile, and the cap,
            # make it an estimate.
            unread += await _count_after(redis, stream, group["last-delivered-id"])
            estimate = True
        if group["consumers"]:
            consumers = await redis.xinfo_consumers(stream, keys.ROUTER_GROUP)
            routers.update(str(c["name"]) for c in consumers)
    return BusStatus(name, partitions, unread + in_progress, unread, in_progress, estimate,
                     sorted(routers))  # fmt: skip


async def _group(redis: Redis, stream: str, name: str) -> dict[str, Any] | None:
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return None
    return next((g for g in groups if g["name"] == name), None)


async def _count_after(redis: Redis, stream: str, last_id: str) -> int:
    """Entries after ``last_id``, counted up to ``COUNT_CAP``."""
    counted = 0
    async for page in _pages(redis, stream, f"({last_id}", COUNT_CAP):
        counted += len(page)
    return counted


async def _pages(redis: Redis, stream: str, start: str, limit: int) -> AsyncIterator[Any]:
    """The entries of ``stream`` from ``start``, a page at a time, up to ``limit`` of them."""
    read = 0
    while read < limit:
        page: Any = await redis.xrange(stream, min=start, count=min(1000, limit - read))
        if page:
            yield page
        read += len(page)
        if len(page) < 1000:
            return
        start = f"({page[-1][0]}"


async def _targets(redis: Redis, ruleset: RuleSet) -> list[TargetStatus]:
    activity = await read_target_activity(redis)
    deliveries = list(ruleset.deliveries())
    streams = {dead_letters_of(t, ruleset.buses[b]) for b, _, t in deliveries}
    users = Counter(dead_letters_of(t, ruleset.buses[b]) for b, _, t in deliveries)
    letters: dict[str, Counter[tuple[str, str, str]]] = {}
    capped: set[str] = set()
    for stream in streams:
        if users[stream] > 1:  # shared: each target's letters are counted by reading them
            letters[stream], hit_cap = await _count_letters(redis, stream)
            if hit_cap:
                capped.add(stream)
    out = []
    for bus_name, rule, target in deliveries:
        stream = dead_letters_of(target, ruleset.buses[bus_name])
        pipe = redis.pipeline(transaction=False)
        pipe.xlen(keys.delivery_queue(bus_name, rule.name, target.id))
        pipe.zcard(keys.delivery_retries(bus_name, rule.name, target.id))
        pipe.xlen(stream)
        queue, retries, letters_len = await pipe.execute()
        dead = (letters[stream][bus_name, rule.name, target.id] if stream in letters
                else int(letters_len))  # fmt: skip
        seen = activity.get(labels_of(bus=bus_name, rule=rule.name, target=target.id), {})
        out.append(TargetStatus(bus_name, rule.name, target.id, target.type, rule.model.state,
                                int(queue),
                                int(retries), dead, stream, stream in capped,
                                seen.get("last_success"), seen.get("last_error")))  # fmt: skip
    return out


async def _count_letters(redis: Redis, stream: str) -> tuple[Counter[tuple[str, str, str]], bool]:
    counts: Counter[tuple[str, str, str]] = Counter()
    async for page in _pages(redis, stream, "-", DEAD_LETTER_SCAN_CAP):
        for _, fields in page:
            counts[fields.get("bus", ""), fields.get("rule", ""), fields.get("target", "")] += 1
    return counts, counts.total() >= DEAD_LETTER_SCAN_CAP


async def _schedules(redis: Redis, ruleset: RuleSet, now: float) -> list[ScheduleStatus]:
    out = []
    moment = datetime.fromtimestamp(now, UTC)
    for bus_rules in ruleset.buses.values():
        for rule in bus_rules.rules.values():
            if rule.schedule is None:
                continue
            upcoming = rule.schedule.upcoming(moment, 1) if rule.enabled else []
            last: Any = await redis.zrange(keys.schedule_claims(rule.bus, rule.name), -1, -1,
                                      withscores=True)  # fmt: skip
            out.append(ScheduleStatus(
                rule.bus, rule.name, rule.schedule.expression, rule.schedule.timezone,
                rule.model.state, upcoming[0].isoformat() if upcoming else None,
                last[0][1] / 1000 if last else None,
            ))  # fmt: skip
    return out
