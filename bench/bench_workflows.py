"""Workflows: the pure ASL step function, then durable executions on Redis, each with its
baselines from the same run. It never asserts: the figures go to docs/workflows.md with the
load average.

Run: ``.venv/bin/python bench/bench_workflows.py [--seconds 1.0] [--only pure|durable]
[--executions 2000] [--fsync everysec,always]``.

**Pure step function** (one core, one process, CPU time): three machines run through
``step.start`` (no driver, no I/O) with the history recorded as AWS records it:

* a 100-state chain of Pass and Choice states over a ~1 KiB input;
* an inline Map of 1,000 items (one Pass state per item);
* a JSONata chain: 20 Pass states, each assigning two expressions over the same input.

Baselines: one JSONPath read parsed anew per call vs through the parse cache, and the JSONata
library (jsonatapy) called raw with the state's bindings, compiled once and compiled per call.

**Durable executions** (one redis-server with AOF, per ``appendfsync`` mode; 1 and 2 worker
processes): StartExecution calls accepted/s through the Python API (100 concurrent callers);
then the backlog run through: transitions/s (a transition is a state entered), steps/s, and
CPU per transition (the workers' and Redis's); then the latency of a step (from its work
entry's arrival in the stream until the script stored it) at an offered ``--offered``
transitions/s. Two machines: 10 Pass/Choice states (one step per execution) and the fault
tests' kinds of state (Pass, Choice, Wait, a Task whose failure is caught, a Map of 20 Tasks, a
Parallel of 3) with local tasks that answer at once. Baseline: the step script alone, awaited
one at a time from one client.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonatapy
import orjson
import redis
from _common import print_table
from redis.asyncio import BlockingConnectionPool, Redis

from eventbus import keys
from eventbus.workflows import paths, query, run_local, store
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.executions import Executions
from eventbus.workflows.step import Step, start
from eventbus.workflows.worker import WorkerOptions, run_worker

# Worker processes start by fork: they inherit the bench's definitions and task functions.
_fork = multiprocessing.get_context("fork")

INPUT: dict[str, Any] = {
    "order": {"id": "o-123", "total": 99.5, "currency": "EUR", "status": "paid"},
    "customer": {"id": "c-42", "tier": "gold", "tags": ["vip", "eu"], "country": "DE"},
    "items": [{"sku": f"SKU-{i}", "qty": i % 3 + 1, "price": 9.5 + i} for i in range(12)],
    "counter": 0,
}


def pass_choice_chain(n: int = 100) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for i in range(0, n, 2):
        states[f"P{i}"] = {"Type": "Pass", "Parameters": {
            "order.$": "$.order", "customer.$": "$.customer", "items.$": "$.items",
            "counter": i}, "Next": f"C{i + 1}"}
        last = i + 2 >= n
        states[f"C{i + 1}"] = {"Type": "Choice", "Choices": [
            {"Variable": "$.order.total", "NumericGreaterThan": 1000, "Next": "Big"}],
            "Default": "End" if last else f"P{i + 2}"}
    states["Big"] = {"Type": "Fail", "Error": "Big"}
    states["End"] = {"Type": "Succeed"}
    return {"StartAt": "P0", "States": states}


def map_machine(n: int = 1000) -> tuple[dict[str, Any], Any]:
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.xs", "End": True,
        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}}}}
    return definition, {"xs": [{"i": i} for i in range(n)]}


def jsonata_chain(n: int = 20) -> dict[str, Any]:
    # Two expressions per state; without Output a Pass state passes its input on unchanged.
    states = {f"J{i}": {"Type": "Pass", "Assign": {
        "total": "{% $sum($states.input.items.(qty * price)) %}",
        "gold": "{% $states.input.customer.tier = 'gold' %}",
        "order": {"id": "o-1", "status": "paid"}},
        "Next": f"J{i + 1}" if i + 1 < n else None} for i in range(n)}
    for state in states.values():
        if state["Next"] is None:
            del state["Next"]
            state["End"] = True
    return {"QueryLanguage": "JSONata", "StartAt": "J0", "States": states}


def run_once(definition: dict[str, Any], data: Any) -> int:
    counter = itertools.count()
    info = ExecutionInfo("bench", "bench", datetime(2024, 1, 1, tzinfo=UTC), data)
    execution, step = start(definition, info, uuid=lambda: str(next(counter)),
                            random=lambda: 0.5)
    assert step.status == "SUCCEEDED", (step.error, step.cause)
    # Every run of one definition over one input enters the same states: count them once, so
    # the count is not timed with the step function.
    key = id(definition)
    if key not in _ENTERED:
        events = execution.env.history.events
        _ENTERED[key] = sum(1 for e in events if e["type"].endswith("StateEntered"))
    return _ENTERED[key]


_ENTERED: dict[int, int] = {}


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Units per CPU second: ``fn`` returns how many units one call did."""
    fn()
    units, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        units += fn()
    return units / (time.process_time() - t0)


