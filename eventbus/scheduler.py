"""The scheduler: fires schedule rules, each firing exactly once across any number of instances.

Every instance plans every enabled schedule rule; Redis decides who fires. A firing is the pair
(rule, scheduled time) and goes through three steps, each atomic:

1. **claim** (one Lua script; a rule's keys share the hash tag ``{<bus>/<rule>}``): the
   scheduled time is added to the rule's claims, kept as ranges of consecutive firings (see
   ``_CLAIM_RANGES``); only when it is new, the rule's watermark moves up and an entry is added
   to the bus's firings stream and read into this instance's pending list (group
   ``schedulers``). A firing claimed before, by any instance or a backfill, stops here.
2. **enqueue**: the deliveries of the firing go to their target queues with
   :func:`eventbus.delivery.enqueue_deliveries`, whose MULTI also acknowledges the firing's
   entry, so "queued" and "done" are one change.
3. **take over**: an entry still pending ``claim_idle`` after its claim belongs to an instance
   that died between 1 and 2; any instance takes it (``XAUTOCLAIM``) and does step 2.

So a crash loses nothing and doubles nothing; only an instance frozen for longer than
``claim_idle`` between its claim and its enqueue could see its firing taken over and then
enqueue it again (the two copies share the event id, so a consumer can drop one).

Missed firings: a rule's **first-seen** time is recorded in Redis when an instance first plans
it, and its **watermark** is its latest claimed firing. On (re)start an instance resumes after
the later of the two; a firing whose moment is more than ``missed_after`` (60 s, Scheduler's
precision) in the past is *missed*, and the rule's ``catch_up`` picks which missed ones fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventbus import keys
from eventbus.config import BusRules, LoadedRule, RuleSet
from eventbus.delivery import enqueue_deliveries
from eventbus.outage import OutageLog
from eventbus.router import Delivery
from eventbus.schedule.base import Schedule
from eventbus.schedule.firing import (
    fire_moment,
    firings_between,
    iso_ms,
    scheduled_deliveries,
    select_catch_up,
)
from eventbus.settings import Settings, get_settings

__all__ = [
    "Clock",
    "Firer",
    "Firing",
    "Scheduler",
    "SystemClock",
    "backfill",
    "default_consumer",
    "run_scheduler",
]

log = logging.getLogger("eventbus.scheduler")

# Firings claimed and enqueued per round trip: bounds a script call and lets the first firings of a
# crowded minute reach their queues before the last are shaped.
BATCH = 500
# Batches in flight at once (each on its own connection).
IN_FLIGHT = 4
# A firing more than this late is missed (EventBridge Scheduler fires within its minute).
MISSED_AFTER = timedelta(seconds=60)
# Entries held this long by another instance are taken over (its default matches the router's).
CLAIM_IDLE = 30.0
# A rule whose planning raised is tried again this much later (not every tick: one log a minute).
FAILED_PLAN_RETRY = timedelta(minutes=1)
# The loop wakes at least this often (s) to see reloaded rules.
MAX_SLEEP = 1.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# A rule's claims are ranges of its firings, each a member ``first:last:next:tag`` of its claims
# zset scored by ``last`` (ms): every firing of the schedule from ``first`` to ``last`` is
# claimed, ``next`` is the schedule's firing after ``last`` ('' if none) and ``tag`` names the
# schedule (``_schedule_tag``). Claiming t, whose next firing is n: t inside a range was claimed
# before; otherwise it joins the range ending just before it if that range's ``next`` is t, and
# the range starting at n, when they carry the same tag (so nothing of this schedule lies
# between). Memory grows with the gaps between claimed runs, not with firings. A bare ``ms``
# member (a claim written before ranges) reads as a one-firing range that never merges.
_CLAIM_RANGES = """
local function parse(member)
  local first, last, after, tag = string.match(member, '^(%d+):(%d+):(%d*):(%w*)$')
  if first == nil then return member, member, '', nil end
  return first, last, after, tag
