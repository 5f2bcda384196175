"""Durable executions on one Redis (AOF, ``appendfsync everysec`` unless ``--fsync always``):
StartExecution calls/s through the Python API, then state transitions/s with one in-process
worker, and in the same run the bare step script from a tight loop (the Redis work of a step).

Run: ``.venv/bin/python bench/bench_durable.py [--executions 2000] [--fsync always]``.
Two machines of 10 states: Pass and Choice only (one step per execution), and Pass states
between 4 Tasks answered by a local coroutine (five steps per execution). A transition is a
state entered. It never asserts: the figures go to docs/workflows.md with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import redis
from redis.asyncio import BlockingConnectionPool, Redis

from eventbus import keys
from eventbus.workflows import store
from eventbus.workflows.executions import Executions
from eventbus.workflows.step import Step
from eventbus.workflows.worker import WorkerOptions, WorkflowWorker


def _chain(states: list[dict[str, Any]]) -> str:
    states[-1] = {"Type": "Succeed"}
    named = {f"S{i}": s for i, s in enumerate(states)}
    for i, state in enumerate(states[:-1]):
        if state["Type"] != "Choice":
            state["Next"] = f"S{i + 1}"
        else:
            state["Choices"] = [{"Variable": "$.n", "NumericGreaterThan": 100, "Next": "S9"}]
            state["Default"] = f"S{i + 1}"
    return orjson.dumps({"StartAt": "S0", "States": named}).decode()


PASS_CHOICE = _chain([{"Type": "Choice" if i % 3 == 2 else "Pass"} for i in range(10)])
WITH_TASKS = _chain([{"Type": "Task", "Resource": "fast"} if i % 2 else {"Type": "Pass"}
                     for i in range(10)])


async def fast(data: Any) -> Any:
    return data


@contextmanager
def redis_server(fsync: str) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    directory = tempfile.mkdtemp()
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
            "--appendonly", "yes", "--appendfsync", fsync]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


async def starts(api: Executions, machine: str, n: int, concurrency: int = 100) -> float:
    began = time.perf_counter()
    for first in range(0, n, concurrency):
        await asyncio.gather(*(api.start_execution(machine, '{"n": 1}')
                               for _ in range(first, min(n, first + concurrency))))
    return n / (time.perf_counter() - began)


async def run_through(client: Redis, n: int) -> float:
    """Seconds until ``n`` executions have closed, with one worker (up to the outbox
    publisher's 0.2 s late)."""
    worker = WorkflowWorker(client, WorkerOptions(consumer="bench"), tasks={"fast": fast})
    began = time.perf_counter()
    task = asyncio.create_task(worker.run())
    while await _closed(client) < n:
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - began
    worker.stop()
    await task
    return elapsed


async def _closed(client: Redis) -> int:
    """Executions ended, counted from their status changes on the bus (RUNNING, then the end):
    one XLEN, so that counting does not compete with the worker."""
    return int(await client.xlen(keys.bus_stream("default", 0))) // 2


async def bare_steps(client: Redis, n: int) -> float:
    """Steps/s of the step script alone, one at a time, on one execution (two events each)."""
    arn = "arn:aws:states:us-east-1:123456789012:execution:bench:bare"
    p = store.partition_of(arn)
    await client.hset(keys.workflow_execution(p, arn), mapping={
        "arn": arn, "status": "RUNNING", "events": 0, "replies": 0})
    event = {"type": "PassStateEntered", "details": {"name": "S1", "input": '{"n": 1}'}}
    began = time.perf_counter()
    for i in range(n):
        await store.apply_step(client, arn, expected=(2 * i, 0), entry=None, reply=None,
                               step=Step([event, event], []), commands=[])
    return n / (time.perf_counter() - began)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=2000)
    parser.add_argument("--fsync", default="everysec", choices=["everysec", "always"])
    args = parser.parse_args()
    n = args.executions
    rows = []
    for name, definition, steps in (("pass-choice", PASS_CHOICE, 1), ("tasks", WITH_TASKS, 5)):
        with redis_server(args.fsync) as url:
            pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=None)
            client = Redis(connection_pool=pool)
            api = Executions(client, {name: definition})
            started = await starts(api, name, n)
            seconds = await run_through(client, n)
            bare = await bare_steps(client, 5000)
            await client.aclose()
        rows.append((name, started, n * 10 / seconds, n * steps / seconds, bare))
    print(f"load average: {os.getloadavg()[0]:.2f}; appendfsync {args.fsync}; {n} executions")
    print(f"{'machine':<12} {'starts/s':>9} {'transitions/s':>14} {'steps/s':>9} "
          f"{'bare script/s':>14}")
    for name, started, transitions, steps_s, bare in rows:
        print(f"{name:<12} {started:>9.0f} {transitions:>14.0f} {steps_s:>9.0f} {bare:>14.0f}")


if __name__ == "__main__":
    asyncio.run(main())
