"""The router process, in-process, end to end on a real Redis: route, deliver, retry, dead-letter,
claim, reload, outcomes."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from eventbus import keys
from eventbus.client import AsyncEventBusClient
from eventbus.delivery import QueuedDelivery, redrive
from eventbus.metrics_page import render_metrics
from eventbus.router import MATCH_BUDGET_EXCEEDED
from eventbus.settings import Settings
from eventbus.targets.base import DeliveryContext
from eventbus.targets.memory import forget, recorded
from eventbus.worker import (
    EVENT_TOO_LARGE,
    MALFORMED_EVENT,
    HttpOptions,
    Router,
    RouterOptions,
    run_router,
)

# No full read of the queues nor check of the retry sets after the first (at start): every queue
# write these tests make (routing, refused inline, schedule firings, outcomes, retries, redrive)
# must be read through its wake-up, and every retry moved through the due index.
FAST = RouterOptions(
    claim_idle=0.5, retry_poll=0.02, reload_poll=0.05, block_ms=20, sweep_interval=3600
)
BUS_CONFIG = """
bus_config:
  retry_backoff_base_seconds: 0.01
  retry_backoff_cap_seconds: 0.05
"""


def rules_text(*targets: str, pattern: str = "{source: [shop]}", extra_rules: str = "") -> str:
    body = "\n".join(f"      - {t}" for t in targets)
    return f"""bus: default
{BUS_CONFIG}
rules:
  - name: orders
    event_pattern: {pattern}
    targets:
{body}
{extra_rules}"""


async def boom(payload: str, ctx: DeliveryContext) -> None:
    """A target function with a bug: not a TargetError."""
    raise ZeroDivisionError("a bug in the target")


@pytest.fixture(autouse=True)
def _clean_memory_targets() -> None:
    forget()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@asynccontextmanager
async def running(
    redis: Redis, rules_dir: Path, text: str, *, options: RouterOptions = FAST, **kw: Any
) -> AsyncIterator[Router]:
    (rules_dir / "rules.yaml").write_text(text)
    router = Router(redis, rules_dir, options, **kw)
    await router.start()
    task = asyncio.create_task(router.run())
    try:
        yield router
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)


async def put(redis: Redis, n: int = 1, *, hops: int = 0, **entry: Any) -> list[str]:
    client = AsyncEventBusClient(redis)
    base = {"Source": "shop", "DetailType": "OrderPlaced"}
    entries = [{**base, "Detail": orjson.dumps({"n": i}).decode(), **entry} for i in range(n)]
    result = await client.put_events(entries, hops=hops)
    assert result["FailedEntryCount"] == 0, result
    return [e["EventId"] for e in result["Entries"]]


async def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (bounded; not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def dead_letters(redis: Redis, stream: str = "eb:{default}:dlq") -> list[dict[str, str]]:
    entries = await redis.xrange(stream)
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]


async def test_each_event_reaches_each_matching_target_and_nothing_stays_pending(
    redis: Redis, tmp_path: Path
) -> None:
    text = rules_text(
        "{id: mem, type: memory, name: m}", "{id: out, type: redis_stream, stream: out}"
    )
    async with running(redis, tmp_path, text):
        ids = await put(redis, 50)
        await until(lambda: len(recorded("m")) == 50, "50 memory deliveries")
        await until(lambda: _when(redis.xlen("out"), lambda n: n == 50), "50 stream deliveries")
    assert sorted(r.ctx.event_id for r in recorded("m")) == sorted(ids)
    entries = await redis.xrange("out")
    assert {e[1][b"delivery-id"].decode() for e in entries} == {
        f"{i}:default:orders:out" for i in ids
    }
    for stream, group in [
        (keys.bus_stream("default", 0), keys.ROUTER_GROUP),
        (keys.delivery_queue("default", "orders", "out"), keys.DELIVERY_GROUP),
    ]:
        assert (await redis.xpending(stream, group))["pending"] == 0


async def test_start_creates_every_group_in_batches_and_a_restart_finds_them_made(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventbus.worker.PREPARE_BATCH", 2)
    rules = "\n".join(
        f"  - {{name: r{i}, event_pattern: {{source: [s{i}]}}, "
        f"targets: [{{id: m, type: memory, name: m}}]}}"
        for i in range(5)
    )
    (tmp_path / "rules.yaml").write_text(
        f"bus: default\nbus_config: {{partitions: 3}}\nrules:\n{rules}\n"
    )
    for _ in range(2):  # the second start meets BUSYGROUP on every group
        await Router(redis, tmp_path, FAST).start()
    for p in range(3):
        [group] = await redis.xinfo_groups(keys.bus_stream("default", p))
        assert group["name"] == keys.ROUTER_GROUP.encode()
    for i in range(5):
        [group] = await redis.xinfo_groups(keys.delivery_queue("default", f"r{i}", "m"))
        assert group["name"] == keys.DELIVERY_GROUP.encode()


async def test_a_stream_target_on_the_bus_redis_is_delivered_without_its_queue(
    redis: Redis, tmp_path: Path
) -> None:
    text = rules_text("{id: out, type: redis_stream, stream: out}")
    async with running(redis, tmp_path, text):
        ids = await put(redis, 20)
        await until(lambda: _when(redis.xlen("out"), lambda n: n == 20), "20 stream deliveries")
    fields = {e[1][b"event-id"].decode() for e in await redis.xrange("out")}
    assert fields == set(ids)
    queue = await redis.xinfo_stream(keys.delivery_queue("default", "orders", "out"))
    assert queue["last-generated-id"] == b"0-0"  # nothing ever went through the queue
    assert (await redis.xpending(keys.bus_stream("default", 0), keys.ROUTER_GROUP))["pending"] == 0


async def test_a_refused_inline_delivery_goes_through_its_lane_to_the_dead_letters(
    redis: Redis, tmp_path: Path
) -> None:
    await redis.rpush("out", "a list, not a stream")  # XADD to it: WRONGTYPE
    text = rules_text(
        "{id: out, type: redis_stream, stream: out}", "{id: mem, type: memory, name: m}"
    )
    async with running(redis, tmp_path, text):
        [event_id] = await put(redis)
        [letter] = await until(lambda: dead_letters(redis), "the dead letter")
        await until(lambda: len(recorded("m")) == 1, "the other target's delivery")
    assert letter["delivery-id"] == f"{event_id}:default:orders:out"
    assert letter["error-code"] == "REDIS_ERROR"
    assert "WRONGTYPE" in letter["error-message"]
    assert len(recorded("m")) == 1
    assert (await redis.xpending(keys.bus_stream("default", 0), keys.ROUTER_GROUP))["pending"] == 0


async def test_a_target_with_send_batch_gets_its_queue_in_batches_and_failures_alone(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    # `redis_url` makes the stream target go through its queue; "taken" refuses every XADD.
    await redis.set("taken", "x")
    text = rules_text(
        f"{{id: out, type: redis_stream, stream: out, redis_url: '{redis_url}'}}",
        f"{{id: bad, type: redis_stream, stream: taken, redis_url: '{redis_url}'}}",
    )
    async with running(redis, tmp_path, text):
        ids = await put(redis, 300)
        await until(lambda: _when(redis.xlen("out"), lambda n: n == 300), "300 stream deliveries")
        await until(lambda: _when(dead_letters(redis), lambda d: len(d) == 300), "300 refused")
    assert {e[1][b"event-id"].decode() for e in await redis.xrange("out")} == set(ids)
    letters = await dead_letters(redis)
    assert {letter["error-code"] for letter in letters} == {"REDIS_ERROR"}
    assert {letter["delivery-id"] for letter in letters} == {f"{i}:default:orders:bad" for i in ids}
    queue = keys.delivery_queue("default", "orders", "out")
    assert (await redis.xpending(queue, keys.DELIVERY_GROUP))["pending"] == 0


@pytest.mark.parametrize("target", ["{id: out, type: memory, name: m}",
                                    "{id: out, type: redis_stream, stream: out, redis_url: URL}"])
async def test_a_malformed_queue_entry_is_dead_lettered_and_the_others_delivered(
    redis: Redis, redis_url: str, tmp_path: Path, target: str
) -> None:
    queue = keys.delivery_queue("default", "orders", "out")
    await redis.xadd(queue, {"not": "a delivery"})
    async with running(redis, tmp_path, rules_text(target.replace("URL", f"'{redis_url}'"))):
        await put(redis)
        [letter] = await until(lambda: dead_letters(redis), "the dead letter")
        if "memory" in target:
            await until(lambda: len(recorded("m")) == 1, "the good delivery")
        else:
            await until(lambda: _when(redis.xlen("out"), lambda n: n == 1), "the good delivery")
    assert letter["error-code"] == "MALFORMED_DELIVERY"
    assert (await redis.xpending(queue, keys.DELIVERY_GROUP))["pending"] == 0


async def test_a_failing_target_is_retried_until_it_recovers(redis: Redis, tmp_path: Path) -> None:
    text = rules_text("{id: mem, type: memory, name: m, fail_first: 3}")
    async with running(redis, tmp_path, text):
        await put(redis)
        await until(lambda: recorded("m"), "a delivery after three failures")
    assert recorded("m")[0].ctx.attempt == 4
    assert await dead_letters(redis) == []


async def test_retries_stop_after_maximum_retry_attempts_into_the_dead_letters(
    redis: Redis, tmp_path: Path
) -> None:
    target = "{id: mem, type: memory, fail_first: 100, retry_policy: {maximum_retry_attempts: 2}}"
    async with running(redis, tmp_path, rules_text(target)):
        [event_id] = await put(redis)
        [letter] = await until(lambda: dead_letters(redis), "a dead letter")
    assert letter["error-code"] == "MEMORY_FAILED"
    assert letter["exhausted-retry-condition"] == "MaximumRetryAttempts"
    assert letter["attempts"] == "3"
    assert letter["delivery-id"] == f"{event_id}:default:orders:mem"
    assert letter["first-attempt-time"] <= letter["last-attempt-time"]
    assert orjson.loads(letter["event"])["id"] == event_id


async def test_an_error_that_is_not_retryable_is_dead_lettered_at_once(
    redis: Redis, tmp_path: Path
) -> None:
    target = (
        "{id: mem, type: memory, fail_first: 100, fail_permanently: true,"
        " dead_letter: {stream: dl}}"
    )
    async with running(redis, tmp_path, rules_text(target)):
        await put(redis)
        [letter] = await until(lambda: dead_letters(redis, "dl"), "a dead letter")
    assert (letter["error-code"], letter["attempts"]) == ("MEMORY_REFUSED", "1")
    assert letter["exhausted-retry-condition"] == ""


async def test_a_target_that_raises_is_retried_and_reported_and_the_router_goes_on(
    redis: Redis, tmp_path: Path
) -> None:
    text = rules_text(
        "{id: bad, type: python, function: 'test_worker:boom',"
        " retry_policy: {maximum_retry_attempts: 1}}",
        "{id: mem, type: memory, name: m}",
    )
    async with running(redis, tmp_path, text):
        await put(redis, 3)
        letters = await until(
            lambda: _when(dead_letters(redis), lambda x: len(x) == 3), "three dead letters"
        )
        await until(lambda: len(recorded("m")) == 3, "the other target's deliveries")
    assert {x["error-code"] for x in letters} == {"PYTHON_ERROR"}
    assert all("a bug in the target" in x["error-message"] for x in letters)


class Raising:
    """A target class whose send has a bug (raises something that is not a TargetError)."""

    async def send(self, payload: str, ctx: DeliveryContext) -> None:
        raise KeyError("oops")

    async def aclose(self) -> None:
        pass


async def test_any_other_exception_is_a_retryable_target_error(
    redis: Redis, tmp_path: Path
) -> None:
    target = "{id: mem, type: memory, retry_policy: {maximum_retry_attempts: 1}}"
    async with running(redis, tmp_path, rules_text(target)) as router:
        router.lanes[("default", "orders", "mem")].instance = Raising()
        await put(redis)
        [letter] = await until(lambda: dead_letters(redis), "a dead letter")
    assert (letter["error-code"], letter["attempts"]) == ("TARGET_ERROR", "2")
    assert letter["exhausted-retry-condition"] == "MaximumRetryAttempts"
    assert "KeyError" in letter["error-message"] or "oops" in letter["error-message"]


async def _when(coro: Any, ok: Callable[[Any], bool]) -> Any:
    got = await coro
    return got if ok(got) else None


async def test_an_event_past_the_hop_limit_is_dead_lettered_as_a_loop(
    redis: Redis, tmp_path: Path
) -> None:
    async with running(redis, tmp_path, rules_text("{id: mem, type: memory, name: m}"),
                       settings=Settings(max_hops=2)):  # fmt: skip
        await put(redis, hops=2)
        await put(redis, hops=3)
        [letter] = await until(lambda: dead_letters(redis), "a loop dead letter")
        await until(lambda: recorded("m"), "the event within the limit")
    assert letter["error-code"] == "LOOP_DETECTED"
    assert len(recorded("m")) == 1 and recorded("m")[0].ctx.hops == 2


async def test_malformed_and_oversized_bus_entries_are_reported_and_routing_goes_on(
    redis: Redis, tmp_path: Path
) -> None:
    stream = keys.bus_stream("default", 0)
    settings = Settings(max_entry_bytes=1000)
    async with running(redis, tmp_path, rules_text("{id: mem, type: memory, name: m}"),
                       settings=settings):  # fmt: skip
        await redis.xadd(stream, {"nothing": "here"})
        await redis.xadd(stream, {"event": "{not json", "hops": "0"})
        await redis.xadd(stream, {"event": "[1, 2]"})
        big = orjson.dumps({"id": "x", "source": "shop", "detail": {"pad": "x" * 20000}})
        await redis.xadd(stream, {"event": big})
        await put(redis)
        await until(lambda: recorded("m"), "the good event")
        letters = await until(
            lambda: _when(dead_letters(redis), lambda x: len(x) == 4), "four dead letters"
        )
    codes = [x["error-code"] for x in letters]
    assert codes == [MALFORMED_EVENT, MALFORMED_EVENT, MALFORMED_EVENT, EVENT_TOO_LARGE]
    assert letters[1]["event"] == "{not json"
    assert (await redis.xpending(stream, keys.ROUTER_GROUP))["pending"] == 0


async def test_an_event_past_the_match_budget_is_dead_lettered_and_routing_goes_on(
    redis: Redis, tmp_path: Path
) -> None:
    pattern = "{source: [shop], detail: {channel: [web], total: [{numeric: ['>', 1]}]}}"
    settings = Settings(match_budget=1000)
    async with running(redis, tmp_path, rules_text("{id: mem, type: memory, name: m}",
                       pattern=pattern), settings=settings):  # fmt: skip
        heavy = {"channel": [["web"]] * 300, "total": [[5]] * 300}
        [heavy_id] = await put(redis, Detail=orjson.dumps(heavy).decode())
        await put(redis, Detail='{"channel": "web", "total": 5}')
        [letter] = await until(lambda: dead_letters(redis), "the dead letter")
        [delivered] = await until(lambda: recorded("m"), "the event behind it")
    assert letter["error-code"] == MATCH_BUDGET_EXCEEDED
    assert "1,000 steps" in letter["error-message"]
    assert orjson.loads(letter["event"])["id"] == heavy_id
    assert delivered.ctx.event_id != heavy_id
    stream = keys.bus_stream("default", 0)
    assert (await redis.xpending(stream, keys.ROUTER_GROUP))["pending"] == 0


async def test_work_held_by_a_dead_router_is_claimed_once_idle(
    redis: Redis, tmp_path: Path
) -> None:
    stream = keys.bus_stream("default", 0)
    (tmp_path / "rules.yaml").write_text(rules_text("{id: mem, type: memory, name: m}"))
    ghost = Router(redis, tmp_path, FAST, settings=Settings())
    await ghost.start()  # creates the groups
    [event_id] = await put(redis)
    # A router that read the entry and died before routing it.
    await redis.xreadgroup(keys.ROUTER_GROUP, "dead-router", {stream: ">"})
    async with running(redis, tmp_path, rules_text("{id: mem, type: memory, name: m}")):
        await until(lambda: recorded("m"), "the claimed event delivered")
    assert [r.ctx.event_id for r in recorded("m")] == [event_id]


async def test_a_delivery_held_by_a_dead_router_is_claimed_once_idle(
    redis: Redis, tmp_path: Path
) -> None:
    text = rules_text("{id: mem, type: memory, name: m}")
    (tmp_path / "rules.yaml").write_text(text)
    queue = keys.delivery_queue("default", "orders", "mem")
    ghost = Router(redis, tmp_path, FAST, settings=Settings())
    await ghost.start()
    await ghost.route_entries(ghost.table, [])
    [event_id] = await put(redis)
    await ghost.route_entries(
        ghost.table,
        await redis.xreadgroup(keys.ROUTER_GROUP, "ghost", {keys.bus_stream("default", 0): ">"}),
    )
    await redis.xreadgroup(keys.DELIVERY_GROUP, "dead-router", {queue: ">"})
    async with running(redis, tmp_path, text):
        await until(lambda: recorded("m"), "the claimed delivery made")
    assert [r.ctx.event_id for r in recorded("m")] == [event_id]


async def test_outcomes_are_published_back_on_the_bus_with_one_more_hop(
    redis: Redis, tmp_path: Path
) -> None:
    watcher = """  - name: outcomes
    event_pattern: {source: [eventbus]}
    targets:
      - {id: seen, type: memory, name: outcomes}
