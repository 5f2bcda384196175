"""An activity worker process that takes a task through GetActivityTask (boto3 against the
real gateway) and is killed with SIGKILL: the task times out by its HeartbeatSeconds, well
before its TimeoutSeconds, and the state's Retry hands a new attempt to the next worker. The
workflow worker is a process of its own too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from gateway_server import RunningGateway
from sfn_gateway import create, nightly_gateway, refusal, sfn_client

from .durable import assert_contiguous
from .fault_rig import Workers

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parents[1]

# Takes one task, says which, and hangs without a heartbeat.
DOOMED_WORKER = """
import sys, time
from sfn_gateway import sfn_client

task = sfn_client(sys.argv[1]).get_activity_task(activityArn=sys.argv[2], workerName="doomed")
print(task["taskToken"], flush=True)
time.sleep(3600)
"""


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[RunningGateway]:
    with nightly_gateway(tmp_path_factory, redis_url) as gw:
        yield gw


def _until_closed(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"{arn} is still running")


def test_an_activity_worker_killed_holding_a_task_times_out_by_heartbeat_and_retry_applies(
    gateway: RunningGateway, redis_url: str, worker_processes: Workers,
) -> None:
    sfn = sfn_client(gateway.url)
    activity = sfn.create_activity(name="resize")["activityArn"]
    definition = {"StartAt": "Work", "States": {"Work": {
        "Type": "Task", "Resource": activity, "HeartbeatSeconds": 2, "TimeoutSeconds": 300,
        "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
        "End": True}}}
    machine = create(sfn, "resizer", orjson.dumps(definition).decode())
    execution = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
    worker_processes.redis_url = redis_url
    worker_processes.spawn()
    doomed = subprocess.Popen([sys.executable, "-c", DOOMED_WORKER, gateway.url, activity],
                              env=dict(os.environ, PYTHONPATH=str(TESTS)), stdout=subprocess.PIPE)
    try:
        assert doomed.stdout is not None
        first = doomed.stdout.readline().decode().strip()
        assert first, "the doomed worker took no task"
    finally:
        Workers.kill(doomed)
    retried = sfn.get_activity_task(activityArn=activity, workerName="survivor")
    assert retried["taskToken"] not in ("", first)
    assert orjson.loads(retried["input"]) == {"n": 1}
    assert refusal(sfn.send_task_success, taskToken=first, output="{}")[0] == "TaskTimedOut"
    sfn.send_task_success(taskToken=retried["taskToken"], output='{"ok": true}')
    done = _until_closed(sfn, execution)
    assert (done["status"], orjson.loads(done["output"])) == ("SUCCEEDED", {"ok": True})
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    assert_contiguous(events)
    types = [e["type"] for e in events]
    assert types.count("ActivityScheduled") == 2
    timed_out = [e["activityTimedOutEventDetails"] for e in events
                 if e["type"] == "ActivityTimedOut"]
    assert timed_out == [{"error": "States.HeartbeatTimeout"}]
    # The retry's attempt was scheduled after the first timed out.
    assert types.index("ActivityTimedOut") < len(types) - 1 - types[::-1].index(
        "ActivityScheduled")