end
local function claim(key, ms, after, tag)
  local t = tonumber(ms)
  local first, last = ms, ms
  local right = redis.call('ZRANGEBYSCORE', key, ms, '+inf', 'LIMIT', 0, 1)[1]
  if right then
    local r_first, r_last, r_after, r_tag = parse(right)
    if tonumber(r_first) <= t then return false end
    if after ~= '' and r_first == after and r_tag == tag then
      redis.call('ZREM', key, right)
      last, after = r_last, r_after
    end
  end
  local left = redis.call('ZREVRANGEBYSCORE', key, '(' .. ms, '-inf', 'LIMIT', 0, 1)[1]
  if left then
    local l_first, _, l_after, l_tag = parse(left)
    if l_after == ms and l_tag == tag then
      redis.call('ZREM', key, left)
      first = l_first
    end
  end
  redis.call('ZADD', key, last, first .. ':' .. last .. ':' .. after .. ':' .. tag)
  return true
end
"""
# KEYS[1] the bus's firings stream, then for each firing i its rule's claims zset KEYS[2i] and
# state hash KEYS[2i+1]; ARGV[1] group, ARGV[2] consumer, then for each firing its rule name
# ARGV[4i-1], scheduled time ARGV[4i], next firing ARGV[4i+1] (ms, '' if none) and schedule
# tag ARGV[4i+2]. Each firing not claimed before is claimed (``claim`` above), raises its
# rule's watermark and becomes an entry pending for the consumer; the reply is those entries
# (XREADGROUP's). Entries older than the oldest pending one are done: they are trimmed first.
_CLAIM = _CLAIM_RANGES + """
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if pending[1] == 0 then
  redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
else
  redis.call('XTRIM', KEYS[1], 'MINID', pending[2])
end
local added = 0
for i = 1, (#KEYS - 1) / 2 do
  local ms = ARGV[4 * i]
  if claim(KEYS[2 * i], ms, ARGV[4 * i + 1], ARGV[4 * i + 2]) then
    local mark = tonumber(redis.call('HGET', KEYS[2 * i + 1], 'watermark') or '0')
    if tonumber(ms) > mark then redis.call('HSET', KEYS[2 * i + 1], 'watermark', ms) end
    redis.call('XADD', KEYS[1], '*', 'rule', ARGV[4 * i - 1], 'scheduled', ms)
    added = added + 1
  end
end
if added == 0 then return {} end
return redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'STREAMS', KEYS[1], '>')[1][2]
"""
# KEYS[1] state hash; ARGV[1] ms. Raises the watermark of a disabled rule to now, so that
# enabling it later does not count its disabled time as missed.
_RAISE_WATERMARK = """
local mark = tonumber(redis.call('HGET', KEYS[1], 'watermark') or '0')
if tonumber(ARGV[1]) > mark then redis.call('HSET', KEYS[1], 'watermark', ARGV[1]) end
"""


class Clock(Protocol):
    """Where the scheduler reads the time and how it waits; tests inject a manual one."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Firing(NamedTuple):
    rule: LoadedRule
    bus_rules: BusRules
    scheduled: datetime


def default_consumer(prefix: str = "") -> str:
    return f"{prefix}{socket.gethostname()}-{os.getpid()}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


RuleLookup = Callable[[str, str], tuple[LoadedRule, BusRules] | None]


