"""Archives on a real Redis: captured once in the step acknowledging a bus batch (pattern
filter, replayed events skipped, a router failing mid-batch), compressed into blocks, read back
by event-time window, retention, rule-file declaration and the CLI."""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from test_loops import Failing
from test_worker import (  # the router harness of the router's own tests
    _clean_memory_targets,  # noqa: F401 (an autouse fixture)
    put,
    recorded,
    rules_text,
    running,
    until,
)
from test_worker import redis as redis
from typer.testing import CliRunner

from eventbus.archives import Archive
from eventbus.archives.store import (
    BLOCK_EVENTS,
    compact,
    enforce_retention,
    read_window,
    stats,
)
from eventbus.cli import app
from eventbus.config import load_rules
from eventbus.errors import RuleFileError
from eventbus.loops import routing as routing_module

MEM = "{id: mem, type: memory, name: m}"
ARCHIVES = """
archives:
  - name: everything
  - name: big-orders
    event_pattern: {detail: {n: [{numeric: [">=", 5]}]}}
    retention_days: 30
"""


def archive(rules_dir: Path, name: str) -> Archive:
    return load_rules(rules_dir).archives[name]


async def archived(redis: Redis, a: Archive) -> list[dict[str, Any]]:
    return [e async for e in read_window(redis, a, 0, 2**62)]


async def test_matching_events_are_captured_once_as_published_and_replays_are_skipped(
    redis: Redis, tmp_path: Path
) -> None:
    async with running(redis, tmp_path, rules_text(MEM) + ARCHIVES):
        ids = await put(redis, 10)
        await put(redis, Detail='{"n": 99}', **{"Resources": ["r"]})
        await until(lambda: len(recorded("m")) >= 11, "all delivered")
        everything, big = archive(tmp_path, "everything"), archive(tmp_path, "big-orders")
        await until(lambda: _count(redis, everything, 11), "all archived")
    events = await archived(redis, everything)
    assert set(ids) < {e["id"] for e in events} and len({e["id"] for e in events}) == 11
    assert sorted(e["detail"]["n"] for e in await archived(redis, big)) == [5, 6, 7, 8, 9, 99]
    # as published: the envelope EventBridge gives, unchanged
    assert {"version", "id", "detail-type", "source", "account", "time", "region"} <= set(events[0])


async def test_an_event_with_a_replay_name_is_not_archived(redis: Redis, tmp_path: Path) -> None:
    from eventbus.archives.capture import Capture

    a = Archive("everything", "default", 1)
    capture = Capture([a])
    stream = b"eb:{default#0}:events"
    replayed = orjson.dumps({"id": "1", "replay-name": "r", "time": "2030-01-01T00:00:00Z"})
    fresh = orjson.dumps({"id": "2", "time": "2030-01-01T00:00:00Z"})
    assert capture.records(stream, b"1-0", {b"event": replayed}) == []
    [(_, _, key, fields)] = capture.records(stream, b"1-0", {b"event": fresh})
    assert key == a.raw(0) and fields == {"t": 1893456000000, "e": fresh.decode()}


