"""Delivery queues on a real Redis: enqueue, retry set, dead letters, redrive."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from eventbus import keys
from eventbus.config import RuleSet, load_rules
from eventbus.delivery import (
    DEAD_LETTER_FIELDS,
    QueuedDelivery,
    claim_due_lanes,
    dead_letter_streams,
    enqueue_deliveries,
    ensure_group,
    index_retries,
    iter_dead_letters,
    move_due_retries,
    redrive,
    retry_later,
    settle_due_lanes,
)
from eventbus.router import LOOP_DETECTED, Delivery, route

RULES = """
bus: default
rules:
  - name: orders
    event_pattern: {source: [shop]}
    targets:
      - id: a
        type: log
      - id: b
        type: log
        dead_letter: {stream: b-dead}
"""
EVENT = {"id": "e1", "source": "shop", "detail-type": "x", "detail": {}}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def ruleset(tmp_path: Path) -> RuleSet:
    (tmp_path / "r.yaml").write_text(RULES)
    return load_rules(tmp_path)


def deliveries(ruleset: RuleSet, hops: int = 0) -> list[Delivery]:
    bus = ruleset.buses["default"]
    return route(EVENT, bus, matcher=ruleset.matcher("default"), hops=hops, since_ms=1000)


BUS = keys.bus_stream("default", 0)


async def read_bus_entries(redis: Redis, n: int = 1) -> list[tuple[str, str, list[bytes]]]:
    """Put EVENT on the bus ``n`` times and read it as a router does; what acknowledging takes."""
    await ensure_group(redis, BUS, keys.ROUTER_GROUP)
    async with redis.pipeline(transaction=False) as pipe:
        for _ in range(n):
            pipe.xadd(BUS, {"event": orjson.dumps(EVENT)})
        await pipe.execute()
    [(_, entries)] = await redis.xreadgroup(keys.ROUTER_GROUP, "c", {BUS: ">"}, count=n)
    return [(BUS, keys.ROUTER_GROUP, [entry_id for entry_id, _ in entries])]


async def bus_pending(redis: Redis) -> int:
    return int((await redis.xpending(BUS, keys.ROUTER_GROUP))["pending"])


def text(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}


async def test_each_delivery_lands_in_its_own_targets_queue(redis: Redis, ruleset: RuleSet) -> None:
    await enqueue_deliveries(redis, deliveries(ruleset))
    for target in ("a", "b"):
        entries = await redis.xrange(keys.delivery_queue("default", "orders", target))
        assert len(entries) == 1
        record = QueuedDelivery.from_entry(entries[0][1])
        assert record.delivery_id == f"e1:default:orders:{target}"
        assert orjson.loads(record.payload) == EVENT
        assert (record.attempts, record.since_ms, record.hops) == (0, 1000, 0)


async def test_the_bus_entry_is_acknowledged_with_its_deliveries(
    redis: Redis, ruleset: RuleSet
) -> None:
    acks = await read_bus_entries(redis)
    await enqueue_deliveries(redis, deliveries(ruleset), ack=acks)
    assert await bus_pending(redis) == 0


async def test_an_inline_delivery_is_made_at_once_and_a_refused_one_is_queued(
    redis: Redis, ruleset: RuleSet
) -> None:
    await redis.set("not-a-stream", "x")
    acks = await read_bus_entries(redis)

    def inline(d: Delivery) -> list[str] | None:
        key = "made" if d.target_id == "a" else "not-a-stream"
        return ["XADD", key, "*", "delivery-id", d.delivery_id]

    made = await enqueue_deliveries(redis, deliveries(ruleset), ack=acks, inline=inline)
    assert [d.target_id for d in made] == ["a"]
    [(_, entry)] = await redis.xrange("made")
    assert entry == {b"delivery-id": b"e1:default:orders:a"}
    assert await redis.xlen(keys.delivery_queue("default", "orders", "a")) == 0
    [(_, queued)] = await redis.xrange(keys.delivery_queue("default", "orders", "b"))
    assert QueuedDelivery.from_entry(queued).delivery_id == "e1:default:orders:b"
    assert await bus_pending(redis) == 0


async def test_a_batch_too_large_for_one_call_is_split_and_acknowledged_last(
    redis: Redis, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventbus.delivery.ENQUEUE_CALL_BYTES", 1)  # a call per delivery
    await redis.set("not-a-stream", "x")
    acks = await read_bus_entries(redis)

    def inline(d: Delivery) -> list[str]:  # the first call's inline delivery is refused
        key = "not-a-stream" if d.target_id == "a" else "made"
        return ["XADD", key, "*", "delivery-id", d.delivery_id]

    made = await enqueue_deliveries(redis, deliveries(ruleset), ack=acks, inline=inline)
    assert [d.target_id for d in made] == ["b"]
    assert await redis.xlen("made") == 1
    assert await redis.xlen(keys.delivery_queue("default", "orders", "a")) == 1
    assert await bus_pending(redis) == 0


async def test_a_batch_past_one_script_records_ack_limit_is_acknowledged_whole(
    redis: Redis, ruleset: RuleSet
) -> None:
    acks = await read_bus_entries(redis, 2500)
    await enqueue_deliveries(redis, [], ack=acks)
    assert await bus_pending(redis) == 0


async def test_undeliverable_deliveries_become_dead_letters_with_the_contract_fields(
    redis: Redis, ruleset: RuleSet
) -> None:
    await enqueue_deliveries(redis, deliveries(ruleset, hops=99))
    [(_, a)] = await redis.xrange("eb:{default}:dlq")
    [(_, b)] = await redis.xrange("b-dead")
    letter = text(a)
    assert set(DEAD_LETTER_FIELDS) <= set(letter)
    assert letter["error-code"] == LOOP_DETECTED
    assert letter["delivery-id"] == "e1:default:orders:a"
    assert letter["rule-arn"].endswith(":rule/orders")
    assert (letter["exhausted-retry-condition"], letter["attempts"]) == ("", "0")
    assert orjson.loads(letter["event"]) == EVENT
    assert text(b)["target"] == "b"
    assert await redis.xlen(keys.delivery_queue("default", "orders", "a")) == 0


async def test_a_retry_due_later_is_moved_through_the_due_index_exactly_when_due(
    redis: Redis, ruleset: RuleSet
) -> None:
    queue = keys.delivery_queue("default", "orders", "a")
    retries = keys.delivery_retries("default", "orders", "a")
    await ensure_group(redis, queue)
    await enqueue_deliveries(redis, deliveries(ruleset)[:1])
    [[_, [(entry_id, fields)]]] = await redis.xreadgroup(keys.DELIVERY_GROUP, "c", {queue: ">"})
    record = QueuedDelivery.from_entry(fields).after_attempt(time.time())
    due_ms = int((time.time() + 60) * 1000)
    await retry_later(redis, queue, retries, entry_id, record, due_ms / 1000, bus="default")
    assert (await redis.xpending(queue, keys.DELIVERY_GROUP))["pending"] == 0
    assert await redis.zscore(keys.retry_due("default"), queue) == due_ms
    _, early = await claim_due_lanes(redis, ["default"], due_ms - 1)
    assert early == {}
    lease, due = await claim_due_lanes(redis, ["default"], due_ms)
    assert due == {"default": [queue]}
    assert await move_due_retries(redis, [(retries, queue)], due_ms) == [(1, "")]
    await settle_due_lanes(redis, "default", lease, [(queue, "", 1)])
    assert await redis.zcard(retries) == 0
    assert await redis.zcard(keys.retry_due("default")) == 0  # nothing left: out of the index
    [(_, woken)] = await redis.xrevrange(keys.queue_wakes("default"), count=1)
    assert queue.encode() in woken  # the routers are told the queue has entries again
    [[_, [(_, back)]]] = await redis.xreadgroup(keys.DELIVERY_GROUP, "c", {queue: ">"})
    again = QueuedDelivery.from_entry(back)
    assert again.attempts == 1 and again.first_attempt_time == record.first_attempt_time
    assert again.payload == record.payload and again.delivery_id == record.delivery_id


async def test_a_lane_claimed_by_a_mover_keeps_a_retry_noted_meanwhile(redis: Redis) -> None:
    index = keys.retry_due("default")
    await redis.zadd(index, {"q": 5})
    lease, due = await claim_due_lanes(redis, ["default"], 10)
    assert due == {"default": ["q"]}
    # A retry due long after the lease is parked while the mover moves: the move saw none.
    record = QueuedDelivery("e1:default:r:t", "e1", "{}", "{}", 0, 1000, attempts=1)
    await retry_later(redis, "q", "r", b"0-1", record, 3600.0, bus="default")
    await settle_due_lanes(redis, "default", lease, [("q", "", 0)])
    assert await redis.zscore(index, "q") is not None  # still indexed: found when due


async def test_due_retries_of_many_lanes_all_return_to_their_own_queues(redis: Redis) -> None:
    record = QueuedDelivery("e1:default:r:t", "e1", "{}", "{}", 0, 1000, attempts=1)
    member = orjson.dumps([str(x) for kv in record.fields().items() for x in kv])
    lanes = [(f"retry{i}", f"queue{i}") for i in range(250)]
    for retries, _ in lanes[::10]:
        await redis.zadd(retries, {member: 5})
    await redis.zadd("retry0", {b"later": 50})
    moved = await move_due_retries(redis, lanes, now_ms=10)
    assert moved[0] == (1, "50")
    assert [m[0] for m in moved[1:]] == [1 if i % 10 == 0 else 0 for i in range(1, 250)]
    for i, (retries, queue) in enumerate(lanes):
        assert await redis.xlen(queue) == (1 if i % 10 == 0 else 0)
        assert await redis.zcard(retries) == (1 if i == 0 else 0)


async def test_the_full_check_indexes_retry_sets_whose_due_note_was_lost(redis: Redis) -> None:
    retries = [keys.delivery_retries("default", f"r{i}", "t") for i in range(4)]
    await redis.zadd(retries[1], {b"m": 70})
    await redis.zadd(retries[2], {b"m": 90})
    await redis.set(retries[3], "not a sorted set")
    await redis.zadd(keys.delivery_retries("default", "not-running", "t"), {b"m": 10})
    await redis.zadd(keys.retry_due("default"), {"queue2": 80})
    lanes = [("default", retries[i], f"queue{i}") for i in range(4)]
    assert await index_retries(redis, lanes) == 2
    index = await redis.zrange(keys.retry_due("default"), 0, -1, withscores=True)
    assert index == [(b"queue1", 70.0), (b"queue2", 80.0)]  # never later than it was


async def test_dead_letter_streams_include_named_default_and_found_ones(
    redis: Redis, ruleset: RuleSet
) -> None:
    await redis.xadd("eb:{old-bus}:dlq", {"x": "1"})
    streams = await dead_letter_streams(redis, ruleset)
    assert streams == ["b-dead", "eb:{default}:dlq", "eb:{old-bus}:dlq"]


async def test_dead_letters_can_be_filtered(redis: Redis, ruleset: RuleSet) -> None:
    await enqueue_deliveries(redis, deliveries(ruleset, hops=99))
    streams = await dead_letter_streams(redis, ruleset)
    found = [letter["target"] async for _, _, letter in iter_dead_letters(redis, streams)]
    assert sorted(found) == ["a", "b"]
    only_b = [x async for x in iter_dead_letters(redis, streams, target="b", rule="orders")]
    assert [letter["target"] for _, _, letter in only_b] == ["b"]


async def test_redrive_requeues_to_its_own_target_with_the_same_delivery_id(
    redis: Redis, ruleset: RuleSet
) -> None:
    await enqueue_deliveries(redis, deliveries(ruleset, hops=99))
    streams = await dead_letter_streams(redis, ruleset)
    report = await redrive(redis, ruleset, streams, target="b")
    assert (report.requeued, report.kept) == (1, [])
    assert await redis.xlen("b-dead") == 0
    assert await redis.xlen("eb:{default}:dlq") == 1  # a's letter was not selected
    assert await redis.xlen(keys.delivery_queue("default", "orders", "a")) == 0
    [(_, fields)] = await redis.xrange(keys.delivery_queue("default", "orders", "b"))
    record = QueuedDelivery.from_entry(fields)
    assert record.delivery_id == "e1:default:orders:b"
    assert record.attempts == 0 and record.since_ms > 1000  # a fresh retry budget


async def test_redrive_keeps_letters_whose_rule_or_target_is_gone(
    redis: Redis, ruleset: RuleSet, tmp_path: Path
) -> None:
    await enqueue_deliveries(redis, deliveries(ruleset, hops=99))
    (tmp_path / "r.yaml").write_text(RULES.replace("id: b", "id: c"))
    changed = load_rules(tmp_path)
    report = await redrive(redis, changed, ["b-dead", "eb:{default}:dlq"])
    assert report.requeued == 1
    assert [k["delivery-id"] for k in report.kept] == ["e1:default:orders:b"]
    assert "no longer exists" in report.kept[0]["reason"]
    assert await redis.xlen("b-dead") == 1