class Firer:
    """Claims firings and enqueues their deliveries (steps 1 to 3 of the module docstring).

    ``lookup(bus, rule)`` finds the rule of a pending entry this instance did not claim itself
    (a takeover); without it such entries are left for an instance that has one.
    """

    def __init__(
        self,
        redis: Redis,
        consumer: str,
        *,
        settings: Settings | None = None,
        lookup: RuleLookup | None = None,
    ) -> None:
        self.redis = redis
        self.consumer = consumer
        self.settings = settings or get_settings()
        self.lookup = lookup
        self._claim_script = redis.register_script(_CLAIM)

    async def fire(self, firings: Sequence[Firing], batch: int = BATCH) -> int:
        """Claim and enqueue ``firings``; how many were new (the others were made before).

        A few batches are in flight at once, so Redis runs one while the next is shaped."""
        lanes = asyncio.Semaphore(IN_FLIGHT)

        async def one(chunk: Sequence[Firing]) -> int:
            async with lanes:
                claimed = await self.claim(chunk)
                await self.enqueue(claimed)
                return len(claimed)

        chunks = [firings[i : i + batch] for i in range(0, len(firings), batch)]
        return sum(await asyncio.gather(*(one(c) for c in chunks)))

    async def claim(self, firings: Sequence[Firing]) -> list[tuple[Firing, Any]]:
        """The firings this call claimed, each with its pending entry id."""
        by_bus: dict[str, list[Firing]] = {}
        for f in firings:
            by_bus.setdefault(f.rule.bus, []).append(f)
        async with self.redis.pipeline(transaction=False) as pipe:
            for bus, group in by_bus.items():
                rule_keys = [
                    key
                    for f in group
                    for key in (
                        keys.schedule_claims(bus, f.rule.name),
                        keys.schedule_state(bus, f.rule.name),
                    )
                ]
                args = [arg for f in group for arg in _claim_args(f)]
                await self._claim_script(
                    keys=[keys.schedule_firings(bus), *rule_keys],
                    args=[keys.SCHEDULER_GROUP, self.consumer, *args],
                    client=pipe,
                )
            replies = await pipe.execute()
        wanted = {(f.rule.bus, f.rule.name, _ms(f.scheduled)): f for f in firings}
        return [
            claimed
            for bus, entries in zip(by_bus, replies, strict=True)
            for claimed in self._resolve(bus, entries, wanted)
        ]

    def _resolve(
        self, bus: str, entries: Sequence[Any], wanted: dict[tuple[str, str, int], Firing]
    ) -> list[tuple[Firing, Any]]:
        """The firings behind pending entries; an entry of an unknown rule stays pending."""
        found = []
        for entry_id, raw in entries:
            fields = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw
            name, ms = _text(_field(fields, "rule")), int(_text(_field(fields, "scheduled")))
            firing = wanted.get((bus, name, ms))
            if firing is None and self.lookup is not None and (known := self.lookup(bus, name)):
                firing = Firing(*known, _from_ms(ms))
            if firing is not None:
                found.append((firing, entry_id))
        return found

    async def enqueue(self, claimed: Sequence[tuple[Firing, Any]]) -> None:
        """Queue the deliveries of claimed firings and acknowledge them in the same step."""
        if not claimed:
            return
        now_ms = int(time.time() * 1000)
        ingested = iso_ms(now_ms)
        deliveries: list[Delivery] = []
        done: dict[str, list[Any]] = {}
        for f, entry in claimed:
            deliveries += scheduled_deliveries(
                f.rule,
                f.bus_rules,
                f.scheduled,
                now_ms=now_ms,
                settings=self.settings,
                ingestion_time=ingested,
            )
            done.setdefault(keys.schedule_firings(f.rule.bus), []).append(entry)
        acks = [(stream, keys.SCHEDULER_GROUP, ids) for stream, ids in done.items()]
        await enqueue_deliveries(self.redis, deliveries, ack=acks)

    async def take_over(self, buses: Sequence[str], idle: float) -> int:
        """Enqueue the firings other instances claimed ``idle`` seconds ago or more and never
        enqueued (they died in between); how many. Entries of rules no longer in the rule set
        are acknowledged without firing: their rule is gone."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for bus in buses:
                pipe.xautoclaim(
                    keys.schedule_firings(bus),
                    keys.SCHEDULER_GROUP,
                    self.consumer,
                    min_idle_time=int(idle * 1000),
                    count=BATCH,
                )
            replies = await pipe.execute(raise_on_error=False)
        claimed: list[tuple[Firing, Any]] = []
        for bus, reply in zip(buses, replies, strict=True):
            if isinstance(reply, Exception):
                continue  # nothing was ever claimed on this bus: no group yet
            entries = [e for e in reply[1] if e[1]]
            found = self._resolve(bus, entries, {})
            claimed += found
            orphans = {e[0] for e in entries} - {entry for _, entry in found}
            if orphans and self.lookup is not None:
                log.warning(
                    "scheduler: dropped firings of removed rules",
                    extra={"fields": {"bus": bus, "firings": len(orphans)}},
                )
                await self.redis.xack(keys.schedule_firings(bus), keys.SCHEDULER_GROUP, *orphans)
        await self.enqueue(claimed)
        return len(claimed)


def _claim_args(firing: Firing) -> tuple[str, int, int | str, str]:
    """A firing's arguments to the claim script: rule name, scheduled time, the schedule's next
    firing after it (ms, '' if none) and the schedule's tag."""
    schedule = firing.rule.schedule
    assert schedule is not None, "only a schedule rule has firings"
    following = schedule.next_after(firing.scheduled)
    after = _ms(following) if following is not None else ""
    return firing.rule.name, _ms(firing.scheduled), after, _schedule_tag(schedule)


