"""HTTP target throughput: deliveries/s to a local HTTP server, side by side with a bare httpx
client and a bare aiohttp client posting the same bodies to the same server, in the same run.

    .venv/bin/python bench/bench_http.py [--deliveries 5000] [--concurrency 16] [--limit 500]
                                         [--asyncio-loop]

The server is uvicorn with a bare ASGI app answering 200 ``{"ok": true}``, in its own process;
the rate limiter and the router use a redis-server of their own. Rows:

* the bare clients, ``--concurrency`` requests in flight;
* the target's ``send`` alone, called by ``--concurrency`` workers;
* end to end: one router (lane concurrency ``--concurrency``, its Redis client made and itself
  started as ``eventbus run`` does) routing the events already on the bus, queueing, delivering
  and acknowledging each, timed until every delivery is acknowledged;
* rate limited: ``--limit`` × 3 deliveries through one target and through two copies sharing the
  limit ("two routers"); their rate should sit at the limit.

Each row also gives the CPU its side took per delivery within the timed window: this process's
(the client, or the router) and the server's, so a row bounded by the server (which shares the
cores) shows as such. Every row runs on the event loop ``eventbus run`` uses (uvloop when it is
installed), the bare clients included; ``--asyncio-loop`` runs them all on asyncio's own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import redis.asyncio as aioredis
from bench_publish import redis_server  # the same redis-server launcher, not a copy
from redis.exceptions import ResponseError

from eventbus import keys
from eventbus.cli.app import loop_factory
from eventbus.client import AsyncEventBusClient
from eventbus.router_process import router_redis, start_for_good
from eventbus.targets.base import DeliveryContext, TargetServices
from eventbus.targets.http import HttpConfig, HttpTarget
from eventbus.worker import Router, RouterOptions

BODY = orjson.dumps({"order_id": "o-1", "total": 120.5, "items": [1, 2, 3]})
EVENT: dict[str, Any] = {"id": "e", "source": "shop.orders", "detail": orjson.loads(BODY)}


RECEIVED = [0]  # requests the endpoint answered, checked once the end-to-end row is done
SERVER_PID = [0]  # the endpoint's process, whose CPU each row reports
COLLECTOR_THRESHOLDS = gc.get_threshold()  # restored after the end-to-end row


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The endpoint: read the body, answer 200 with a small JSON body; ``GET /count`` answers how
    many requests it has answered."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json")]
    if scope["path"] == "/count":
        body = str(RECEIVED[0]).encode()
    else:
        RECEIVED[0] += 1
        body = b'{"ok":true}'
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server() -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "bench_http:app", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--app-dir", sys.path[0]]  # fmt: skip
    proc = subprocess.Popen(args)
    SERVER_PID[0] = proc.pid
    url = f"http://127.0.0.1:{port}/hook"
    try:
        with httpx.Client() as client:
            while True:
                try:
                    client.post(url, content=b"{}")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def ctx(n: int) -> DeliveryContext:
    return DeliveryContext(f"e{n}:shop:orders:api", f"e{n}", "shop", "orders", "", "api", 1, EVENT)


@dataclass
class Measured:
    """One row: deliveries/s, and µs of CPU per delivery of this process and of the server."""

    total: int
    per_second: float = 0.0
    cpu_us: float = 0.0
    server_cpu_us: float = 0.0


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far; NaN where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def window(total: int) -> AsyncIterator[Measured]:
    """Time what runs inside as the delivery of ``total`` requests."""
    row = Measured(total)
    server = _cpu_seconds(SERVER_PID[0])
    cpu, start = time.process_time(), time.perf_counter()
    yield row
    elapsed = time.perf_counter() - start
    row.per_second = total / elapsed
    row.cpu_us = (time.process_time() - cpu) / total * 1e6
    row.server_cpu_us = (_cpu_seconds(SERVER_PID[0]) - server) / total * 1e6


async def timed(total: int, concurrency: int, send: Callable[[int], Awaitable[Any]]) -> Measured:
    """``total`` sends by ``concurrency`` workers."""
    counter = iter(range(total))

    async def worker() -> None:
        for n in counter:
            await send(n)

    async with window(total) as row:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return row


async def bare_httpx(url: str, total: int, concurrency: int) -> Measured:
    async with httpx.AsyncClient() as client:

        async def send(n: int) -> None:
            (await client.post(url, content=BODY)).raise_for_status()

        return await timed(total, concurrency, send)


async def bare_aiohttp(url: str, total: int, concurrency: int) -> Measured:
    async with aiohttp.ClientSession() as client:

        async def send(n: int) -> None:
            async with client.post(url, data=BODY) as response:
                response.raise_for_status()
                await response.read()

        return await timed(total, concurrency, send)


async def targets(
    url: str, redis_url: str, copies: int, limit: float | None, total: int, concurrency: int
) -> Measured:
    redis = aioredis.Redis.from_url(redis_url)
    services = TargetServices(redis=redis, bus="shop", rule="orders", target_id="api")
    config = HttpConfig(url=url, rate_limit_per_second=limit)
    built = [HttpTarget(config, services) for _ in range(copies)]
    payload = BODY.decode()

    async def send(n: int) -> None:
        await built[n % copies].send(payload, ctx(n))

    try:
        return await timed(total, concurrency, send)
    finally:
        for target in built:
            await target.aclose()
        await redis.flushall()
        await redis.aclose()


async def routed(url: str, redis_url: str, total: int, concurrency: int) -> Measured:
    """One router taking ``total`` events from the bus to the endpoint, each routed, queued,
    delivered and acknowledged; the events are on the bus before it starts. Done when the queue
    has had ``total`` entries and holds none (an entry is deleted once acknowledged), checked
    with one Redis call every 5 ms; the endpoint's count is checked after."""
    options = RouterOptions(concurrency=concurrency)
    redis = router_redis(redis_url, options)  # as `eventbus run` makes it
    counter = url.rsplit("/", 1)[0] + "/count"
    queue = keys.delivery_queue("shop", "orders", "api")
    with tempfile.TemporaryDirectory() as rules_dir:
        Path(rules_dir, "rules.yaml").write_text(
            "bus: shop\nrules:\n  - name: orders\n    event_pattern: {source: [shop.orders]}\n"
            f"    targets:\n      - {{id: api, type: http, url: '{url}'}}\n"
        )
        router = Router(redis, rules_dir, options)
        await start_for_good(router)  # as `eventbus run` starts it
        publisher = AsyncEventBusClient(redis)
        entry = {"Source": "shop.orders", "DetailType": "Order", "Detail": BODY.decode(),
                 "EventBusName": "shop"}  # fmt: skip
        for _ in range(0, total, 10):
            await publisher.put_events([entry] * 10)
        async with aiohttp.ClientSession() as client:
            before = await _count(client, counter)
            async with window(total) as row:
                task = asyncio.create_task(router.run())
                while not await _all_acknowledged(redis, queue, total):
                    await asyncio.sleep(0.005)
            answered = await _count(client, counter) - before
        router.stop()
        await task
    retries = await redis.zcard(keys.delivery_retries("shop", "orders", "api"))
    await redis.flushall()
    await redis.aclose()
    gc.unfreeze()  # the rows after run as they did before it
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    if answered != total or retries:
        raise SystemExit(f"end to end: {answered} of {total} answered, {retries} retries")
    return row


