"""HTTP target throughput: deliveries/s to a local HTTP server, with and without the shared rate
limit, against the ceiling of a bare httpx client posting the same bodies, in the same run.

    .venv/bin/python bench/bench_http.py [--deliveries 5000] [--concurrency 64] [--limit 500]

The server is uvicorn with a bare ASGI app answering 200 ``{"ok": true}``, in its own process;
the rate limiter uses a redis-server of its own. The rate-limited rows send ``--limit`` × 3
deliveries, through one target and through two copies sharing the limit ("two routers"): their
rate should sit at the limit, which shows the limiter's overhead and its fairness across copies.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
from bench_publish import redis_server  # the same redis-server launcher, not a copy

from eventbus.targets.base import DeliveryContext, TargetServices
from eventbus.targets.http import HttpConfig, HttpTarget

BODY = orjson.dumps({"order_id": "o-1", "total": 120.5, "items": [1, 2, 3]})
EVENT: dict[str, Any] = {"id": "e", "source": "shop.orders", "detail": orjson.loads(BODY)}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The endpoint: read the body, answer 200 with a small JSON body."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


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
    url = f"http://127.0.0.1:{port}/hook"
    try:
        while True:
            try:
                httpx.post(url, content=b"{}")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def ctx(n: int) -> DeliveryContext:
    return DeliveryContext(f"e{n}:shop:orders:api", f"e{n}", "shop", "orders", "", "api", 1, EVENT)


async def timed(total: int, concurrency: int, send: Callable[[int], Awaitable[Any]]) -> float:
    """Deliveries/s of ``total`` sends by ``concurrency`` workers."""
    counter = iter(range(total))

    async def worker() -> None:
        for n in counter:
            await send(n)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


async def bare(url: str, total: int, concurrency: int) -> float:
    async with httpx.AsyncClient() as client:

        async def send(n: int) -> None:
            (await client.post(url, content=BODY)).raise_for_status()

        return await timed(total, concurrency, send)


async def targets(
    url: str, redis_url: str, copies: int, limit: float | None, total: int, concurrency: int
) -> float:
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


async def run(args: argparse.Namespace, url: str, redis_url: str) -> None:
    n, c, limit = args.deliveries, args.concurrency, args.limit
    limited = int(limit * 3)
    rows: list[tuple[str, int, Awaitable[float]]] = [
        ("bare httpx.AsyncClient POST (ceiling)", n, bare(url, n, c)),
        ("http target, no rate limit", n, targets(url, redis_url, 1, None, n, c)),
        ("http target, no rate limit, 2 copies", n, targets(url, redis_url, 2, None, n, c)),
        (f"http target, limit {limit:g}/s", limited, targets(url, redis_url, 1, limit, limited, c)),
        (f"http target, limit {limit:g}/s, 2 copies", limited,
         targets(url, redis_url, 2, limit, limited, c)),
    ]  # fmt: skip
    print(f"concurrency {c}; server: uvicorn, bare ASGI app; limiter: redis-server")
    print(f"{'':42} {'deliveries':>10} {'per second':>12} {'vs ceiling':>10}")
    ceiling = 0.0
    for name, total, bench in rows:
        per_second = await bench
        ceiling = ceiling or per_second
        print(f"{name:42} {total:>10} {per_second:>12,.0f} {per_second / ceiling:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--limit", type=float, default=500.0)
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    args = parser.parse_args()
    with redis_server(args.redis_server) as redis_url, http_server() as url:
        asyncio.run(run(args, url, redis_url))


if __name__ == "__main__":
    main()