def _schedule_tag(schedule: Schedule) -> str:
    """A short name of the schedule's firing times (expression, zone, start: not ``end``, which
    only cuts them short), so claim ranges of a schedule never merge across a change of it."""
    start = schedule.start.isoformat() if schedule.start is not None else ""
    text = f"{schedule.expression}|{schedule.timezone}|{start}".encode()
    return hashlib.blake2b(text, digest_size=4).hexdigest()


def _field(fields: dict[Any, Any], name: str) -> Any:
    return fields.get(name.encode(), fields.get(name))


@dataclass(eq=False, slots=True)
class _Plan:
    """A rule being planned: every firing at or before ``cursor`` is handled (fired, planned
    or skipped)."""

    rule: LoadedRule
    bus_rules: BusRules
    schedule: Schedule
    cursor: datetime


def _signature(rule: LoadedRule) -> tuple[Any, ...]:
    """What, if changed by a reload, makes a rule's plan start again from Redis."""
    return (rule.schedule, rule.model.flexible_time_window, rule.model.catch_up)


@dataclass
class Scheduler:
    """One instance's planning: a heap of the next moments each rule needs attention.

    ``tick()`` does what is due at ``clock.now()``; ``run(stop)`` ticks until ``stop`` is set.
    """

    redis: Redis
    ruleset_provider: Callable[[], RuleSet]
    clock: Clock = field(default_factory=SystemClock)
    consumer: str = field(default_factory=default_consumer)
    settings: Settings = field(default_factory=get_settings)
    claim_idle: float = CLAIM_IDLE
    missed_after: timedelta = MISSED_AFTER
    outage: OutageLog = field(default_factory=lambda: OutageLog(log))  # shared with the router
    fired: int = field(init=False, default=0)  # firings this instance made, taken over included
    firer: Firer = field(init=False)
    plans: dict[tuple[str, str], _Plan] = field(init=False, default_factory=dict)
    _heap: list[tuple[float, int, _Plan, datetime | None]] = field(init=False, default_factory=list)
    _seq: itertools.count[int] = field(init=False, default_factory=itertools.count)
    _ruleset: RuleSet | None = field(init=False, default=None)
    _next_sweep: datetime = field(init=False, default=EPOCH)

    def __post_init__(self) -> None:
        self.firer = Firer(self.redis, self.consumer, settings=self.settings, lookup=self._lookup)
        self._raise_watermark = self.redis.register_script(_RAISE_WATERMARK)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a Redis failure is logged and retried a moment later."""
        while not stop.is_set():
            try:
                await self.tick()
            except (RedisError, OSError) as e:
                self.outage.failed("scheduling", e)
            except Exception:  # a bug must not stop every later firing
                log.exception("scheduler: tick failed, going on")
            await _sleep_or_stop(self.clock, self.delay(), stop)

    async def tick(self) -> int:
        """Fire what is due now; how many firings this instance made."""
        now = self.clock.now()
        await self._follow_rules(now)
        due = self._pop_due(now)
        try:
            made = await self.firer.fire(due)
        except BaseException:
            # Claims are idempotent: planning them again cannot double a firing.
            for f in due:
                plan = self.plans.get((f.rule.bus, f.rule.name))
                if plan is not None:
                    self._push(now, plan, f.scheduled)
            raise
        self.fired += made
        if now >= self._next_sweep:
            await self._sweep(now)
        return made

    # --- rules ------------------------------------------------------------------------------

    async def _follow_rules(self, now: datetime) -> None:
        """Plan the rules of a new rule set: keep unchanged plans, start new ones from Redis."""
        ruleset = self.ruleset_provider()
        if ruleset is self._ruleset:
            return
        wanted = {(r.bus, r.name): r for r in ruleset.scheduled_rules()}
        fresh: list[LoadedRule] = []
        for key, rule in wanted.items():
            plan = self.plans.get(key)
            if plan is not None and _signature(plan.rule) == _signature(rule):
                plan.rule, plan.bus_rules = rule, ruleset.buses[rule.bus]
            else:
                fresh.append(rule)
        self.plans = {k: p for k, p in self.plans.items() if k in wanted}
        for rule, cursor in zip(fresh, await self._resume_points(fresh, now), strict=True):
            assert rule.schedule is not None
            plan = _Plan(rule, ruleset.buses[rule.bus], rule.schedule, cursor)
            self.plans[(rule.bus, rule.name)] = plan
            self._push(now, plan, None)
        self._ruleset = ruleset
        self._next_sweep = now

    async def _resume_points(self, rules: Sequence[LoadedRule], now: datetime) -> list[datetime]:
        """Where each rule's plan starts: after its first sight (recorded now if this is it)
        and after its latest claimed firing, whichever is later."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for rule in rules:
                state = keys.schedule_state(rule.bus, rule.name)
                pipe.hsetnx(state, "first-seen", _ms(now))
                pipe.hmget(state, ["first-seen", "watermark"])
            replies = await pipe.execute()
        return [_from_ms(max(int(v) for v in r if v is not None)) for r in replies[1::2]]

    # --- planning ---------------------------------------------------------------------------

    def _push(self, at: datetime, plan: _Plan, scheduled: datetime | None) -> None:
        """Attend to ``plan`` at ``at``: fire ``scheduled``, or (None) plan its next firings."""
        heapq.heappush(self._heap, (at.timestamp(), next(self._seq), plan, scheduled))

    def _pop_due(self, now: datetime) -> list[Firing]:
        due: list[Firing] = []
        stamp = now.timestamp()
        while self._heap and self._heap[0][0] <= stamp:
            _, _, plan, scheduled = heapq.heappop(self._heap)
            if self.plans.get((plan.rule.bus, plan.rule.name)) is not plan:
                continue  # the rule was removed or changed since
            if scheduled is not None:
                due.append(Firing(plan.rule, plan.bus_rules, scheduled))
                continue
            try:
                moments = self._advance(plan, now)
            except Exception:  # one rule's bad schedule: skipped a while, the others go on
                where = {"bus": plan.rule.bus, "rule": plan.rule.name}
                log.exception("scheduler: rule %s cannot be planned; skipped for now",
                              plan.rule.name, extra={"fields": where})  # fmt: skip
                self._push(now + FAILED_PLAN_RETRY, plan, None)
                continue
            due += [Firing(plan.rule, plan.bus_rules, s) for s in moments]
        return due

    def _advance(self, plan: _Plan, now: datetime) -> list[datetime]:
        """The firings of ``plan`` scheduled since its cursor up to ``now`` that fire now (the
        due ones and the missed ones its catch-up keeps); later moments go on the heap."""
        policy = plan.rule.model.catch_up
        late = now - self.missed_after
        missed: list[datetime] = []
        due: list[datetime] = []
        moment = plan.schedule.next_after(plan.cursor)
        while moment is not None and moment <= now:
            at = fire_moment(plan.rule, moment)
            if at < late:
                # Only "all" needs every missed firing; a long outage must not fill memory.
                missed = missed if policy == "all" else []
                missed.append(moment)
            elif at <= now:
                due.append(moment)
            else:
                self._push(at, plan, moment)
            plan.cursor = moment
            moment = plan.schedule.next_after(moment)
        if moment is not None:
            self._push(moment, plan, None)
        return select_catch_up(missed, policy) + due

    def delay(self) -> float:
        """Seconds until the next thing to do (at most ``MAX_SLEEP``)."""
        now = self.clock.now()
        wake = min(self._heap[0][0] if self._heap else float("inf"), self._next_sweep.timestamp())
        return max(0.0, min(MAX_SLEEP, wake - now.timestamp()))

    # --- upkeep -----------------------------------------------------------------------------

    async def _sweep(self, now: datetime) -> None:
        """Take over firings dead instances left pending; mark disabled rules as seen now."""
        assert self._ruleset is not None
        self._next_sweep = now + timedelta(seconds=max(self.claim_idle / 2, MAX_SLEEP))
        scheduled = [
            rule
            for bus in self._ruleset.buses.values()
            for rule in bus.rules.values()
            if rule.schedule is not None
        ]
        taken = await self.firer.take_over(sorted({r.bus for r in scheduled}), self.claim_idle)
        self.fired += taken
        if taken:
            log.warning("scheduler: took over firings", extra={"fields": {"firings": taken}})
        async with self.redis.pipeline(transaction=False) as pipe:
            for rule in scheduled:
                if not rule.enabled:
                    state = keys.schedule_state(rule.bus, rule.name)
                    await self._raise_watermark(keys=[state], args=[_ms(now)], client=pipe)
            await pipe.execute()

    def _lookup(self, bus: str, name: str) -> tuple[LoadedRule, BusRules] | None:
        """A rule of the current rule set, for firings taken over from another instance."""
        if self._ruleset is None or bus not in self._ruleset.buses:
            return None
        bus_rules = self._ruleset.buses[bus]
        rule = bus_rules.rules.get(name)
        return (rule, bus_rules) if rule is not None else None


