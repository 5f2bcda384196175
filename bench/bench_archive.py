"""Archive capture: its overhead on end-to-end routing, and bytes per archived event.

A router (in this process) routes a preloaded bus of N realistic events through 10 rules to a
`redis_stream` target, without an archive and then with one that keeps every event; the two are
alternated `--rounds` times on the same redis-server, and the router's process CPU time per
event and wall-clock rate are compared in the same run. Then the archive is compressed into
blocks and its bytes per event compared with the events' raw size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from _common import make_events, print_table
from bench_publish import redis_server
from redis.asyncio import Redis

from eventbus import keys
from eventbus.archives.compactor import ArchiveCompactor
from eventbus.archives.store import compact, stats
from eventbus.client import AsyncEventBusClient
from eventbus.config import load_rules
from eventbus.worker import Router, RouterOptions

RULES = """bus: default
rules:
{rules}
{archives}"""
RULE = "  - name: r{i}\n    event_pattern: {{source: [shop.orders]}}\n" \
       "    targets: [{{id: out, type: redis_stream, stream: out{i}, max_len: 1000}}]"  # fmt: skip
ARCHIVE = "archives:\n  - name: all\n"


async def route_all(
    url: str, rules_dir: Path, events: list[dict[str, object]], *, compress: bool = True
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) the router takes to route every event of a preloaded bus;
    without ``compress``, its archive compactor is left out (the capture's own cost)."""
    redis = Redis.from_url(url)
    await redis.flushall()
    client = AsyncEventBusClient(redis)
    for start in range(0, len(events), 500):
        entries = [{"Source": e["source"], "DetailType": e["detail-type"],
                    "Detail": orjson.dumps(e["detail"]).decode()}
                   for e in events[start : start + 500]]  # fmt: skip
        for chunk in range(0, len(entries), 10):
            await client.put_events(entries[chunk : chunk + 10])
    router = Router(redis, rules_dir, RouterOptions(block_ms=20))
    if not compress:
        router.loops = [loop for loop in router.loops if not isinstance(loop, ArchiveCompactor)]
    await router.start()
    stream = keys.bus_stream("default", 0)
    cpu, wall = time.process_time(), time.perf_counter()
    task = asyncio.create_task(router.run())
    while True:
        groups = await redis.xinfo_groups(stream)
        if groups and groups[0]["pending"] == 0 and groups[0]["lag"] == 0:
            break
        await asyncio.sleep(0.01)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    router.stop()
    await task
    await redis.aclose()
    return cpu, wall


async def main(n: int, rounds: int) -> None:
    events = make_events(n, 50)
    binary = shutil.which("redis-server") or "redis-server"
    with redis_server(binary) as url, tempfile.TemporaryDirectory() as d:
        plain, archived = Path(d, "plain"), Path(d, "archived")
        for path, extra in ((plain, ""), (archived, ARCHIVE)):
            path.mkdir()
            rules = "\n".join(RULE.format(i=i) for i in range(10))
            (path / "rules.yaml").write_text(RULES.format(rules=rules, archives=extra))
        runs: dict[str, list[tuple[float, float]]] = {"plain": [], "captured": [], "archived": []}
        for _ in range(rounds):
            runs["plain"].append(await route_all(url, plain, events))
            runs["archived"].append(await route_all(url, archived, events))
            # last: its archive is left raw, for the bytes per event below
            runs["captured"].append(await route_all(url, archived, events, compress=False))
        rows = []
        for name, got in runs.items():
            cpu = statistics.median(c for c, _ in got)
            wall = statistics.median(w for _, w in got)
            rows.append([name, f"{cpu / n * 1e6:.1f}", f"{n / wall:,.0f}"])
        print_table(["router", "CPU µs/event", "events/s (wall)"], rows)
        base = statistics.median(c for c, _ in runs["plain"])
        for name, what in (("captured", "capture alone"), ("archived", "capture + compression")):
            ratio = statistics.median(c for c, _ in runs[name]) / base
            print(f"{what}: {100 * (ratio - 1):+.1f}% router CPU per event (median of {rounds})")
        redis = Redis.from_url(url)
        archive = load_rules(archived).archives["all"]
        raw = await stats(redis, archive)
        await compact(redis, archive, 0, flush_after_ms=0)
        packed = await stats(redis, archive)
        await redis.aclose()
        print(f"archived events: {packed.events}; raw {raw.size_bytes / raw.events:.0f} B/event,"
              f" compressed {packed.size_bytes / packed.events:.0f} B/event")  # fmt: skip
        print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
