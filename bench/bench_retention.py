"""Retention of closed workflow executions: what a round costs when nothing has expired, with
many executions stored, and how fast expired ones are removed.

Run: ``.venv/bin/python bench/bench_retention.py [--closed 20000] [--running 100000]``.
The executions are written straight into Redis as the step script leaves them (a record, a
history of 10 events of ~250 bytes, one reply, both indexes), closed a minute ago. A round with
a 1-hour retention then finds nothing to do; a round with none removes them all. Client CPU
is this process's (``resource``). It never asserts: the figures go to docs/workflows.md with
the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time

from bench_workflows import redis_server  # the same launcher: AOF
from redis.asyncio import Redis

from eventbus import keys
from eventbus.workflows import store
from eventbus.workflows.retention import remove_expired

EVENT = b'{"id":1,"type":"PassStateEntered","details":"' + b"x" * 200 + b'"}'


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _fill(redis: Redis, n: int, status: str, closed_ms: int | None) -> None:
    pipe = redis.pipeline(transaction=False)
    for i in range(n):
        arn = f"arn:aws:states:local:000000000000:execution:m:{status}-{i}"
        p = store.partition_of(arn)
        pipe.hset(keys.workflow_execution(p, arn), mapping={"arn": arn, "status": status})
        pipe.rpush(keys.workflow_history(p, arn), *[EVENT] * 10)
        pipe.rpush(keys.workflow_replies(p, arn), b"{}")
        pipe.zadd(keys.workflow_index(p), {arn: i})
        if closed_ms is not None:
            pipe.zadd(keys.workflow_closed(p), {arn: closed_ms})
        if i % 2000 == 1999:
            await pipe.execute()
            pipe = redis.pipeline(transaction=False)
    await pipe.execute()


async def main(closed: int, running: int) -> None:
    with redis_server("everysec") as url:
        redis = Redis.from_url(url)
        await _fill(redis, running, "RUNNING", None)
        await _fill(redis, closed, "SUCCEEDED", int(time.time() * 1000) - 60_000)
        cpu, wall = _cpu(), time.perf_counter()
        assert await remove_expired(redis, 3600.0) == 0
        idle_wall, idle_cpu = time.perf_counter() - wall, _cpu() - cpu
        cpu, wall = _cpu(), time.perf_counter()
        removed = await remove_expired(redis, 0.0)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        await redis.aclose()
    print(f"load average {os.getloadavg()[0]:.1f}; {closed} closed, {running} running")
    print(f"round with nothing expired: {idle_wall * 1000:.1f} ms wall, "
          f"{idle_cpu * 1000:.1f} ms client CPU")
    print(f"removed {removed}: {removed / wall:,.0f}/s wall, "
          f"{cpu / max(removed, 1) * 1e6:.0f} µs client CPU each")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--closed", type=int, default=20_000)
    parser.add_argument("--running", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.closed, args.running))
