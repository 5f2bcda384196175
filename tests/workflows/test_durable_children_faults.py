"""Child executions with worker processes killed with SIGKILL mid-run: every child's close
reaches its parent once, and the parents end as a fault-free run does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import redis
from redis.asyncio import Redis
from waiting import wait_for

from eventbus import keys
from eventbus.workflows import run_local, store
from eventbus.workflows.executions import Executions

from .durable_tasks import LOCAL_TASKS
from .fault_rig import Workers, open_executions
from .helpers import machine

pytestmark = pytest.mark.slow

CHILD = machine({"Double": {"Type": "Task", "Resource": "double", "End": True}})
FAN = machine({
    "Each": {"Type": "Map", "MaxConcurrency": 4, "End": True, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Double", "States": {
            "Double": {"Type": "Task", "Resource": "double", "End": True}}}},
})
CALL = machine({
    "Call": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
             "Parameters": {"StateMachineArn":
                            "arn:aws:states:us-east-1:123456789012:stateMachine:child",
                            "Input.$": "$"},
             "OutputPath": "$.Output", "End": True},
})
ITEMS = [{"n": n} for n in range(40)]


def _children(client: redis.Redis) -> int:
    """Executions started so far, children included."""
    return sum(int(client.zcard(keys.workflow_index(p))) for p in range(keys.WORKFLOW_PARTITIONS))


def test_children_report_to_their_parents_once_across_a_killed_worker(
    redis_url: str, worker_processes: Workers, tmp_path: Path
) -> None:
    (tmp_path / "child.asl.json").write_text(CHILD)
    worker_processes.redis_url = redis_url
    worker_processes.options = ["--workflows", str(tmp_path),
                                "--tasks", "tests.workflows.durable_tasks:TASKS"]

    async def start_all() -> list[str]:
        client = Redis.from_url(redis_url)
        api = Executions(client, {"fan": FAN, "call": CALL})
        arns = [(await api.start_execution("fan", orjson.dumps(ITEMS).decode(),
                                           name="fan"))["executionArn"]]
        arns += [(await api.start_execution("call", f'{{"n": {n}}}', name=f"call{n}"))[
            "executionArn"] for n in range(6)]
        await client.aclose()
        return arns

    arns = asyncio.run(start_all())
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    victim = worker_processes.spawn()
    wait_for(lambda: _children(client) > len(arns) + 12, "some children started")
    Workers.kill(victim)
    assert open_executions(client, arns), "the worker was killed after every execution had ended"
    worker_processes.spawn()
    worker_processes.spawn()  # two survivors race
    wait_for(lambda: not open_executions(client, arns), "every parent closed", timeout=120)
    for arn in arns:
        p = store.partition_of(arn)
        record = client.hgetall(keys.workflow_execution(p, arn))
        assert record["status"] == "SUCCEEDED", record
        events = [orjson.loads(e) for e in client.lrange(keys.workflow_history(p, arn), 0, -1)]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        types = [e["type"] for e in events]
        if arn == arns[0]:
            local = run_local(FAN, record["input"], tasks=LOCAL_TASKS)
            assert types == [e["type"] for e in local["events"]]
        else:
            assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled",
                             "TaskStarted", "TaskSucceeded", "TaskStateExited",
                             "ExecutionSucceeded"]
    fan = client.hget(keys.workflow_execution(store.partition_of(arns[0]), arns[0]), "output")
    assert orjson.loads(fan or "") == [{"n": n, "double": 2 * n} for n in range(40)]
    for n, arn in enumerate(arns[1:]):
        output = client.hget(keys.workflow_execution(store.partition_of(arn), arn), "output")
        assert orjson.loads(output or "") == {"n": n, "double": 2 * n}
    assert _children(client) == len(arns) + 40 + 6  # each child started once
    client.close()
