"""Firing schedule rules: once per firing across instances, catch-up, backfill, event shape.

Real redis-server (the ``redis_url`` fixture); time comes from a manual clock, so a hundred
minutes pass in a moment. A firing "reaches its target" here when its delivery is in the
target's queue: from there the delivery side (retries, dead letters) takes over.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from redis.asyncio import Redis

from eventbus import keys
from eventbus.config import RuleSet, load_rules
from eventbus.delivery import QueuedDelivery
from eventbus.schedule.firing import fire_moment
from eventbus.scheduler import Firer, Firing, Scheduler, backfill, run_scheduler
from eventbus.settings import Settings

T0 = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
SETTINGS = Settings(account="123456789012", region="eu-west-1")
MINUTE = timedelta(minutes=1)


class ManualClock:
    """Time that moves only when told, or when the scheduler sleeps."""

    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)
        await asyncio.sleep(0)


def rule_file(tmp_path: Path, **fields: Any) -> RuleSet:
    rule = {
        "name": "tick",
        "schedule_expression": "rate(1 minute)",
        "targets": [{"id": "out", "type": "redis_stream", "stream": "out"}],
        **fields,
    }
    path = tmp_path / "rules.yaml"
    path.write_bytes(orjson.dumps({"bus": "default", "rules": [rule]}))
    return load_rules(path, settings=SETTINGS)


def queued(redis_url: str, rule: str = "tick", target: str = "out") -> list[dict[str, Any]]:
    """The deliveries in a target's queue: event and payload decoded."""
    client = redis.Redis.from_url(redis_url)
    entries: Any = client.xrange(keys.delivery_queue("default", rule, target))
    client.close()
    records = [QueuedDelivery.from_entry(fields) for _, fields in entries]
    return [{"event": orjson.loads(r.event_text), "payload": r.payload} for r in records]


def times(redis_url: str, rule: str = "tick") -> list[str]:
    return [d["event"]["time"] for d in queued(redis_url, rule)]


