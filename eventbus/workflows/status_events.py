"""Execution status changes as Step Functions publishes them on EventBridge.

Each change is written to its partition's outbox by the step that makes it (same slot, same
script) and published from there on the ``default`` bus, at least once; its IdempotencyKey
(ARN and status) makes the bus drop a second copy published within the bus's idempotency window.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.bus import PartitionMap, publish, run_async
from eventbus.workflows.context import ACCOUNT, REGION

__all__ = ["DETAIL_TYPE", "SOURCE", "publish_outbox", "status_event"]

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
BUS = "default"


def status_event(record: dict[str, str], status: str, *, stop_ms: int | None = None,
                 output: str | None = None, error: str | None = None,
                 cause: str | None = None) -> bytes:
    """The PutEvents entry announcing that the execution of ``record`` is now ``status``."""
    closed = status != "RUNNING"
    detail: dict[str, Any] = {
        "executionArn": record["arn"],
        "stateMachineArn": machine_arn(record["machine"]),
        "name": record["name"],
        "status": status,
        "startDate": int(record["start_ms"]),
        "stopDate": stop_ms if closed else None,
        "input": record["input"],
        "output": output,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": error,
        "cause": cause,
    }
    key = hashlib.sha256(f"{record['arn']}#{status}".encode()).hexdigest()
    entry = {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": orjson.dumps(detail).decode(),
        "Resources": [record["arn"]],
        "EventBusName": BUS,
        "IdempotencyKey": key,
    }
    return orjson.dumps(entry)


def machine_arn(machine: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}"


async def publish_outbox(redis: Redis, partitions: PartitionMap, partition: int,
                         batch: int = 100) -> int:
    """Publish what waits in one partition's outbox, then delete it; the count published.
    Entries the bus refuses are logged by the caller's loop on the next round (they stay)."""
    outbox = keys.workflow_outbox(partition)
    entries = await redis.xrange(outbox, count=batch)
    if not entries:
        return 0
    ids: list[Any] = [entry_id for entry_id, _ in entries]
    events = [orjson.loads(_field(fields, "event")) for _, fields in entries]
    result = await run_async(redis, publish(events, partitions, service=True))
    done = [i for i, answer in zip(ids, result["Entries"], strict=True) if "EventId" in answer]
    if done:
        await redis.xdel(outbox, *done)
    return len(done)


def _field(fields: Any, name: str) -> Any:
    """A stream entry's field, whether the client decodes replies or not."""
    return fields[name.encode()] if name.encode() in fields else fields[name]