def pure(args: argparse.Namespace) -> None:
    s = args.seconds
    chain = pass_choice_chain()
    mapdef, mapinput = map_machine()
    jchain = jsonata_chain()
    expr_total = "$sum($states.input.items.(qty * price))"
    compiled = jsonatapy.compile(expr_total)
    bindings = {"states": {"input": INPUT}}
    naive_compile = query._compile.__wrapped__
    rows = [
        ("Pass/Choice chain, transitions/s", rate(lambda: run_once(chain, INPUT), s)),
        ("Map of 1,000 items, transitions/s", rate(lambda: run_once(mapdef, mapinput), s)),
        ("JSONata Pass chain, states/s", rate(lambda: run_once(jchain, INPUT), s)),
        ("baseline: JSONPath read, cached parse, /s",
         rate(lambda: [paths.read_path("$.order.total", INPUT, context={}, variables={})
                       for _ in range(100)] and 100, s)),
        ("baseline: JSONPath read, parsed per call, /s",
         rate(lambda: [query.read(naive_compile("$.order.total"), INPUT, context={},
                                  variables={}) for _ in range(100)] and 100, s)),
        ("baseline: JSONata raw evaluate, /s",
         rate(lambda: [compiled.evaluate(None, bindings) for _ in range(100)] and 100, s)),
        ("baseline: JSONata compile+evaluate, /s",
         rate(lambda: [jsonatapy.compile(expr_total).evaluate(None, bindings)
                       for _ in range(100)] and 100, s)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"pure step function, load average: {os.getloadavg()[0]:.2f}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value:>12,.0f}")


# --- Durable executions on Redis -------------------------------------------------------------


def _chain(states: list[dict[str, Any]]) -> dict[str, Any]:
    states[-1] = {"Type": "Succeed"}
    named = {f"S{i}": s for i, s in enumerate(states)}
    for i, state in enumerate(states[:-1]):
        if state["Type"] != "Choice":
            state["Next"] = f"S{i + 1}"
        else:
            state["Choices"] = [{"Variable": "$.n", "NumericGreaterThan": 100, "Next": "S9"}]
            state["Default"] = f"S{i + 1}"
    return {"StartAt": "S0", "States": named}


def _branch(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": name, "States": {name: {**state, "End": True}}}


# One step per execution: every state runs within the step of the start.
PASS_CHOICE = _chain([{"Type": "Choice" if i % 3 == 2 else "Pass"} for i in range(10)])
# Pass states between 4 local tasks (bench_express.py's second machine).
WITH_TASKS = _chain([{"Type": "Task", "Resource": "fast"} if i % 2 else {"Type": "Pass"}
                     for i in range(10)])
# The fault tests' kinds of state: a timer, a task whose failure is caught, a Map of 20 tasks
# (20 concurrent replies to one execution) and a Parallel of 3.
FAULTS = {"StartAt": "Prepare", "States": {
    "Prepare": {"Type": "Pass", "Next": "Check"},
    "Check": {"Type": "Choice", "Default": "Pause", "Choices": [
        {"Variable": "$.n", "NumericGreaterThan": 100, "Next": "TooBig"}]},
    "TooBig": {"Type": "Fail", "Error": "TooBig"},
    "Pause": {"Type": "Wait", "Seconds": 0, "Next": "Work"},
    "Work": {"Type": "Task", "Resource": "fail", "Next": "Each", "Catch": [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}]},
    "Recover": {"Type": "Pass", "Next": "Each"},
    "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.each", "Next": "Fan",
             "ItemProcessor": _branch("Double", {"Type": "Task", "Resource": "fast"})},
    "Fan": {"Type": "Parallel", "ResultPath": "$.fan", "Next": "Done",
            "Branches": [_branch(f"B{i}", {"Type": "Pass"}) for i in range(3)]},
    "Done": {"Type": "Succeed"},
}}
FAULTS_INPUT = {"n": 1, "items": [{"n": i} for i in range(20)]}
MACHINES = {"pass-choice": (PASS_CHOICE, {"n": 1}), "faults": (FAULTS, FAULTS_INPUT)}


