"""What the fault tests of durable executions share: a 10-state machine whose tasks are HTTP
calls to a real local server, that server (deterministic answers, requests counted per
Idempotency-Key), worker processes, and the checks every fault run ends with.

The server's answer depends only on the request, never on timing or on which call it is, so a
fault-free ``run_local`` with the same answers (``LOCAL_TASKS``) gives the output and the
events every faulty run must end with. The "flaky" endpoint fails about 30% of the attempts
(``$$.State.RetryCount`` is in the body, so a retry may succeed); a call that still fails is
caught.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from redis.asyncio import Redis
from targets.conftest import HttpServer, Received, Reply
from waiting import wait_for

from eventbus import keys
from eventbus.connections import connection_arn
from eventbus.errors import TaskFailed
from eventbus.workflows import run_local, store
from eventbus.workflows.executions import Executions
from eventbus.workflows.http_task import HTTP_INVOKE, IDEMPOTENCY_HEADER

from .durable import assert_contiguous

ROOT = Path(__file__).parents[2]
FULL = os.environ.get("EVENTBUS_TEST_FULL") == "1"
# A full-size run takes minutes on a loaded machine; the suite's 120 s bound is for the others.
FULL_TIMEOUT = 2400
# Short, so that a killed worker's work is taken over soon; not shorter, or on a loaded machine
# a live worker's event loop may not refresh what it holds in time, and the others take it too
# (at 1 s and a load average of 12, 1 in 4 calls was made twice with no fault at all).
CLAIM_IDLE = 5
CONNECTION = "fault-api"
MACHINE_NAME = "faults"
ITEMS = 20


def _call(path: str, body: dict[str, Any], **state: Any) -> dict[str, Any]:
    """An http:invoke Task state posting ``body`` to ``path`` of the endpoint in the input."""
    return {
        "Type": "Task", "Resource": HTTP_INVOKE,
        "Parameters": {"ApiEndpoint.$": f"States.Format('{{}}{path}', $.endpoint)",
                       "Method": "POST",
                       "Authentication": {"ConnectionArn": connection_arn(CONNECTION)},
                       "RequestBody": body},
        "ResultSelector": {"value.$": "$.ResponseBody.value"},
        **state,
    }


DEFINITION: dict[str, Any] = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Route", "Parameters": {
            "n.$": "$.n", "even.$": "$.even", "endpoint.$": "$.endpoint", "tag": "even",
            "items.$": "$.items"}},
        "Route": {"Type": "Choice", "Default": "Pause", "Choices": [
            {"Variable": "$.even", "BooleanEquals": False, "Next": "MarkOdd"}]},
        "MarkOdd": {"Type": "Pass", "Result": "odd", "ResultPath": "$.tag", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Call"},
        "Call": _call("/flaky", {"n.$": "$.n", "attempt.$": "$$.State.RetryCount"},
                      ResultPath="$.call", Next="Each",
                      Retry=[{"ErrorEquals": ["States.Http.StatusCode.503"],
                              "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}],
                      Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.call",
                              "Next": "Recover"}]),
        # The cause of a caught HTTP failure holds the answer's Date header: not kept.
        "Recover": {"Type": "Pass", "Result": {"failed": True}, "ResultPath": "$.call",
                    "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 10,
                 "ItemSelector": {"i.$": "$$.Map.Item.Value", "n.$": "$.n",
                                  "endpoint.$": "$.endpoint"},
                 "ItemProcessor": {"StartAt": "Item", "States": {
                     "Item": _call("/item", {"n.$": "$.n", "i.$": "$.i"}, End=True)}},
                 "ResultPath": "$.items", "Next": "Fork"},
        "Fork": {"Type": "Parallel", "ResultPath": "$.fork", "Next": "Summarize", "Branches": [
            {"StartAt": "A", "States": {"A": _call("/branch", {"n.$": "$.n", "b": "a"},
                                                   End=True)}},
            {"StartAt": "B", "States": {"B": _call("/branch", {"n.$": "$.n", "b": "b"},
                                                   End=True)}},
            {"StartAt": "C", "States": {"C": {"Type": "Pass", "Result": "c", "End": True}}}]},
        "Summarize": {"Type": "Pass", "Next": "Done", "Parameters": {
            "n.$": "$.n", "tag.$": "$.tag", "call.$": "$.call", "items.$": "$.items",
            "fork.$": "$.fork"}},
        "Done": {"Type": "Succeed"},
    },
}
DEFINITION_TEXT = orjson.dumps(DEFINITION).decode()


def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """What the server answers: a function of the request alone."""
    n = body["n"]
    if path == "/flaky":
        if zlib.crc32(f"{n}:{body['attempt']}".encode()) % 10 < 3:
            return 503, {"message": "try again"}
        return 200, {"value": n * 3}
    if path == "/item":
        return 200, {"value": n * 100 + body["i"]}
    return 200, {"value": f"{body['b']}{n}"}


def _local_http(call: dict[str, Any]) -> dict[str, Any]:
    path = "/" + call["ApiEndpoint"].rsplit("/", 1)[1]
    status, body = answer(path, call["RequestBody"])
    if status != 200:
        raise TaskFailed(f"States.Http.StatusCode.{status}", "")
    return {"ResponseBody": body, "StatusCode": status}


LOCAL_TASKS = {HTTP_INVOKE: _local_http}


def execution_input(n: int, endpoint: str) -> str:
    return orjson.dumps({"n": n, "even": n % 2 == 0, "endpoint": endpoint,
                         "items": list(range(ITEMS))}).decode()


class CountingServer:
    """The real HTTP endpoint: answers with :func:`answer` and counts requests per path and
    Idempotency-Key (a key seen twice is a task invocation made again)."""

    def __init__(self) -> None:
        self.http = HttpServer()
        self.url = self.http.url
        for path in ("/flaky", "/item", "/branch"):
            self.http.answer(path, self._respond)

    @staticmethod
    def _respond(request: Received) -> Reply:
        status, body = answer(request.path, request.json())
        return Reply(status, body)

    def duplicates(self) -> dict[str, dict[str, int]]:
        """Per path: requests, distinct keys, requests beyond the first of their key."""
        report: dict[str, dict[str, int]] = {}
        for path in ("/flaky", "/item", "/branch"):
            got = Counter(r.headers[IDEMPOTENCY_HEADER.lower()] for r in self.http.requests(path))
            requests = sum(got.values())
            report[path] = {"requests": requests, "keys": len(got),
                            "duplicates": requests - len(got)}
        return report

    def close(self) -> None:
        self.http.close()


def rules_dir(directory: Path) -> Path:
    """A rules directory declaring the connection the machine's HTTP tasks name."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "connections.yaml").write_text(
        f"connections:\n  - name: {CONNECTION}\n    timeout_seconds: 10\n")
    return directory


