"""Publishing throughput: ``put_events`` entries/s at batch sizes 1 and 10, against the ceiling
of a bare redis-py pipeline of XADDs of the same (pre-built) events, on a redis-server of its own;
then the asyncio client against the blocking one at batch 10, alone and with 16 concurrent callers,
in rounds (each a ratio to the blocking client of the same round).

    .venv/bin/python bench/bench_publish.py [--entries 20000] [--rounds 5] [--redis-server PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson
import redis

from eventbus import AsyncEventBusClient, EventBusClient, keys

CONCURRENT_CALLERS = 16
DETAIL = orjson.dumps({"order_id": "o-1", "total": 120.5, "currency": "EUR", "items": [1, 2, 3]})


def entry(n: int, keyed: bool) -> dict[str, str]:
    e = {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": DETAIL.decode()}
    return e | {"IdempotencyKey": f"k{n}"} if keyed else e


@contextmanager
def redis_server(binary: str) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
                "--save", "", "--appendonly", "no"]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        try:
            yield url
        finally:
            client.close()
            proc.terminate()
            proc.wait()


def rate(total: int, work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return total / (time.perf_counter() - start)


def sync_put(url: str, total: int, batch: int, keyed: bool) -> float:
    with EventBusClient.from_url(url) as client:
        batches = [[entry(i + j, keyed) for j in range(batch)] for i in range(0, total, batch)]
        return rate(total, lambda: [client.put_events(b) for b in batches])


def async_put(url: str, total: int, batch: int, keyed: bool, callers: int = 1) -> float:
    """``callers`` tasks share one client, each publishing its share of the batches in turn."""

    async def main() -> float:
        async with AsyncEventBusClient.from_url(url) as client:
            batches = [[entry(i + j, keyed) for j in range(batch)] for i in range(0, total, batch)]

            async def caller(mine: list[list[dict[str, str]]]) -> None:
                for b in mine:
                    await client.put_events(b)

            start = time.perf_counter()
            await asyncio.gather(*(caller(batches[n::callers]) for n in range(callers)))
            return total / (time.perf_counter() - start)

    return asyncio.run(main())


def async_concurrent(url: str, total: int, batch: int, keyed: bool) -> float:
    return async_put(url, total, batch, keyed, callers=CONCURRENT_CALLERS)


def bare_xadd(url: str, total: int, batch: int, keyed: bool) -> float:
    """The ceiling: the same events, already serialised, XADDed in pipelines of ``batch``."""
    stream = keys.bus_stream("bench", 0)
    event = {"version": "0", "detail-type": "OrderPlaced", "source": "shop.orders",
             "detail": orjson.loads(DETAIL)}  # fmt: skip
    data = [orjson.dumps(event | {"id": str(uuid.uuid4())}) for _ in range(total)]
    client = redis.Redis.from_url(url)

    def work() -> None:
        for i in range(0, total, batch):
            pipe = client.pipeline(transaction=False)
            for d in data[i : i + batch]:
                pipe.xadd(stream, {"event": d, "hops": 0, "ingested": "2026-01-01T00:00:00.000Z"})
            pipe.execute()

    try:
        return rate(total, work)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5, help="of the asyncio comparison")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    args = parser.parse_args()
    comparison: dict[str, Callable[[str, int, int, bool], float]] = {
        "EventBusClient.put_events": sync_put,
        "AsyncEventBusClient.put_events": async_put,
        f"AsyncEventBusClient, {CONCURRENT_CALLERS} concurrent callers": async_concurrent,
    }
    rows = [
        ("bare redis-py XADD pipeline (ceiling)", bare_xadd, False),
        ("EventBusClient.put_events", sync_put, False),
        ("EventBusClient.put_events + IdempotencyKey", sync_put, True),
        ("AsyncEventBusClient.put_events", async_put, False),
    ]
    print(f"{args.entries} entries per cell, redis-server {args.redis_server}")
    print(f"{'':46} {'batch 1':>12} {'batch 10':>12}  {'vs ceiling (1 / 10)':>20}")
    ceiling: dict[int, float] = {}
    for name, bench, keyed in rows:
        cells = {}
        for batch in (1, 10):
            with redis_server(args.redis_server) as url:
                cells[batch] = bench(url, args.entries, batch, keyed)
        ceiling = ceiling or cells
        ratio = f"{cells[1] / ceiling[1]:.2f} / {cells[10] / ceiling[10]:.2f}"
        print(f"{name:46} {cells[1]:>10,.0f}/s {cells[10]:>10,.0f}/s  {ratio:>20}")
    # The machine's load varies from second to second: the three run in turn, each round a
    # ratio to the blocking client of the same round; best of rounds and the median ratio.
    # CPU is this process's time per entry, building the batches included.
    rates: dict[str, list[float]] = {name: [] for name in comparison}
    cpus: dict[str, list[float]] = {name: [] for name in comparison}
    for _ in range(args.rounds):
        for name, bench in comparison.items():
            with redis_server(args.redis_server) as url:
                cpu = time.process_time()
                rates[name].append(bench(url, args.entries, 10, False))
                cpus[name].append((time.process_time() - cpu) / args.entries * 1e6)
    sync = "EventBusClient.put_events"
    title = f"batch 10, {args.rounds} rounds"
    print(
        f"\n{title:46} {'best/s':>10}  {'vs sync':>7}  {'median ratio':>12}  {'CPU/entry':>9}"
        f"  {'vs sync':>7}"
    )
    for name in comparison:
        ratios = [r / s for r, s in zip(rates[name], rates[sync], strict=True)]
        best, cpu_us = max(rates[name]), min(cpus[name])
        print(
            f"{name:46} {best:>8,.0f}/s  {best / max(rates[sync]):>6.2f}x"
            f"  {statistics.median(ratios):>11.2f}x  {cpu_us:>7.1f}µs"
            f"  {min(cpus[sync]) / cpu_us:>6.2f}x"
        )

if __name__ == "__main__":
    main()