async def _all_acknowledged(redis: aioredis.Redis, queue: str, total: int) -> bool:
    try:
        info = await redis.xinfo_stream(queue)
    except ResponseError:  # not there yet
        return False
    return bool(info["entries-added"] >= total and info["length"] == 0)


async def _count(client: aiohttp.ClientSession, url: str) -> int:
    async with client.get(url) as response:
        return int(await response.read())


async def run(args: argparse.Namespace, url: str, redis_url: str) -> None:
    n, c, limit = args.deliveries, args.concurrency, args.limit
    limited = int(limit * 3)
    rows: list[tuple[str, Callable[[], Awaitable[Measured]]]] = [
        ("bare httpx.AsyncClient POST", lambda: bare_httpx(url, n, c)),
        ("bare aiohttp.ClientSession POST", lambda: bare_aiohttp(url, n, c)),
        ("http target send, no rate limit", lambda: targets(url, redis_url, 1, None, n, c)),
        ("http target send, 2 copies", lambda: targets(url, redis_url, 2, None, n, c)),
        ("end to end: one router, http target", lambda: routed(url, redis_url, n, c)),
        (f"http target send, limit {limit:g}/s",
         lambda: targets(url, redis_url, 1, limit, limited, c)),
        (f"http target send, limit {limit:g}/s, 2 copies",
         lambda: targets(url, redis_url, 2, limit, limited, c)),
    ]  # fmt: skip
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"concurrency {c}; server: uvicorn, bare ASGI app; limiter and router: redis-server; "
          f"event loop: {loop}")  # fmt: skip
    print(f"{'':46} {'deliveries':>10} {'per second':>11} {'vs httpx':>9} {'vs aiohttp':>10} "
          f"{'µs CPU/delivery':>15} {'server µs':>9}")  # fmt: skip
    results = []
    for name, bench in rows:
        results.append((name, await bench()))
        print(f"  measured: {name}", file=sys.stderr)
    bare_httpx_rate, bare_aiohttp_rate = results[0][1].per_second, results[1][1].per_second
    for name, row in results:
        vs_httpx, vs_aiohttp = row.per_second / bare_httpx_rate, row.per_second / bare_aiohttp_rate
        print(f"{name:46} {row.total:>10} {row.per_second:>11,.0f} {vs_httpx:>9.2f} "
              f"{vs_aiohttp:>10.2f} {row.cpu_us:>15.0f} {row.server_cpu_us:>9.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limit", type=float, default=500.0)
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    parser.add_argument("--asyncio-loop", action="store_true",
                        help="asyncio's event loop rather than the router's (uvloop)")  # fmt: skip
    args = parser.parse_args()
    factory = None if args.asyncio_loop else loop_factory()
    with (
        redis_server(args.redis_server) as redis_url,
        http_server() as url,
        asyncio.Runner(loop_factory=factory) as runner,
    ):
        runner.run(run(args, url, redis_url))


if __name__ == "__main__":
    main()
