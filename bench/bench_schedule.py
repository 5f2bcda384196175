"""10,000 schedule rules due in the same minute: how late each firing reaches its target's queue,
and the CPU it costs, with one and with two scheduler instances racing on one Redis.

Run: ``.venv/bin/python bench/bench_schedule.py [--rules 10000]``. The bench starts its own
redis-server; each instance is its own process. A firing "reaches its target" when its delivery
is in the target's queue (from there the router delivers, as for any matched event). Lateness
is that queue entry's Redis timestamp minus the scheduled time. The baseline row does the same
firings the naive way (one round trip per claim and per delivery, one instance). Never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import redis
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from redis_server import RedisServer

from eventbus import keys
from eventbus.config import BusRules, RuleSet, load_rules
from eventbus.schedule.firing import scheduled_deliveries
from eventbus.scheduler import Scheduler
from eventbus.settings import rule_arn

# Real seconds between starting the instances and the minute every rule is due.
LEAD = 6.0
RULE = {
    "name": "r",
    "schedule_expression": "rate(1 minute)",
    "targets": [{"id": "out", "type": "redis_stream", "stream": "out"}],
}


def build_ruleset(count: int) -> RuleSet:
    """``count`` copies of one rule (loading a 10,000-rule YAML file would time YAML)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_bytes(orjson.dumps({"rules": [RULE]}))
        template = load_rules(path).rule("default", "r")
    bus = BusRules("default")
    for i in range(count):
        name = f"r{i:05d}"
        bus.rules[name] = dataclasses.replace(template, name=name, arn=rule_arn("default", name))
    return RuleSet({"default": bus})


class OffsetClock:
    """The real clock shifted so that a minute boundary falls ``LEAD`` seconds after start."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def instance(url: str, count: int, offset: float, name: str, stop: Any, out: Any) -> None:
    """One scheduler process: plan every rule, run until told to stop, report its CPU time."""
    ruleset = build_ruleset(count)

    async def main() -> tuple[int, float]:
        client = Redis.from_url(url)
        scheduler = Scheduler(client, lambda: ruleset, clock=OffsetClock(offset), consumer=name)
        await scheduler.tick()
        cpu = time.process_time()
        done = asyncio.Event()
        loop = asyncio.create_task(scheduler.run(done))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        done.set()
        await loop
        await client.aclose()
        return scheduler.fired, time.process_time() - cpu

    made, cpu = asyncio.run(main())
    out.put((name, cpu, made))


def queue_names(count: int) -> list[str]:
    return [keys.delivery_queue("default", f"r{i:05d}", "out") for i in range(count)]


def arrivals(client: redis.Redis, count: int) -> list[list[int]]:
    """For each rule's queue, the Redis timestamps (ms) of its entries."""
    pipe = client.pipeline(transaction=False)
    for queue in queue_names(count):
        pipe.xrange(queue)
    return [[int(entry_id.split(b"-")[0]) for entry_id, _ in r] for r in pipe.execute()]


def wait_for_all(client: redis.Redis, count: int, due: float, deadline: float) -> None:
    """Wait until every queue has its entry; counting is not free, so not before ``due``."""
    time.sleep(max(0.0, due - time.time()))
    while time.time() < deadline:
        pipe = client.pipeline(transaction=False)
        for queue in queue_names(count):
            pipe.xlen(queue)
        if sum(pipe.execute()) >= count:
            return
        time.sleep(1.0)


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_instances(url: str, count: int, instances: int) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushall()
    start = time.time() + LEAD
    due = math.ceil(start / 60) * 60  # a whole minute of the shifted clock
    offset = due - start
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    names = [f"instance-{i}" for i in range(instances)]
    procs = [ctx.Process(target=instance, args=(url, count, offset, n, stop, out)) for n in names]
    for p in procs:
        p.start()
    server_cpu = redis_cpu(client)
    wait_for_all(client, count, start + 3, start + 60)
    time.sleep(0.5)  # a late duplicate, if there were one, would land now
    stop.set()
    reports = [out.get() for _ in procs]
    for p in procs:
        p.join()
    server_cpu = redis_cpu(client) - server_cpu
    times = arrivals(client, count)
    client.close()
    lateness = sorted(ms[0] / 1000 + offset - due for ms in times if ms)
    return {
        "row": f"eventbus scheduler, {instances} instance(s)",
        "lateness": lateness,
        "delivered": sum(len(ms) for ms in times),
        "exactly_once": sum(1 for ms in times if len(ms) == 1),
        "cpu": sum(cpu for _, cpu, _ in reports),
        "redis_cpu": server_cpu,
        "split": "/".join(str(made) for _, _, made in sorted(reports)),
    }


async def naive(url: str, count: int) -> dict[str, Any]:
    """The baseline: one round trip per claim (SET NX) and one per delivery (XADD)."""
    ruleset = build_ruleset(count)
    client = Redis.from_url(url)
    await client.flushall()
    bus = ruleset.buses["default"]
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    await asyncio.sleep((due - datetime.now(UTC)).total_seconds())
    server_cpu, cpu = (
        await asyncio.to_thread(redis_cpu, redis.Redis.from_url(url)),
        time.process_time(),
    )
    for rule in bus.rules.values():
        stamp = int(due.timestamp() * 1000)
        if await client.set(f"naive:{rule.name}:{stamp}", 1, nx=True, ex=86400):
            for d in scheduled_deliveries(rule, bus, due, now_ms=int(time.time() * 1000)):
                fields = {"payload": d.payload or "", "event": d.event_text}
                await client.xadd(keys.delivery_queue(d.bus, d.rule, d.target_id), fields)  # type: ignore[arg-type]
    cpu = time.process_time() - cpu
    sync = redis.Redis.from_url(url)
    times = arrivals(sync, count)
    server_cpu = redis_cpu(sync) - server_cpu
    sync.close()
    await client.aclose()
    return {
        "row": "baseline: a round trip per claim and per delivery, 1 instance",
        "lateness": sorted(ms[0] / 1000 - due.timestamp() for ms in times if ms),
        "delivered": sum(len(ms) for ms in times),
        "exactly_once": sum(1 for ms in times if len(ms) == 1),
        "cpu": cpu,
        "redis_cpu": server_cpu,
        "split": "-",
    }


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def print_table(rows: list[dict[str, Any]], count: int) -> None:
    print(
        f"{count} rules due in the same minute; {platform.processor() or platform.machine()},"
        f" {mp.cpu_count()} cores, Python {platform.python_version()}"
    )
    header = (
        f"{'run':<64} {'p50 late s':>10} {'p99 late s':>10} {'max s':>7} {'delivered':>9}"
        f" {'once':>6} {'CPU s/1k':>8} {'Redis CPU s/1k':>14}  made per instance"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        per_k = count / 1000
        print(
            f"{r['row']:<64} {percentile(r['lateness'], 0.5):>10.3f}"
            f" {percentile(r['lateness'], 0.99):>10.3f} {r['lateness'][-1]:>7.3f}"
            f" {r['delivered']:>9} {r['exactly_once']:>6} {r['cpu'] / per_k:>8.3f}"
            f" {r['redis_cpu'] / per_k:>14.3f}  {r['split']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            rows = [run_instances(server.url, args.rules, n) for n in (1, 2)]
            rows.append(asyncio.run(naive(server.url, args.rules)))
        finally:
            server.stop()
    print_table(rows, args.rules)


if __name__ == "__main__":
    main()