async def fast(data: Any) -> Any:
    return data


async def fail(data: Any) -> Any:
    raise RuntimeError("caught by the machine")


TASKS = {"fast": fast, "fail": fail}
ENTERED: dict[str, int] = {}  # states entered by one execution of each machine


def transitions_of(definition: dict[str, Any], data: Any) -> int:
    """States entered by one execution (the same on every run)."""
    local = {name: (lambda d, f=f: asyncio.run(f(d))) for name, f in TASKS.items()}
    result = run_local(orjson.dumps(definition).decode(), orjson.dumps(data).decode(),
                       tasks=local)
    assert result["status"] == "SUCCEEDED", (result["error"], result["cause"])
    return sum(1 for e in result["events"] if e["type"].endswith("StateEntered"))


@contextmanager
def redis_server(fsync: str) -> Iterator[str]:
    """A redis-server with AOF on, ``appendfsync`` as given."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    directory = tempfile.mkdtemp()
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                             directory, "--save", "", "--appendonly", "yes", "--appendfsync",
                             fsync], stdout=subprocess.DEVNULL)
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


def redis_cpu(url: str) -> float:
    with redis.Redis.from_url(url) as client:
        info: Any = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@dataclass
class Shared:
    """What the worker processes and the bench share."""

    go: Any = field(default_factory=_fork.Event)
    ready: Any = field(default_factory=lambda: _fork.Semaphore(0))
    closed: Any = field(default_factory=lambda: _fork.Value("i", 0))
    results: Any = field(default_factory=_fork.Queue)


def worker_process(url: str, index: int, shared: Shared) -> None:
    """``eventbus workflows worker`` as run from the command line (``run_worker``, until
    SIGTERM), timing each work entry a stored step answers: from its arrival in the stream
    (the entry ID's milliseconds) until the script stored it. Sends (CPU seconds, steps stored,
    latencies in ms) once stopped."""
    latencies: list[float] = []
    steps = 0
    original = store.apply_step

    async def timed(redis_client: Redis, arn: str, **kw: Any) -> str:
        nonlocal steps
        answer = await original(redis_client, arn, **kw)
        if answer == "ok":
            steps += 1
            now_ms = time.time() * 1000
            latencies.extend([now_ms - int(entry.split("-")[0]) for entry in kw["entries"]])
            if kw["step"].status != "RUNNING":
                with shared.closed.get_lock():
                    shared.closed.value += 1
        return answer

    store.apply_step = timed  # type: ignore[assignment]
    shared.ready.release()
    shared.go.wait()
    cpu = time.process_time()
    asyncio.run(run_worker(url, WorkerOptions(consumer=f"bench-{index}"), tasks=TASKS))
    shared.results.put((time.process_time() - cpu, steps, latencies))


@contextmanager
def workers(url: str, count: int) -> Iterator[tuple[Shared, list[Any]]]:
    """``count`` worker processes, released together; yields (shared, results) and fills
    results with each one's (CPU seconds, steps, latencies) once they stopped."""
    shared = Shared()
    procs = [_fork.Process(target=worker_process, args=(url, i, shared)) for i in range(count)]
    for p in procs:
        p.start()
    for _ in procs:
        shared.ready.acquire()
    results: list[Any] = []
    try:
        shared.go.set()
        yield shared, results
    finally:
        for p in procs:
            p.terminate()  # SIGTERM: the worker stops as it would in production
        results += [shared.results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join()


async def start_all(api: Executions, machine: str, data: str, n: int,
                    concurrency: int = 100) -> float:
    """StartExecution calls accepted per second, ``concurrency`` callers at once."""
    began = time.perf_counter()
    for first in range(0, n, concurrency):
        await asyncio.gather(*(api.start_execution(machine, data)
                               for _ in range(first, min(n, first + concurrency))))
    return n / (time.perf_counter() - began)


async def start_paced(api: Executions, machine: str, data: str, per_second: float,
                      seconds: float) -> int:
    """Start executions at ``per_second`` for ``seconds``; how many started."""
    began, started = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - began) < seconds:
        due = int(elapsed * per_second) - started
        if due > 0:
            await asyncio.gather(*(api.start_execution(machine, data) for _ in range(due)))
            started += due
        await asyncio.sleep(0.005)
    return started


async def wait_closed(shared: Shared, n: int) -> None:
    while shared.closed.value < n:
        await asyncio.sleep(0.005)


