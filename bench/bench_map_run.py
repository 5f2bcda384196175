"""DISTRIBUTED Map in durable executions: child executions per second and CPU-seconds per child
of one in-process worker, against an inline Map of the same items in the same run.

Run: ``.venv/bin/python bench/bench_map_run.py [--items 2000] [--concurrency 100]``. The item
processor is one Pass state; a child costs a start, a step and its close reaching the Map Run.
It never asserts: the figures go to docs/workflows.md with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import orjson
from bench_workflows import redis_server
from redis.asyncio import BlockingConnectionPool, Redis

from eventbus.workflows.executions import Executions
from eventbus.workflows.worker import WorkerOptions, WorkflowWorker


def _map(mode: str, concurrency: int) -> str:
    processor: dict[str, Any] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    if mode == "DISTRIBUTED":
        processor["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    return orjson.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": concurrency, "ItemProcessor": processor,
        "End": True}}}).decode()


async def run_one(client: Redis, definition: str, items: int) -> tuple[float, float]:
    """Wall and process CPU seconds until the execution has closed."""
    api = Executions(client, {"fan": definition})
    worker = WorkflowWorker(client, WorkerOptions(consumer="bench", block_ms=100))
    task = asyncio.create_task(worker.run())
    wall, cpu = time.perf_counter(), time.process_time()
    started = await api.start_execution("fan", orjson.dumps(list(range(items))).decode())
    while (await api.describe_execution(started["executionArn"]))["status"] == "RUNNING":
        await asyncio.sleep(0.05)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    worker.stop()
    await task
    return wall, cpu


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    rows = []
    for mode in ("DISTRIBUTED", "INLINE"):
        with redis_server("everysec") as url:
            pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=None)
            client = Redis(connection_pool=pool)
            wall, cpu = await run_one(client, _map(mode, args.concurrency), args.items)
            await client.aclose()
        rows.append((mode, wall, cpu))
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.items} items, "
          f"MaxConcurrency {args.concurrency}")
    print(f"{'map':<12} {'wall s':>8} {'items/s':>9} {'worker CPU ms/item':>19}")
    for mode, wall, cpu in rows:
        print(f"{mode:<12} {wall:>8.2f} {args.items / wall:>9.0f} "
              f"{1000 * cpu / args.items:>19.2f}")


if __name__ == "__main__":
    asyncio.run(main())