def minutes(first: int, last: int) -> list[str]:
    return [
        (T0.replace(second=0) + k * MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ")
        for k in range(first, last + 1)
    ]


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[Callable[[], Redis]]:
    """Make separate connections, as separate instances have."""
    made: list[Redis] = []

    def make() -> Redis:
        made.append(Redis.from_url(redis_url))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


def scheduler(
    client: Redis, ruleset: RuleSet, clock: ManualClock, name: str, **kw: Any
) -> Scheduler:
    return Scheduler(client, lambda: ruleset, clock=clock, consumer=name, settings=SETTINGS, **kw)


# --- exactly once -------------------------------------------------------------------------------


async def test_two_instances_racing_deliver_each_of_100_firings_once(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    # Given two instances planning the same rate(1 minute) rule on one Redis
    ruleset, clock = rule_file(tmp_path), ManualClock(T0)
    a, b = (scheduler(clients(), ruleset, clock, name) for name in ("a", "b"))
    await asyncio.gather(a.tick(), b.tick())
    # When a hundred minutes pass, both ticking at every one of them
    made = 0
    for k in range(1, 101):
        clock.moment = T0 + k * MINUTE
        made += sum(await asyncio.gather(a.tick(), b.tick()))
    # Then each firing was claimed once and reached the target once
    assert made == 100
    assert times(redis_url) == minutes(1, 100)


async def test_two_running_loops_on_one_clock_fire_each_minute_once(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset, clock, stop = rule_file(tmp_path), ManualClock(T0), asyncio.Event()
    loops = [
        asyncio.create_task(
            run_scheduler(c, lambda: ruleset, stop=stop, clock=clock, consumer=n, settings=SETTINGS)
        )
        for c, n in ((clients(), "a"), (clients(), "b"))
    ]
    while clock.now() < T0 + 100 * MINUTE:
        await asyncio.sleep(0)
    stop.set()
    await asyncio.gather(*loops)
    fired = sorted(times(redis_url))  # one instance may enqueue its minute after the other's next
    assert max(Counter(fired).values()) == 1
    assert fired[:100] == minutes(1, 100)


async def test_a_firing_claimed_by_an_instance_that_died_is_taken_over_once(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    # Given instance a claimed the 00:01 firing and died before enqueuing it
    ruleset, clock = rule_file(tmp_path), ManualClock(T0)
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    dead = Firer(clients(), "a", settings=SETTINGS)
    assert len(await dead.claim([Firing(rule, bus, T0.replace(second=0) + MINUTE)])) == 1
    # When instance b ticks at that minute and then sweeps for abandoned claims
    b = scheduler(clients(), ruleset, clock, "b", claim_idle=0.0)
    await b.tick()
    clock.moment = T0 + MINUTE
    assert await b.tick() == 0  # the claim is a's: b does not fire it again
    clock.moment += timedelta(minutes=5)
    await b.tick()
    # Then the firing reached the target exactly once, through b's takeover
    assert times(redis_url)[:1] == minutes(1, 1)
    assert Counter(times(redis_url))[minutes(1, 1)[0]] == 1


async def test_a_firing_enqueued_before_its_instance_died_is_not_taken_over(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path)
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    firing = Firing(rule, bus, T0.replace(second=0) + MINUTE)
    assert await Firer(clients(), "a", settings=SETTINGS).fire([firing]) == 1
    b = Firer(clients(), "b", settings=SETTINGS)
    assert await b.take_over(["default"], idle=0.0) == 0
    assert await b.fire([firing]) == 0
    assert times(redis_url) == minutes(1, 1)


# --- missed firings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("none", minutes(1, 3) + minutes(10, 10)),
        ("latest", minutes(1, 3) + minutes(9, 10)),
        ("all", minutes(1, 10)),
    ],
)
async def test_catch_up_after_an_outage(
    tmp_path: Path,
    redis_url: str,
    clients: Callable[[], Redis],
    policy: str,
    expected: list[str],
) -> None:
    # Given an instance that fired 00:01 to 00:03, then stopped
    ruleset, clock = rule_file(tmp_path, catch_up=policy), ManualClock(T0)
    first = scheduler(clients(), ruleset, clock, "first")
    for k in range(4):
        clock.moment = T0 + k * MINUTE
        await first.tick()
    # When another starts at 00:10:30: 00:04 to 00:09 were missed (over 60 s late), 00:10 is due
    clock.moment = T0 + 10 * MINUTE
    await scheduler(clients(), ruleset, clock, "second").tick()
    # Then the policy decides which missed firings are made
    assert times(redis_url) == expected


async def test_a_new_rule_does_not_fire_for_its_past(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path, catch_up="all", start_date="2020-01-01T00:00:00Z")
    clock = ManualClock(T0)
    instance = scheduler(clients(), ruleset, clock, "a")
    assert await instance.tick() == 0
    clock.moment = T0 + MINUTE
    assert await instance.tick() == 1
    assert times(redis_url) == minutes(1, 1)


async def test_an_at_schedule_in_the_past_never_fires(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path, schedule_expression="at(2029-12-31T23:00:00)", catch_up="all")
    assert await scheduler(clients(), ruleset, ManualClock(T0), "a").tick() == 0
    assert times(redis_url) == []


async def test_an_at_schedule_fires_once_at_its_time(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path, schedule_expression="at(2030-01-01T00:05:00)")
    clock = ManualClock(T0)
    instance = scheduler(clients(), ruleset, clock, "a")
    for k in range(10):
        clock.moment = T0 + k * MINUTE
        await instance.tick()
    assert times(redis_url) == minutes(5, 5)


async def test_a_disabled_rule_does_not_fire(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset, clock = rule_file(tmp_path, state="DISABLED"), ManualClock(T0)
    instance = scheduler(clients(), ruleset, clock, "a")
    for k in range(3):
        clock.moment = T0 + k * MINUTE
        await instance.tick()
    assert times(redis_url) == []


async def test_a_rule_added_by_a_reload_starts_from_the_reload(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    current = {"rules": RuleSet()}
    clock = ManualClock(T0)
    instance = Scheduler(clients(), lambda: current["rules"], clock=clock, settings=SETTINGS)
    await instance.tick()
    clock.moment = T0 + 5 * MINUTE
    current["rules"] = rule_file(tmp_path, catch_up="all")
    assert await instance.tick() == 0
    clock.moment = T0 + 6 * MINUTE
    assert await instance.tick() == 1
    assert times(redis_url) == minutes(6, 6)


# --- flexible windows ---------------------------------------------------------------------------


async def test_a_flexible_window_fires_inside_the_window_stamped_with_the_scheduled_time(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    window = {"mode": "FLEXIBLE", "maximum_window_minutes": 15}
    ruleset = rule_file(
        tmp_path, schedule_expression="cron(0 * * * ? *)", flexible_time_window=window
    )
    scheduled = datetime(2030, 1, 1, 1, tzinfo=UTC)
    moment = fire_moment(ruleset.rule("default", "tick"), scheduled)
    assert scheduled <= moment < scheduled + timedelta(minutes=15)
    clock = ManualClock(T0)
    instance = scheduler(clients(), ruleset, clock, "a")
    await instance.tick()
    clock.moment = moment - timedelta(milliseconds=1)
    assert await instance.tick() == 0
    clock.moment = moment
    assert await instance.tick() == 1
    assert times(redis_url) == ["2030-01-01T01:00:00Z"]


# --- backfill -----------------------------------------------------------------------------------


async def test_backfill_fires_every_firing_in_the_range_both_bounds_included(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path, schedule_expression="cron(0 * * * ? *)")
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    start, end = datetime(2029, 6, 1, 1, tzinfo=UTC), datetime(2029, 6, 1, 3, tzinfo=UTC)
    result = await backfill(clients(), rule, bus, start, end, settings=SETTINGS)
    assert (result.total, result.fired) == (3, 3)
    assert times(redis_url) == [f"2029-06-01T0{h}:00:00Z" for h in (1, 2, 3)]


async def test_backfill_twice_emits_nothing_new(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path, schedule_expression="cron(0 * * * ? *)")
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    start, end = datetime(2029, 6, 1, 0, 30, tzinfo=UTC), datetime(2029, 6, 2, tzinfo=UTC)
    first = await backfill(clients(), rule, bus, start, end, settings=SETTINGS)
    again = await backfill(clients(), rule, bus, start, end, settings=SETTINGS)
    assert (first.total, first.fired, again.total, again.fired) == (24, 24, 24, 0)
    assert len(times(redis_url)) == 24


async def test_backfill_skips_firings_made_live(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset, clock = rule_file(tmp_path), ManualClock(T0)
    live = scheduler(clients(), ruleset, clock, "a")
    for k in range(4):
        clock.moment = T0 + k * MINUTE
        await live.tick()
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    start = T0.replace(second=0) - 2 * MINUTE
    result = await backfill(clients(), rule, bus, start, start + 5 * MINUTE, settings=SETTINGS)
    assert (result.total, result.fired) == (6, 3)
    assert sorted(times(redis_url)) == minutes(-2, 3)


async def test_live_firings_skip_what_a_backfill_made(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset, clock = rule_file(tmp_path), ManualClock(T0)
    live = scheduler(clients(), ruleset, clock, "a")
    await live.tick()
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    one = T0.replace(second=0) + MINUTE
    await backfill(clients(), rule, bus, one, one, settings=SETTINGS)
    clock.moment = T0 + MINUTE
    assert await live.tick() == 0
    assert times(redis_url) == minutes(1, 1)


# --- claims memory ------------------------------------------------------------------------------


def claim_ranges(redis_url: str, rule: str = "tick") -> list[str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    members: list[str] = client.zrange(keys.schedule_claims("default", rule), 0, -1)
    client.close()
    return members


def claims_memory(redis_url: str, rule: str = "tick") -> int:
    client = redis.Redis.from_url(redis_url)
    used = client.memory_usage(keys.schedule_claims("default", rule))
    client.close()
    return int(used or 0)


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


async def test_a_thousand_firings_in_a_row_are_kept_as_one_claim_range(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    # Given a rate(1 minute) rule that catches up every missed firing
    ruleset, clock = rule_file(tmp_path, catch_up="all"), ManualClock(T0)
    instance = scheduler(clients(), ruleset, clock, "a")
    await instance.tick()
    # When a thousand minutes of firings are made
    clock.moment = T0 + 1000 * MINUTE
    assert await instance.tick() == 1000
    # Then the claims hold one range: first, last, the firing after it and the schedule's tag
    first, last = T0.replace(second=0) + MINUTE, T0.replace(second=0) + 1000 * MINUTE
    [member] = claim_ranges(redis_url)
    assert member.split(":")[:3] == [ms(first), ms(last), ms(last + MINUTE)]
    assert claims_memory(redis_url) < 200


async def test_backfill_after_compaction_fires_only_the_gap_and_closes_it(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    # Given 00:01 to 00:03 fired, an outage whose missed firings were dropped, then 00:10 to 00:12
    ruleset, clock = rule_file(tmp_path, catch_up="none"), ManualClock(T0)
    first = scheduler(clients(), ruleset, clock, "first")
    for k in range(4):
        clock.moment = T0 + k * MINUTE
        await first.tick()
    second = scheduler(clients(), ruleset, clock, "second")
    for k in range(10, 13):
        clock.moment = T0 + k * MINUTE
        await second.tick()
    assert len(claim_ranges(redis_url)) == 2
    # When 00:00 to 00:12 is backfilled
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    start = T0.replace(second=0)
    result = await backfill(clients(), rule, bus, start, start + 12 * MINUTE, settings=SETTINGS)
    # Then only what was never claimed fires (00:00 and 00:04 to 00:09), once each
    assert (result.total, result.fired) == (13, 7)
    assert sorted(times(redis_url)) == minutes(0, 12)
    # And the claims are one range again
    assert len(claim_ranges(redis_url)) == 1


async def test_claim_ranges_merge_whatever_order_firings_are_claimed_in(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path, schedule_expression="cron(0 * * * ? *)")
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    day = datetime(2029, 6, 1, tzinfo=UTC)
    for hours in ((20, 23), (0, 3), (10, 14), (4, 9), (15, 19)):
        start, end = (day + timedelta(hours=h) for h in hours)
        await backfill(clients(), rule, bus, start, end, settings=SETTINGS)
    assert len(times(redis_url)) == 24
    [member] = claim_ranges(redis_url)
    assert member.split(":")[:2] == [ms(day), ms(day + timedelta(hours=23))]


async def test_a_claim_written_as_a_bare_time_still_counts_as_made(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    # Given a claims set holding one firing the way claims were kept before ranges
    ruleset = rule_file(tmp_path)
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    start = T0.replace(second=0)
    client = clients()
    legacy = ms(start + MINUTE)
    await client.zadd(keys.schedule_claims("default", "tick"), {legacy: int(legacy)})
    # When a backfill covers it
    result = await backfill(client, rule, bus, start, start + 2 * MINUTE, settings=SETTINGS)
    # Then it is not fired again
    assert (result.total, result.fired) == (3, 2)
    assert times(redis_url) == [minutes(0, 0)[0], minutes(2, 2)[0]]


async def test_claims_of_a_changed_schedule_do_not_merge_with_the_old_ones(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    # Given hourly firings claimed for 00:00 to 02:00
    day = datetime(2029, 6, 1, tzinfo=UTC)
    hourly = rule_file(tmp_path, schedule_expression="cron(0 * * * ? *)")
    await backfill(
        clients(), hourly.rule("default", "tick"), hourly.buses["default"], day,
        day + timedelta(hours=2), settings=SETTINGS,
    )  # fmt: skip
    # When the rule becomes every 30 minutes and 03:00 (the old schedule's next firing) is made
    halves = rule_file(tmp_path, schedule_expression="cron(0/30 * * * ? *)")
    rule, bus = halves.rule("default", "tick"), halves.buses["default"]
    three = day + timedelta(hours=3)
    await backfill(clients(), rule, bus, three, three, settings=SETTINGS)
    # Then its claim does not join the old range, which would cover 02:30, never made
    assert len(claim_ranges(redis_url)) == 2
    half_past = day + timedelta(hours=2, minutes=30)
    result = await backfill(clients(), rule, bus, half_past, half_past, settings=SETTINGS)
    assert result.fired == 1
    assert len(times(redis_url)) == 5


# --- what is sent -------------------------------------------------------------------------------


async def test_the_scheduled_event_is_eventbridges(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    ruleset = rule_file(tmp_path, schedule_expression="cron(0 2 * * ? *)", timezone="Europe/Berlin")
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    day = datetime(2029, 7, 1, tzinfo=UTC)
    await backfill(clients(), rule, bus, day, day + timedelta(days=1), settings=SETTINGS)
    first, second = (d["event"] for d in queued(redis_url))
    assert list(first) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert {k: v for k, v in first.items() if k != "id"} == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2029-07-01T00:00:00Z",  # 02:00 in Berlin (summer time)
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/tick"],
        "detail": {},
    }
    assert first["id"] != second["id"]
    # Without input shaping the target gets the event itself
    assert orjson.loads(queued(redis_url)[0]["payload"]) == first


async def test_the_input_gets_the_scheduler_context_attributes(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    template = {
        "arn": "<aws.scheduler.schedule-arn>",
        "at": "<aws.scheduler.scheduled-time>",
        "execution": "<aws.scheduler.execution-id>",
        "attempt": "<aws.scheduler.attempt-number>",
    }
    target = {"id": "out", "type": "redis_stream", "stream": "out", "input": template}
    ruleset = rule_file(tmp_path, targets=[target])
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    moment = datetime(2029, 7, 1, 12, 30, tzinfo=UTC)
    await backfill(clients(), rule, bus, moment, moment, settings=SETTINGS)
    [delivery] = queued(redis_url)
    assert orjson.loads(delivery["payload"]) == {
        "arn": "arn:aws:events:eu-west-1:123456789012:rule/tick",
        "at": "2029-07-01T12:30:00Z",
        "execution": delivery["event"]["id"],
        "attempt": "1",
    }


async def test_every_target_of_the_rule_gets_the_firing(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    targets = [{"id": i, "type": "redis_stream", "stream": i} for i in ("one", "two")]
    ruleset = rule_file(tmp_path, targets=targets)
    rule, bus = ruleset.rule("default", "tick"), ruleset.buses["default"]
    moment = datetime(2029, 7, 1, 12, 30, tzinfo=UTC)
    await backfill(clients(), rule, bus, moment, moment, settings=SETTINGS)
    one, two = queued(redis_url, target="one"), queued(redis_url, target="two")
    assert len(one) == len(two) == 1 and one[0]["event"] == two[0]["event"]


async def test_a_firing_reaches_its_target_through_the_router(
    tmp_path: Path, redis_url: str, clients: Callable[[], Redis]
) -> None:
    # Given a router delivering the queues, and a scheduler firing from its rule set
    from eventbus.worker import Router, RouterOptions

    template = {"at": "<aws.scheduler.scheduled-time>", "attempt": "<aws.scheduler.attempt-number>"}
    target = {"id": "out", "type": "redis_stream", "stream": "out", "input": template}
    rule_file(tmp_path, targets=[target])
    client = clients()
    router = Router(client, tmp_path / "rules.yaml", RouterOptions(consumer="r"), settings=SETTINGS)
    await router.start()
    running = asyncio.create_task(router.run())
    clock = ManualClock(T0)
    instance = Scheduler(client, lambda: router.table.ruleset, clock=clock, settings=SETTINGS)
    await instance.tick()
    # When two minutes pass
    for k in (1, 2):
        clock.moment = T0 + k * MINUTE
        await instance.tick()
    # Then the target's stream gets both firings, shaped by the target's input
    while await client.xlen("out") < 2:
        await asyncio.sleep(0.02)
    router.stop()
    await running
    entries: Any = await client.xrange("out")
    payloads = [orjson.loads(f[b"payload"]) for _, f in entries]
    # The router delivers a target's queue concurrently: arrival order is not firing order
    assert sorted(payloads, key=lambda p: p["at"]) == [
        {"at": "2030-01-01T00:01:00Z", "attempt": "1"},
        {"at": "2030-01-01T00:02:00Z", "attempt": "1"},
    ]


# --- the pure part ------------------------------------------------------------------------------


def test_the_firing_helpers_import_no_redis_asyncio_or_httpx() -> None:
    import subprocess
    import sys

    code = (
        "import sys, eventbus.schedule.firing;"
        " print(sorted({'redis', 'asyncio', 'httpx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_firings_between_includes_the_bounds_only_when_asked() -> None:
    from eventbus.schedule import parse_schedule
    from eventbus.schedule.firing import firings_between

    hourly = parse_schedule("cron(0 * * * ? *)")
    one, three = datetime(2030, 1, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, 3, tzinfo=UTC)
    assert [m.hour for m in firings_between(hourly, one, three)] == [2, 3]
    assert [m.hour for m in firings_between(hourly, one, three, inclusive=True)] == [1, 2, 3]


def test_catch_up_selection() -> None:
    from eventbus.schedule.firing import select_catch_up

    missed = [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert select_catch_up(missed, "none") == []
    assert select_catch_up(missed, "latest") == [T0 + 2 * MINUTE]
    assert select_catch_up(missed, "all") == missed
    assert select_catch_up([], "latest") == []


def test_window_offsets_stay_inside_the_window_and_spread_over_it() -> None:
    from eventbus.schedule.firing import window_offset

    offsets = [window_offset("default", "r", T0 + k * MINUTE, 10) for k in range(2000)]
    assert all(timedelta(0) <= o < timedelta(minutes=10) for o in offsets)
    assert offsets == [window_offset("default", "r", T0 + k * MINUTE, 10) for k in range(2000)]
    assert len({int(o.total_seconds() // 60) for o in offsets}) == 10  # every minute of it used