async def bare_steps(url: str, n: int) -> float:
    """Step scripts/s alone, awaited one at a time from one client, on one execution (two
    events each): the Redis work of a step without the worker."""
    client = Redis.from_url(url)
    arn = "arn:aws:states:us-east-1:123456789012:execution:bench:bare"
    p = store.partition_of(arn)
    await client.hset(keys.workflow_execution(p, arn), mapping={
        "arn": arn, "status": "RUNNING", "events": 0, "replies": 0})
    event = {"type": "PassStateEntered", "details": {"name": "S1", "input": '{"n": 1}'}}
    began = time.perf_counter()
    for i in range(n):
        await store.apply_step(client, arn, expected=(2 * i, 0),
                               step=Step([event, event], []), commands=[])
    rate_ = n / (time.perf_counter() - began)
    await client.aclose()
    return rate_


@dataclass
class DurableRow:
    machine: str
    fsync: str
    workers: int
    starts: float  # StartExecution calls/s
    start_cpu_us: float  # caller's CPU µs per start
    transitions: float  # per second, backlog run through
    steps: float
    cpu_us: float  # workers' and Redis's CPU µs per transition
    worker_cpu_us: float
    offered: float  # transitions/s offered in the latency run
    p50: float
    p99: float
    bare: float  # bare step scripts/s


async def durable_row(name: str, fsync: str, count: int, n: int, latency_seconds: float,
                      offered: float) -> DurableRow:
    definition, data = MACHINES[name]
    per_execution = ENTERED[name]
    text, payload = orjson.dumps(definition).decode(), orjson.dumps(data).decode()
    with redis_server(fsync) as url:
        pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=None)
        client = Redis(connection_pool=pool)
        api = Executions(client, {name: text})
        cpu = time.process_time()
        starts = await start_all(api, name, payload, n)
        start_cpu_us = (time.process_time() - cpu) * 1e6 / n
        redis_before = redis_cpu(url)
        with workers(url, count) as (shared, results):
            began = time.perf_counter()
            await wait_closed(shared, n)
            seconds = time.perf_counter() - began
        redis_used = redis_cpu(url) - redis_before
        worker_cpu = sum(r[0] for r in results)
        steps = sum(r[1] for r in results)
        transitions = n * per_execution
        with workers(url, count) as (shared, results):
            started = await start_paced(api, name, payload, offered / per_execution,
                                        latency_seconds)
            await wait_closed(shared, started)
        latencies = sorted(x for r in results for x in r[2])
        bare = await bare_steps(url, 3000)
        await client.aclose()
    return DurableRow(
        name, fsync, count, starts, start_cpu_us, transitions / seconds, steps / seconds,
        (worker_cpu + redis_used) * 1e6 / transitions, worker_cpu * 1e6 / transitions,
        started * per_execution / latency_seconds, _percentile(latencies, 0.50),
        _percentile(latencies, 0.99), bare)


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def durable(args: argparse.Namespace) -> None:
    ENTERED.update((name, transitions_of(*machine)) for name, machine in MACHINES.items())
    rows = []
    for fsync in args.fsync.split(","):
        for name, n in (("pass-choice", args.executions), ("faults", args.executions // 10)):
            for count in (1, 2):
                rows.append(asyncio.run(durable_row(name, fsync, count, n, args.latency_seconds,
                                                    args.offered)))
    print(f"durable executions, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print_table(
        ["machine", "fsync", "workers", "starts/s", "CPU µs/start", "transitions/s", "steps/s",
         "CPU µs/transition", "of which workers", "bare script/s", "steps/bare",
         "offered/s", "p50 ms", "p99 ms"],
        [(r.machine, r.fsync, r.workers, r.starts, r.start_cpu_us, r.transitions, r.steps,
          r.cpu_us, r.worker_cpu_us, r.bare, f"{r.steps / r.bare:.2f}", r.offered,
          f"{r.p50:.1f}", f"{r.p99:.1f}") for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0, help="per pure measurement")
    parser.add_argument("--only", choices=["pure", "durable"])
    parser.add_argument("--executions", type=int, default=2000,
                        help="Pass/Choice executions run through; a tenth as many of the "
                             "fault-test machine")
    parser.add_argument("--fsync", default="everysec,always", help="appendfsync modes")
    parser.add_argument("--offered", type=float, default=1000.0,
                        help="transitions/s offered in the latency run")
    parser.add_argument("--latency-seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.only != "durable":
        pure(args)
    if args.only != "pure":
        durable(args)


if __name__ == "__main__":
    main()
