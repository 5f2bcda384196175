"""Workers as real processes, killed with SIGKILL mid-execution: the executions resume on
another worker with contiguous histories and the output of a fault-free run.

``make test-full`` (HYPOTHESIS_PROFILE=full) runs more executions and kills more often.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from waiting import wait_for

from eventbus import keys
from eventbus.workflows import run_local, store

from .durable_tasks import LOCAL_TASKS
from .helpers import machine

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
FULL = os.environ.get("HYPOTHESIS_PROFILE") == "full"
EXECUTIONS, KILLS = (40, 6) if FULL else (6, 1)

FANOUT = machine({
    "Prepare": {"Type": "Pass", "Parameters": {"items.$": "$.items"}, "Next": "Each"},
    "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "Next": "Pause",
             "ItemProcessor": {"StartAt": "Double", "States": {
                 "Double": {"Type": "Task", "Resource": "double", "End": True}}}},
    "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
    "Done": {"Type": "Succeed"},
})
INPUT = orjson.dumps({"items": [{"n": n} for n in range(8)]}).decode()


@pytest.fixture
def workers(redis_url: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _spawn(redis_url: str, started: list[subprocess.Popen[bytes]],
           *options: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "workflows", "worker", "--redis", redis_url,
         "--claim-idle", "1", "--tasks", "tests.workflows.durable_tasks:TASKS", *options],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(proc)
    return proc


def _events(client: redis.Redis, arns: list[str]) -> int:
    return sum(int(client.hget(keys.workflow_execution(store.partition_of(a), a), "events") or 0)
               for a in arns)


def _open(client: redis.Redis, arns: list[str]) -> list[str]:
    """The executions still running."""
    return [a for a in arns if client.hget(keys.workflow_execution(store.partition_of(a), a),
                                           "status") == "RUNNING"]


def test_executions_resume_elsewhere_when_their_worker_is_killed(
    redis_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    import asyncio

    from redis.asyncio import Redis

    from eventbus.workflows.executions import Executions

    async def start_all() -> list[str]:
        client = Redis.from_url(redis_url)
        api = Executions(client, {"fanout": FANOUT})
        arns = [(await api.start_execution("fanout", INPUT, name=f"e{n}"))["executionArn"]
                for n in range(EXECUTIONS)]
        await client.aclose()
        return arns

    arns = asyncio.run(start_all())
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    victim = _spawn(redis_url, workers)
    total = len(run_local(FANOUT, INPUT, tasks=LOCAL_TASKS)["events"]) * EXECUTIONS
    for kill in range(KILLS):
        # Kill once part of the work is stored, at a point no step chose.
        threshold = total * (kill + 1) // (KILLS + 2)
        wait_for(lambda t=threshold: _events(client, arns) > t, "some steps stored")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert _open(client, arns), "the worker was killed after every execution had ended"
        victim = _spawn(redis_url, workers)
    _spawn(redis_url, workers)  # a second survivor races the first
    wait_for(lambda: not _open(client, arns), "every execution closed", timeout=120)
    local = run_local(FANOUT, INPUT, tasks=LOCAL_TASKS)
    for arn in arns:
        p = store.partition_of(arn)
        record = client.hgetall(keys.workflow_execution(p, arn))
        assert record["status"] == "SUCCEEDED", record
        assert orjson.loads(record["output"]) == orjson.loads(local["output"])
        events = [orjson.loads(e) for e in client.lrange(keys.workflow_history(p, arn), 0, -1)]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert all(0 <= e["previousEventId"] < e["id"] for e in events)
        assert sorted(e["type"] for e in events) == sorted(e["type"] for e in local["events"])
    client.close()