async def test_a_batch_whose_acknowledging_step_fails_is_captured_once_when_read_again(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = Failing(routing_module.enqueue_deliveries, lambda *a, **k: True,
                      RedisConnectionError("router lost Redis mid-batch"), times=2)  # fmt: skip
    monkeypatch.setattr(routing_module, "enqueue_deliveries", failing)
    ids = await put(redis, 20)  # before the router reads: one batch
    async with running(redis, tmp_path, rules_text(MEM) + ARCHIVES):
        a = archive(tmp_path, "everything")
        await until(lambda: len(recorded("m")) == 20, "all delivered")
        await until(lambda: _count(redis, a, 20), "all archived")
    assert failing.raised == 2
    assert sorted(e["id"] for e in await archived(redis, a)) == sorted(ids)
    assert (await stats(redis, a)).events == 20


async def test_blocks_compress_and_a_window_reads_only_its_events_in_time_order(
    redis: Redis,
) -> None:
    a = Archive("w", "default", 2)
    n = 2 * BLOCK_EVENTS + 30
    raw_bytes = 0
    for i in range(n):
        event = {"id": f"e{i}", "source": "shop", "detail-type": "OrderPlaced", "account": "1",
                 "region": "us-east-1", "time": f"2030-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
                 "detail": {"n": i, "customer": f"c{i % 7}", "items": ["book", "pen"]}}  # fmt: skip
        text = orjson.dumps(event)
        raw_bytes += len(text)
        await redis.xadd(a.raw(i % 2), {"t": 1893456000000 + i * 1000, "e": text})
    before = await stats(redis, a)
    assert (before.events, before.size_bytes) == (n, raw_bytes)
    done = sum([await compact(redis, a, p, flush_after_ms=0) for p in range(2)])
    after = await stats(redis, a)
    assert done == n and after.events == n and after.size_bytes < raw_bytes / 3
    assert await redis.xlen(a.raw(0)) == 0
    blocks = await redis.hvals(a.blocks(0))
    assert sum(len(zlib.decompress(b).split(b"\n")) for b in blocks) == n // 2
    window = [
        e async for e in read_window(redis, a, 1893456000000 + 50_000, 1893456000000 + 149_000)
    ]
    assert [e["detail"]["n"] for e in window] == list(range(50, 150))


async def test_retention_drops_blocks_whose_events_are_all_older(redis: Redis) -> None:
    a = Archive("kept", "default", 1, retention_days=1)
    day = 86_400_000
    for i in range(BLOCK_EVENTS * 2):  # an old block, then a recent one
        at = (0 if i < BLOCK_EVENTS else 5 * day) + i
        await redis.xadd(a.raw(0), {"t": at, "e": orjson.dumps({"id": str(i)})})
    await compact(redis, a, 0, flush_after_ms=0)
    assert await enforce_retention(redis, a, now_ms=5 * day + 1000) == BLOCK_EVENTS
    assert (await stats(redis, a)).events == BLOCK_EVENTS
    assert await redis.hlen(a.blocks(0)) == 1


def test_archive_declarations_are_checked_with_file_line_and_field(tmp_path: Path) -> None:
    def problems(archives: str) -> str:
        (tmp_path / "rules.yaml").write_text(rules_text(MEM) + "archives:\n" + archives)
        with pytest.raises(RuleFileError) as e:
            load_rules(tmp_path)
        return str(e.value)

    too_long = problems(f"  - name: ok\n  - name: {'a' * 49}\n")
    assert "rules.yaml:14: archives[1].name: String should have at most 48" in too_long
    bad = problems("""  - name: ok
  - name: bad-pattern
    event_pattern: {detail: {n: [{numeric: [">", "x"]}]}}
  - name: ok
""")
    assert "rules.yaml:15: archives[1].event_pattern.detail.n" in bad
    assert "rules.yaml:16: archives[2].name: archive name 'ok' is already used at" in bad


async def test_cli_lists_describes_and_queries_archives(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    async with running(redis, tmp_path, rules_text(MEM) + ARCHIVES):
        await put(redis, 8)
        a = archive(tmp_path, "big-orders")
        await until(lambda: _count(redis, a, 3), "archived")
    base = ["--rules", str(tmp_path), "--redis", redis_url]

    def invoke(*args: str) -> Any:  # the CLI runs its own event loop: off this one
        return asyncio.to_thread(CliRunner().invoke, app, ["archives", *args, *base])

    listed = await invoke("list")
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in map(orjson.loads, listed.stdout.splitlines())}
    assert (rows["everything"]["events"], rows["big-orders"]["events"]) == (8, 3)
    assert rows["big-orders"]["size_bytes"] > 0 and rows["big-orders"]["retention_days"] == 30
    described = await invoke("describe", "big-orders")
    assert orjson.loads(described.stdout)["bus"] == "default"
    queried = await invoke(
        "query", "--archive", "everything", "--pattern", '{"detail": {"n": [0, 7]}}'
    )
    assert queried.exit_code == 0, queried.output
    assert sorted(orjson.loads(x)["detail"]["n"] for x in queried.stdout.splitlines()) == [0, 7]
    missing = await invoke("describe", "nope")
    assert missing.exit_code == 1


async def _count(redis: Redis, a: Archive, n: int) -> bool:
    return (await stats(redis, a)).events >= n


async def test_the_router_compresses_full_blocks_as_it_goes(redis: Redis, tmp_path: Path) -> None:
    async with running(redis, tmp_path, rules_text(MEM) + ARCHIVES):
        ids = await put(redis, BLOCK_EVENTS + 20)
        a = archive(tmp_path, "everything")
        await until(lambda: redis.hlen(a.blocks(0)), "a block compressed")
        await until(lambda: _count(redis, a, BLOCK_EVENTS + 20), "all archived")
    assert sorted(e["id"] for e in await archived(redis, a)) == sorted(ids)
