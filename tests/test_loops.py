"""Every loop of the router survives a failure of one item (or of one whole round) and goes on
with the next, on a real Redis; and a router's consumers are removed once they hold nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from test_worker import (  # the router harness of the router's own tests
    FAST,
    FastClock,
    _clean_memory_targets,  # noqa: F401 (an autouse fixture)
    dead_letters,
    put,
    rules_text,
    running,
    until,
)
from test_worker import redis as redis

from eventbus import bus as bus_ops
from eventbus import keys
from eventbus.config import load_rules
from eventbus.gateway import health
from eventbus.lanes import Lane
from eventbus.loops import Loop, claiming, upkeep
from eventbus.loops import routing as routing_module
from eventbus.loops.claiming import Claimer
from eventbus.metrics import Metrics
from eventbus.metrics_page import render_metrics
from eventbus.schedule.at import AtSchedule
from eventbus.scheduler import Scheduler
from eventbus.settings import Settings
from eventbus.targets.memory import recorded
from eventbus.worker import Router

MEM = "{id: mem, type: memory, name: m}"


class Failing:
    """Wraps a function so that calls matching ``bad`` raise ``error`` (at most ``times``)."""

    def __init__(self, real: Any, bad: Any, error: Exception, times: int = 1_000_000) -> None:
        self.real, self.bad, self.error, self.left = real, bad, error, times
        self.raised = 0
        self.passed: list[tuple[Any, ...]] = []  # the arguments of the calls let through

    def __call__(self, *args: Any, **kw: Any) -> Any:
        if self.left > 0 and self.bad(*args, **kw):
            self.left -= 1
            self.raised += 1
            raise self.error
        self.passed.append(args)
        return self.real(*args, **kw)

    def method(self) -> Any:
        """This, as a method to set on a class."""

        def method(*args: Any, **kw: Any) -> Any:
            return self(*args, **kw)

        return method


# --- the base -------------------------------------------------------------------------------------


class Counting(Loop):
    name = "counting"

    def __init__(self, stop: asyncio.Event) -> None:
        super().__init__(stop, every=0.001, pause=0.001)
        self.rounds = 0
        self.recovered: list[Exception] = []

    async def step(self) -> None:
        self.rounds += 1
        if self.rounds in (1, 2):
            raise ZeroDivisionError("a bug in round one and two")
        if self.rounds == 5:
            self.stop.set()

    async def recover(self, error: Exception) -> None:
        self.recovered.append(error)


@pytest.mark.timeout(10)
async def test_a_loop_goes_on_after_rounds_that_raise_and_ends_only_when_stopped() -> None:
    loop = Counting(asyncio.Event())
    await loop.run()
    assert loop.rounds == 5
    assert [type(e) for e in loop.recovered] == [ZeroDivisionError, ZeroDivisionError]


# --- one failing item per loop ------------------------------------------------------------------


async def test_bus_reader_dead_letters_an_entry_whose_routing_raises_and_routes_the_next(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Failing(routing_module.route, lambda event, *a, **k: "bad" in event["detail"],
                  RuntimeError("a bug in routing"))  # fmt: skip
    monkeypatch.setattr(routing_module, "route", bad)
    async with running(redis, tmp_path, rules_text(MEM)):
        [first] = await put(redis, Detail='{"bad": true}')
        letters = await until(lambda: dead_letters(redis), "the bad entry dead-lettered")
        [second] = await put(redis)
        await until(lambda: recorded("m"), "the next event delivered")
    assert [r.ctx.event_id for r in recorded("m")] == [second]
    assert [(d["error-code"], first in d["event"]) for d in letters] == [("ROUTING_FAILED", True)]


async def test_bus_reader_dead_letters_an_entry_whose_deliveries_cannot_be_recorded(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def is_bad(redis: Redis, deliveries: list[Any], **kw: Any) -> bool:
        return any('"bad"' in d.event_text and d.rule for d in deliveries)

    bad = Failing(routing_module.enqueue_deliveries, is_bad, TypeError("a bug in recording"))
    monkeypatch.setattr(routing_module, "enqueue_deliveries", bad)
    (tmp_path / "rules.yaml").write_text(rules_text(MEM))
    await Router(redis, tmp_path, FAST).start()  # the groups
    # Put before the router reads: one batch, the bad entry between two good ones
    ids = [*await put(redis), *await put(redis, Detail='{"bad": 1}'), *await put(redis)]
    async with running(redis, tmp_path, rules_text(MEM)):
        await until(lambda: len(recorded("m")) == 2, "the good entries delivered")
        letters = await until(lambda: dead_letters(redis), "the bad entry dead-lettered")
    assert sorted(r.ctx.event_id for r in recorded("m")) == sorted([ids[0], ids[2]])
    assert [(d["error-code"], ids[1] in d["event"]) for d in letters] == [("ROUTING_FAILED", True)]
    assert bad.raised == 2  # the whole batch, then the bad entry alone


async def test_queue_reader_skips_a_lane_that_fails_to_take_its_entries_and_feeds_the_others(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Failing(Lane.start, lambda lane, *a: lane.target.id == "one", RuntimeError("bug"), 1)
    monkeypatch.setattr(Lane, "start", bad.method())
    text = rules_text("{id: one, type: memory, name: one}", "{id: two, type: memory, name: two}")
    async with running(redis, tmp_path, text):
        await put(redis)
        await until(lambda: recorded("two"), "the other lane delivered")
        # The skipped entry stayed pending: claimed once idle, and delivered.
        await until(lambda: recorded("one"), "the skipped entry delivered later")
    assert bad.raised == 1


async def test_retry_mover_moves_the_other_lanes_retries_when_one_lanes_keys_are_broken(
    redis: Redis, tmp_path: Path
) -> None:
    text = rules_text("{id: flaky, type: memory, name: f, fail_first: 1}", MEM)
    # The retry set of "mem" is a string: a script call over every lane fails on it.
    await redis.set(keys.delivery_retries("default", "orders", "mem"), "not a sorted set")
    async with running(redis, tmp_path, text):
        await put(redis)
        await until(lambda: recorded("f"), "the retried delivery made")


async def test_claimer_claims_the_other_streams_when_one_fails(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus_stream = keys.bus_stream("default", 0).encode()
    bad = Failing(Claimer._autoclaim, lambda self, stream, group: stream == bus_stream,
                  RuntimeError("a bug in claiming"))  # fmt: skip
    monkeypatch.setattr(Claimer, "_autoclaim", bad.method())
    text = rules_text(MEM)
    (tmp_path / "rules.yaml").write_text(text)
    ghost = Router(redis, tmp_path, FAST)
    await ghost.start()
    [event_id] = await put(redis)
    await ghost.route_entries(ghost.table, await redis.xreadgroup(
        keys.ROUTER_GROUP, "ghost", {bus_stream: ">"}))  # fmt: skip
    queue = keys.delivery_queue("default", "orders", "mem")
    await redis.xreadgroup(keys.DELIVERY_GROUP, "dead-router", {queue: ">"})
    async with running(redis, tmp_path, text):
        await until(lambda: recorded("m"), "the queue entry claimed and delivered")
        await until(lambda: bad.raised >= 2, "the bus stream failing round after round")
    assert [r.ctx.event_id for r in recorded("m")] == [event_id]


async def test_scheduler_skips_a_rule_whose_schedule_raises_and_fires_the_others(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(self: AtSchedule, after: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(AtSchedule, "next_after", overflow)
    schedules = """
  - name: far
    schedule_expression: at(2031-01-01T00:00:00)
    targets:
      - {id: out, type: redis_stream, stream: far}
  - name: tick
    schedule_expression: rate(1 minute)
    targets:
      - {id: out, type: redis_stream, stream: ticks}"""
    text = rules_text(MEM, extra_rules=schedules)
    async with running(redis, tmp_path, text, clock=FastClock()):
        await until(lambda: _at_least(redis.xlen("ticks"), 2), "two firings of the other rule")
    assert await redis.xlen("far") == 0


class StillClock:
    """Time that moves only when a test moves it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