"""
    text = rules_text(
        "{id: mem, type: memory, name: m, emit_outcome: true}",
        "{id: no, type: memory, fail_first: 9, fail_permanently: true, emit_outcome: true}",
        extra_rules=watcher,
    )
    async with running(redis, tmp_path, text):
        [event_id] = await put(redis)
        await until(lambda: len(recorded("outcomes")) == 2, "two outcome events")
    outcomes = {r.ctx.event["detail-type"]: r for r in recorded("outcomes")}
    ok = outcomes["Delivery Succeeded"]
    assert ok.ctx.hops == 1
    assert ok.ctx.event["detail"] == {
        "bus": "default",
        "rule": "orders",
        "target": "mem",
        "delivery-id": f"{event_id}:default:orders:mem",
        "event-id": event_id,
        "attempts": 1,
        "result": {"count": 1},
    }
    failed = outcomes["Delivery Failed"].ctx.event["detail"]
    assert (failed["target"], failed["error-code"]) == ("no", "MEMORY_REFUSED")


async def test_changed_rules_are_reloaded_and_invalid_ones_refused(
    redis: Redis, tmp_path: Path
) -> None:
    async with running(redis, tmp_path, rules_text("{id: mem, type: memory, name: m}")) as router:
        await put(redis)
        await until(lambda: len(recorded("m")) == 1, "first delivery")
        two = rules_text("{id: mem, type: memory, name: m}", "{id: more, type: memory, name: m2}")
        (tmp_path / "rules.yaml").write_text(two)
        await until(lambda: ("default", "orders", "more") in router.lanes, "the new target")
        (tmp_path / "rules.yaml").write_text("rules: [{name: broken}]")
        router.request_reload()
        await asyncio.sleep(0.3)  # give the refused reload its chance to (wrongly) apply
        assert ("default", "orders", "more") in router.lanes
        await put(redis)
        await until(lambda: len(recorded("m")) == 2 and len(recorded("m2")) == 1, "both targets")


async def test_a_redriven_dead_letter_is_read_through_its_wake_up(
    redis: Redis, tmp_path: Path
) -> None:
    async with running(redis, tmp_path, rules_text("{id: mem, type: memory, name: m}")) as router:
        await put(redis)
        await until(lambda: len(recorded("m")) == 1, "first delivery")
        event = recorded("m")[0].ctx.event
        letter = {"event": orjson.dumps(event), "bus": "default", "rule": "orders",
                  "target": "mem", "delivery-id": "again", "hops": "0"}  # fmt: skip
        await redis.xadd("eb:{default}:dlq", letter)  # type: ignore[arg-type]
        report = await redrive(redis, router.table.ruleset, ["eb:{default}:dlq"])
        assert report.requeued == 1
        await until(lambda: len(recorded("m")) == 2, "the redriven delivery")


async def test_queue_writes_and_retries_whose_wake_up_was_lost_are_found_by_the_full_read(
    redis: Redis, tmp_path: Path
) -> None:
    options = replace(FAST, sweep_interval=0.2)
    text = rules_text("{id: mem, type: memory, name: m}")
    async with running(redis, tmp_path, text, options=options):
        await put(redis)
        event = (await until(lambda: recorded("m"), "first delivery"))[0].ctx.event
        text = orjson.dumps(event).decode()
        record = QueuedDelivery("lost", event["id"], text, text, 0, int(time.time() * 1000))
        fields = record.fields()
        # A queue entry and a due retry written as if their wake-up and due note were lost.
        queue = keys.delivery_queue("default", "orders", "mem")
        await redis.xadd(queue, fields)  # type: ignore[arg-type]
        retry = replace(record, delivery_id="retry").fields().items()
        member = orjson.dumps([str(x) for kv in retry for x in kv])
        await redis.zadd(keys.delivery_retries("default", "orders", "mem"), {member: 1})
        await until(lambda: len(recorded("m")) == 3, "both found by the full read")
    assert {"lost", "retry"} <= {r.ctx.delivery_id for r in recorded("m")}


class FastClock:
    """Scheduler time that runs a hundred times faster than real time."""

    def __init__(self) -> None:
        self.moment = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / 100)
        self.moment += timedelta(seconds=seconds)


async def test_a_schedule_rule_fires_to_its_target(redis: Redis, tmp_path: Path) -> None:
    schedule = """
  - name: tick
    schedule_expression: rate(1 minute)
    targets:
      - {id: out, type: redis_stream, stream: ticks}"""
    text = rules_text("{id: mem, type: memory, name: m}", extra_rules=schedule)
    async with running(redis, tmp_path, text, clock=FastClock()):
        await until(lambda: redis.xlen("ticks"), "a scheduled delivery")
    event = orjson.loads((await redis.xrange("ticks", count=1))[0][1][b"payload"])
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    assert event["time"].startswith("2030-01-01T00:0")


async def test_routing_and_delivery_are_counted_in_the_metrics(
    redis: Redis, tmp_path: Path
) -> None:
    refusing = "{id: no, type: memory, fail_first: 100, fail_permanently: true}"
    to_dlq = (
        "{id: dl, type: memory, fail_first: 100, fail_permanently: true,"
        " dead_letter: {stream: my-dlq}}"
    )
    text = rules_text("{id: out, type: redis_stream, stream: out}", refusing, to_dlq)
    async with running(redis, tmp_path, text):
        await put(redis, 3)
        await until(lambda: _when(redis.xlen("out"), lambda n: n == 3), "3 stream deliveries")
        await until(lambda: _when(dead_letters(redis), lambda d: len(d) == 3), "3 dead letters")
        await until(lambda: _when(redis.xlen("my-dlq"), lambda n: n == 3), "3 in my-dlq")
    text = await render_metrics(redis)
    labels = 'bus="default",rule="orders",target="out"'
    assert f"eventbus_invocations_total{{{labels}}} 3" in text
    assert f"eventbus_successful_invocation_attempts_total{{{labels}}} 3" in text
    assert 'eventbus_matched_events_total{bus="default"} 3' in text
    assert 'eventbus_triggered_rules_total{bus="default",rule="orders"} 3' in text
    # A target with no dead_letter of its own or its bus's: failed (as EventBridge without a
    # DLQ), though kept in the bus's default dead-letter stream
    refused = 'bus="default",rule="orders",target="no"'
    assert f"eventbus_invocations_total{{{refused}}} 3" in text
    assert f"eventbus_failed_invocations_total{{{refused}}} 3" in text
    assert f"eventbus_dead_letter_invocations_total{{{refused}}}" not in text
    # One with a dead_letter: dead-lettered, not failed
    dead_lettered = 'bus="default",rule="orders",target="dl"'
    assert f"eventbus_invocations_total{{{dead_lettered}}} 3" in text
    assert f"eventbus_dead_letter_invocations_total{{{dead_lettered}}} 3" in text
    assert f"eventbus_failed_invocations_total{{{dead_lettered}}}" not in text


async def test_the_gateway_served_with_the_router_lists_the_reloaded_rules(
    redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(rules_text("{id: mem, type: memory, name: m}"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    routers: list[Router] = []
    http = HttpOptions(port, no_auth=True)
    task = asyncio.create_task(run_router(redis_url, tmp_path, FAST, http=http,
                                          ready=routers.append))  # fmt: skip
    [router] = await until(lambda: routers, "a running router")
    try:
        renamed = rules_text("{id: mem, type: memory, name: m}").replace("orders", "invoices")
        (tmp_path / "rules.yaml").write_text(renamed)
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": "AWSEvents.ListRules"}  # fmt: skip
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def names() -> list[str]:
                answer = await client.post("/", content=b"{}", headers=headers)
                return [r["Name"] for r in answer.json()["Rules"]]

            await until(lambda: _when(names(), lambda n: n == ["invoices"]), "the new rule listed")
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