async def _sleep_or_stop(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in (sleeper, stopper):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_scheduler(
    redis: Redis,
    ruleset_provider: Callable[[], RuleSet],
    *,
    stop: asyncio.Event,
    clock: Clock | None = None,
    consumer: str | None = None,
    settings: Settings | None = None,
    claim_idle: float = CLAIM_IDLE,
    outage: OutageLog | None = None,
) -> None:
    """Fire the enabled schedule rules of ``ruleset_provider()`` (asked again at every tick, so
    a reload is followed) until ``stop`` is set."""
    scheduler = Scheduler(
        redis,
        ruleset_provider,
        clock=clock or SystemClock(),
        consumer=consumer or default_consumer(),
        settings=settings or get_settings(),
        claim_idle=claim_idle,
        outage=outage or OutageLog(log),
    )
    await scheduler.run(stop)


@dataclass(frozen=True, slots=True)
class BackfillResult:
    total: int  # firings in the range
    fired: int  # of which were new (the others had been made, live or by a backfill)


async def backfill(
    redis: Redis,
    rule: LoadedRule,
    bus_rules: BusRules,
    start: datetime,
    end: datetime,
    *,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Fire every firing of ``rule`` in [start, end], skipping those made before (the same
    claims as live firings, so a second run fires nothing); ``progress(n)`` after each batch."""
    assert rule.schedule is not None, "only a schedule rule has firings"
    firer = Firer(redis, default_consumer("backfill-"), settings=settings)
    moments = firings_between(rule.schedule, start, end, inclusive=True)
    total = fired = 0
    while batch := [Firing(rule, bus_rules, m) for m in itertools.islice(moments, BATCH)]:
        fired += await firer.fire(batch)
        total += len(batch)
        if progress is not None:
            progress(len(batch))
    return BackfillResult(total, fired)