async def test_a_rule_that_failed_to_plan_is_planned_again_a_minute_later(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Failing(AtSchedule.next_after, lambda *a: True, OverflowError("out of range"), 1)
    monkeypatch.setattr(AtSchedule, "next_after", bad.method())
    at = """
  - name: later
    schedule_expression: at(2030-01-01T00:05:00)
    targets:
      - {id: out, type: redis_stream, stream: later}"""
    (tmp_path / "rules.yaml").write_text(rules_text(MEM, extra_rules=at))
    ruleset = load_rules(tmp_path, settings=Settings())
    clock = StillClock(datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC))
    scheduler = Scheduler(redis, lambda: ruleset, clock=clock, consumer="s", settings=Settings())
    await scheduler.tick()  # planning "later" fails: skipped
    for minute in range(1, 6):
        clock.moment = datetime(2030, 1, 1, 0, minute, 30, tzinfo=UTC)
        await scheduler.tick()
    assert bad.raised == 1
    assert await redis.xlen(keys.delivery_queue("default", "later", "out")) == 1


async def test_reloader_goes_on_after_a_reload_that_raises(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eventbus.rule_watch as rule_watch

    error = RuntimeError("a bug in loading")
    bad = Failing(rule_watch.load_rules_cached, lambda *a, **k: True, error, 1)
    async with running(redis, tmp_path, rules_text(MEM)) as router:
        monkeypatch.setattr(rule_watch, "load_rules_cached", bad)
        (tmp_path / "rules.yaml").write_text(rules_text(MEM, "{id: two, type: memory}"))
        await until(lambda: bad.raised, "the failed reload")
        (tmp_path / "rules.yaml").write_text(rules_text(MEM, "{id: three, type: memory}"))
        await until(lambda: ("default", "orders", "three") in router.lanes, "the next reload")


async def test_trimmer_trims_the_other_buses_when_one_fails(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Failing(bus_ops.trim, lambda name, **k: name == "alpha", RuntimeError("a bug"))
    monkeypatch.setattr(bus_ops, "trim", bad)
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.yaml").write_text(f"bus: {name}\nbus_config: {{max_len: 2}}\n")
    async with running(redis, tmp_path, rules_text(MEM), options=replace(FAST, trim_interval=0.05)):
        await until(lambda: [a for a in bad.passed if a == ("beta",)][1:], "beta trimmed twice")
    assert bad.raised >= 2


async def test_metrics_flusher_goes_on_after_a_flush_that_raises(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Failing(Metrics.flush, lambda self: True, RuntimeError("a bug in flushing"), 1)
    monkeypatch.setattr(Metrics, "flush", bad.method())
    async with running(redis, tmp_path, rules_text(MEM)):
        await put(redis)
        await until(lambda: recorded("m"), "the delivery")
        counted = 'eventbus_invocations_total{bus="default",rule="orders",target="mem"} 1'
        await until(lambda: _contains(render_metrics(redis), counted), "counts flushed")
    assert bad.raised == 1


async def test_heartbeat_goes_on_after_one_that_raises(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Failing(health.record_router_heartbeat, lambda *a: True, RuntimeError("a bug"), 1)
    monkeypatch.setattr(health, "record_router_heartbeat", bad)
    options = replace(FAST, consumer="beating")
    async with running(redis, tmp_path, rules_text(MEM), options=options):
        await until(lambda: redis.zscore("eb:routers", "beating"), "a heartbeat recorded")
    assert bad.raised == 1


# --- the queue reader feeding the lanes ---------------------------------------------------------

# A read that waits for wake-ups far longer than any test (in fact until the client's 5 s socket
# timeout): what the lanes get, they get without that wait ending on its own.
LONG_WAIT = replace(FAST, block_ms=20_000, concurrency=1, queue_batch=1)


async def stop_waiting(router: Router, redis: Redis) -> None:
    """Stop the router, and end its readers' long waits with one more event."""
    router.stop()
    await put(redis)


@pytest.mark.timeout(30)
async def test_a_full_lane_is_fed_again_as_soon_as_it_has_room_not_when_the_read_wait_ends(
    redis: Redis, tmp_path: Path
) -> None:
    # Given a lane that holds one delivery at a time, and more queued than it can hold
    async with running(redis, tmp_path, rules_text(MEM), options=LONG_WAIT) as router:
        await put(redis, 4)
        # Then each is delivered once the one before it is done
        await until(lambda: len(recorded("m")) == 4, "every delivery made", timeout=10)
        await stop_waiting(router, redis)


HELD: list[asyncio.Event] = []  # the deliveries `held_delivery` holds, released by the test
HOLDING = [True]  # False: `held_delivery` lets deliveries through


async def held_delivery(payload: str, ctx: Any) -> None:
    """A python target that holds each delivery until the test releases it."""
    release = asyncio.Event()
    HELD.append(release)
    if HOLDING[0]:
        await release.wait()


# Each delivery's acknowledgement waited for the reader's wait to end (the client's 5 s socket
# timeout, with LONG_WAIT) before it was written: three in a row would take 15 s.
@pytest.mark.timeout(12)
async def test_a_lane_that_runs_out_of_work_has_its_deliveries_acknowledged_at_once(
    redis: Redis, tmp_path: Path
) -> None:
    queue = keys.delivery_queue("default", "orders", "held")
    text = rules_text("{id: held, type: python, function: 'test_loops:held_delivery'}")

    async def acknowledged() -> bool:
        return (await redis.xpending(queue, keys.DELIVERY_GROUP))["pending"] == 0

    HELD.clear()
    HOLDING[0] = True
    async with running(redis, tmp_path, text, options=LONG_WAIT) as router:
        for n in range(1, 4):
            # Given a delivery in flight, its lane full, the queue reader waiting for wake-ups
            await put(redis)
            await until(lambda: len(HELD) == n, f"delivery {n} in flight")  # noqa: B023
            # When it is done, then it is acknowledged without waiting for the wait to end
            HELD[-1].set()
            await until(acknowledged, f"delivery {n} acknowledged")
        HOLDING[0] = False
        await stop_waiting(router, redis)


# --- consumers ----------------------------------------------------------------------------------


async def consumers(redis: Redis, stream: str, group: str) -> dict[str, int]:
    """Consumer name → pending entries."""
    infos: Any = await redis.xinfo_consumers(stream, group)
    return {_text(c["name"]): int(c["pending"]) for c in infos}


async def test_a_clean_stop_removes_the_routers_consumers_that_hold_nothing(
    redis: Redis, tmp_path: Path
) -> None:
    text = rules_text(MEM, "{id: held, type: memory}")
    (tmp_path / "rules.yaml").write_text(text)
    options = replace(FAST, consumer="leaving", claim_idle=30.0)
    await Router(redis, tmp_path, options).start()  # the groups
    held = keys.delivery_queue("default", "orders", "held")
    await redis.xadd(held, {"not": "read by the router"})
    await redis.xreadgroup(keys.DELIVERY_GROUP, "leaving", {held: ">"})  # pending for "leaving"
    async with running(redis, tmp_path, text, options=options):
        await put(redis)
        await until(lambda: recorded("m"), "a delivery")
        stream = keys.bus_stream("default", 0)
        queue = keys.delivery_queue("default", "orders", "mem")
        assert "leaving" in await consumers(redis, stream, keys.ROUTER_GROUP)
    assert "leaving" not in await consumers(redis, stream, keys.ROUTER_GROUP)
    assert "leaving" not in await consumers(redis, queue, keys.DELIVERY_GROUP)
    assert await consumers(redis, held, keys.DELIVERY_GROUP) == {"leaving": 1}


async def test_idle_consumers_holding_nothing_are_removed_by_a_running_router(
    redis: Redis, tmp_path: Path
) -> None:
    text = rules_text(MEM)
    (tmp_path / "rules.yaml").write_text(text)
    await Router(redis, tmp_path, FAST).start()
    stream = keys.bus_stream("default", 0)
    await redis.xgroup_createconsumer(stream, keys.ROUTER_GROUP, "gone-idle")  # holds nothing
    await put(redis)
    await redis.xreadgroup(keys.ROUTER_GROUP, "gone-holding", {stream: ">"})  # holds one
    assert {"gone-idle", "gone-holding"} <= set(await consumers(redis, stream, keys.ROUTER_GROUP))
    options = replace(FAST, consumer="live", consumer_idle=0.2, claim_idle=30.0)
    async with running(redis, tmp_path, text, options=options):
        await until(lambda: _lacks(consumers(redis, stream, keys.ROUTER_GROUP), "gone-idle"),
                    "the idle consumer removed")  # fmt: skip
        left = await consumers(redis, stream, keys.ROUTER_GROUP)
    assert left["gone-holding"] == 1


async def test_consumer_sweeper_goes_on_after_a_sweep_that_raises(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Failing(upkeep.remove_consumers, lambda *a, **k: True, RuntimeError("a bug"), 1)
    monkeypatch.setattr(upkeep, "remove_consumers", bad)
    text = rules_text(MEM)
    (tmp_path / "rules.yaml").write_text(text)
    await Router(redis, tmp_path, FAST).start()
    stream = keys.bus_stream("default", 0)
    await redis.xgroup_createconsumer(stream, keys.ROUTER_GROUP, "gone-idle")
    assert "gone-idle" in await consumers(redis, stream, keys.ROUTER_GROUP)
    options = replace(FAST, consumer_idle=0.2)
    async with running(redis, tmp_path, text, options=options):
        await until(lambda: _lacks(consumers(redis, stream, keys.ROUTER_GROUP), "gone-idle"),
                    "the idle consumer removed")  # fmt: skip
    assert bad.raised == 1


# --- helpers ------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _at_least(coro: Any, n: int) -> bool:
    return int(await coro) >= n


async def _contains(coro: Any, text: str) -> bool:
    return text in await coro


async def _lacks(coro: Any, name: str) -> bool:
    return name not in await coro


async def _hold(redis: Redis, queue: str, consumer: str) -> None:
    """An entry of ``queue`` read by ``consumer`` and left pending (deleted, so nothing is sent
    when it is claimed)."""
    entry_id = await redis.xadd(queue, {"x": "1"})
    await redis.xreadgroup(keys.DELIVERY_GROUP, consumer, {queue: ">"})
    await redis.xdel(queue, entry_id)


@pytest.mark.parametrize("many_lanes", [False, True], ids=["few-lanes", "many-lanes-scan"])
async def test_claimer_claims_only_the_queues_holding_entries_left_at_start_or_by_a_dead_router(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, many_lanes: bool
) -> None:
    if many_lanes:  # past this many new lanes, the existing queues are found by SCAN first
        monkeypatch.setattr(claiming, "QUEUE_CLAIMS_PER_ROUND_TRIP", 1)
    # Given a router's claimer over two queues, one holding an entry of a router gone before
    # it started, and a live router beside it
    text = rules_text("{id: one, type: memory, name: one}", "{id: two, type: memory, name: two}")
    (tmp_path / "rules.yaml").write_text(text)
    one, two = (keys.delivery_queue("default", "orders", t) for t in ("one", "two"))
    await redis.xgroup_create(one, keys.DELIVERY_GROUP, id="0", mkstream=True)
    await _hold(redis, one, "gone")
    router = Router(redis, tmp_path, FAST)
    await router.start()
    claimer = router.claimer
    await health.record_router_heartbeat(redis, "other")
    claimed: list[list[str]] = []
    original = claimer.claim_queue_entries

    async def counted(lanes: Any = None) -> None:
        chosen = list(router.lanes.values() if lanes is None else lanes)
        claimed.append(sorted(lane.queue for lane in chosen))
        await original(chosen)

    claimer.claim_queue_entries = counted  # type: ignore[method-assign]
    # When it runs rounds: the queue holding an entry is claimed until a round has claimed it
    # with that entry idle past claim_idle (and a round), then no queue is
    await claimer.step()
    await asyncio.sleep(FAST.claim_idle + claimer.every + 0.1)
    for _ in range(2):
        await claimer.step()
    assert claimed == [[one], [one], []]
    assert await redis.xpending_range(one, keys.DELIVERY_GROUP, "-", "+", 10,
                                      consumername="gone") == []  # fmt: skip
    # When the other router, holding an entry of the other queue, has been silent past the
    # limit: that queue is claimed, no other
    await _hold(redis, two, "other")
    await health.record_router_heartbeat(redis, "other", now=0.0)
    await claimer.step()
    assert claimed[-1] == [two]
    assert await redis.xpending(two, keys.DELIVERY_GROUP) == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }
    # When a reload adds a lane whose queue holds an entry left by a router gone before: that
    # queue is claimed too
    three = keys.delivery_queue("default", "orders", "three")
    await redis.xgroup_create(three, keys.DELIVERY_GROUP, id="0", mkstream=True)
    await _hold(redis, three, "gone")
    (tmp_path / "rules.yaml").write_text(text.replace(
        "      - {id: two", "      - {id: three, type: memory, name: three}\n      - {id: two"
    ))  # fmt: skip
    assert await router.reload()
    await claimer.step()
    assert claimed[-1] == sorted([three, two])  # the other still watched, claim_idle not past


async def test_claimer_looks_only_at_queues_whose_group_existed_before_the_router_started(
    redis: Redis, tmp_path: Path
) -> None:
    # Given a queue whose group existed before the router started, and one the router creates
    text = rules_text("{id: one, type: memory, name: one}", "{id: two, type: memory, name: two}")
    (tmp_path / "rules.yaml").write_text(text)
    one = keys.delivery_queue("default", "orders", "one")
    await redis.xgroup_create(one, keys.DELIVERY_GROUP, id="0", mkstream=True)
    router = Router(redis, tmp_path, FAST)
    await router.start()
    claimer = router.claimer
    looked: list[list[str]] = []
    original = claimer.watch_held_queues

    async def counted(holders: set[str], among: Any) -> None:
        lanes = list(among)
        looked.append(sorted(lane.queue for lane in lanes))
        await original(holders, lanes)

    claimer.watch_held_queues = counted  # type: ignore[method-assign]
    # When it runs a round: only the queue that existed is asked what it holds (nothing was
    # ever read from the other); a second round asks nothing
    await claimer.step()
    await claimer.step()
    assert looked == [[one]]