@dataclass
class Workers:
    """Worker processes (``eventbus workflows worker``) on one Redis; killed at the end."""

    redis_url: str
    rules: Path
    options: list[str] = field(default_factory=list)  # more `workflows worker` options
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        # Each worker's log beside the rules, to read when a run goes wrong.
        with (self.rules.parent / f"worker{len(self.started)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "eventbus", "workflows", "worker", "--redis",
                 self.redis_url, "--claim-idle", str(CLAIM_IDLE), "--rules", str(self.rules),
                 *self.options],
                env=env, stdout=subprocess.DEVNULL, stderr=log)
        self.started.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                self.kill(proc)


def workers_on(redis_url: str, rules: Path) -> Iterator[Workers]:
    """Workers to spawn, killed once done with."""
    running = Workers(redis_url, rules)
    try:
        yield running
    finally:
        running.close()


def start_executions(redis_url: str, count: int, endpoint: str) -> list[str]:
    async def start_all() -> list[str]:
        client = Redis.from_url(redis_url)
        api = Executions(client, {MACHINE_NAME: DEFINITION_TEXT})
        try:
            return [(await api.start_execution(MACHINE_NAME, execution_input(n, endpoint),
                                               name=f"e{n}"))["executionArn"]
                    for n in range(count)]
        finally:
            await client.aclose()

    return asyncio.run(start_all())


def open_executions(client: redis.Redis, arns: list[str]) -> list[str]:
    """The executions still running (a Redis being restarted counts as all of them)."""
    try:
        with client.pipeline(transaction=False) as pipe:
            for arn in arns:
                pipe.hget(keys.workflow_execution(store.partition_of(arn), arn), "status")
            statuses = pipe.execute()
    except (redis.ConnectionError, redis.BusyLoadingError):
        return arns
    return [a for a, s in zip(arns, statuses, strict=True) if s in (None, "RUNNING")]


def stored_events(client: redis.Redis, arns: list[str]) -> int:
    """How many history events are stored (0 while Redis is unreachable)."""
    try:
        with client.pipeline(transaction=False) as pipe:
            for arn in arns:
                pipe.hget(keys.workflow_execution(store.partition_of(arn), arn), "events")
            return sum(int(n or 0) for n in pipe.execute())
    except (redis.ConnectionError, redis.BusyLoadingError):
        return 0


def check_executions(client: redis.Redis, arns: list[str], endpoint: str) -> int:
    """Every execution succeeded with the output and the events of a fault-free run, with a
    contiguous history; the number of events checked."""
    checked = 0
    for n, arn in enumerate(arns):
        local = run_local(DEFINITION_TEXT, execution_input(n, endpoint), tasks=LOCAL_TASKS)
        p = store.partition_of(arn)
        record = client.hgetall(keys.workflow_execution(p, arn))
        assert record["status"] == "SUCCEEDED", (arn, record)
        assert orjson.loads(record["output"]) == orjson.loads(local["output"]), arn
        events = [orjson.loads(e) for e in client.lrange(keys.workflow_history(p, arn), 0, -1)]
        assert_contiguous(events)
        assert sorted(e["type"] for e in events) == sorted(e["type"] for e in local["events"])
        checked += len(events)
    return checked


def outboxes_empty(client: redis.Redis) -> bool:
    return sum(client.xlen(keys.workflow_outbox(p)) for p in range(keys.WORKFLOW_PARTITIONS)) == 0


def check_status_events(client: redis.Redis, arns: list[str]) -> None:
    """Each execution's status changes are on the default bus once each, however many times
    the outbox publishers of the workers published them."""
    wait_for(lambda: outboxes_empty(client), "every status change published")
    seen: Counter[tuple[str, str]] = Counter()
    for stream in client.scan_iter(match="eb:{default#*}:events"):
        for _, fields in client.xrange(stream):
            event = orjson.loads(fields["event"])
            if event["source"] == "aws.states":
                seen[event["detail"]["executionArn"], event["detail"]["status"]] += 1
    expected = Counter({(a, s): 1 for a in arns for s in ("RUNNING", "SUCCEEDED")})
    assert seen == expected, seen - expected


def report(name: str, figures: dict[str, Any]) -> str:
    """One line of figures, printed by the test and written beside the test run."""
    line = f"{name}: " + orjson.dumps(figures).decode()
    out = Path(os.environ.get("EVENTBUS_FAULT_REPORT", ROOT / ".pytest_cache" / "faults.txt"))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
    return line
