"""Synchronous Express executions in-process (``ExpressExecutions.start_sync_execution``, no
Redis, no HTTP), against ``run_local`` of the same machines in the same run: what the wall-clock
driver (asyncio tasks for task calls, the answer's shape) costs over the virtual-clock one.

Run: ``.venv/bin/python bench/bench_express.py [--executions 2000]``. Two machines of 10
states, as in ``bench_workflows.py``: Pass and Choice only, and Pass states between 4 Tasks
answered by a local coroutine (a plain function for ``run_local``). Executions run one after
the other, then 50 at once. It never asserts: the figures go to docs/workflows.md with the
load average. CPU is this process's time (``time.process_time``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
from bench_workflows import PASS_CHOICE, WITH_TASKS, fast

from eventbus.targets.base import TargetServices
from eventbus.workflows import run_local
from eventbus.workflows.express import ExpressExecutions
from eventbus.workflows.tasks import TaskResolver


def _measure(n: int, run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


def _local(text: str, n: int) -> None:
    tasks: dict[str, Any] = {"fast": lambda data: data}
    for _ in range(n):
        run_local(text, '{"n": 1}', tasks=tasks, state_machine_type="EXPRESS")


async def _express(api: ExpressExecutions, machine: str, n: int, at_once: int) -> None:
    room = asyncio.Semaphore(at_once)

    async def one() -> None:
        async with room:
            answer = await api.start_sync_execution(machine, '{"n": 1}')
            assert answer["status"] == "SUCCEEDED", answer

    await asyncio.gather(*(one() for _ in range(n)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=2000)
    n = parser.parse_args().executions
    machines = {name: orjson.dumps(definition).decode()
                for name, definition in (("pass", PASS_CHOICE), ("tasks", WITH_TASKS))}
    tasks = TaskResolver(TargetServices(redis=None), {"fast": fast})
    api = ExpressExecutions(None, {name: ("EXPRESS", text) for name, text in machines.items()},
                            tasks)
    print(f"load average {os.getloadavg()[0]:.1f}, {n} executions per line")
    print(f"{'machine':<12} {'how':<28} {'exec/s':>9} {'CPU us/exec':>12}")
    for name, text in machines.items():
        rate, cpu = _measure(n, functools.partial(_local, text, n))
        print(f"{name:<12} {'run_local (baseline)':<28} {rate:>9,.0f} {cpu:>12,.0f}")
        for at_once in (1, 50):
            rate, cpu = _measure(n, functools.partial(asyncio.run,
                                                      _express(api, name, n, at_once)))
            how = f"start_sync_execution, {at_once} at once"
            print(f"{name:<12} {how:<28} {rate:>9,.0f} {cpu:>12,.0f}")

if __name__ == "__main__":
    main()
