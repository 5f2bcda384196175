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
from eventbus.autopipe import shared_autopipe
from eventbus.bus import PartitionMap, publish, run_async
from eventbus.workflows.arns import machine_arn_of

__all__ = ["DETAIL_TYPE", "SOURCE", "publish_outbox", "status_event"]

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
BUS = "default"
# The most input plus output text a status-change event carries (bytes).
MAX_INCLUDED_BYTES = 200 * 1024


def status_event(record: dict[str, str], status: str, *, stop_ms: int | None = None,
                 output: str | None = None, error: str | None = None,
                 cause: str | None = None) -> bytes:
    """The PutEvents entry announcing that the execution of ``record`` is now ``status``."""
    closed = status != "RUNNING"
    redrives = int(record.get("redrive_count", 0))
    # An entry over the bus's size limit would never publish: as AWS does for large payloads,
    # the input and output are left out and marked not included.
    text = record["input"]
    with_data = len(text.encode()) + len((output or "").encode()) <= MAX_INCLUDED_BYTES
    detail: dict[str, Any] = {
        "executionArn": record["arn"],
        "stateMachineArn": machine_arn_of(record["arn"]),
        "name": record["name"],
        "status": status,
        "startDate": int(record["start_ms"]),
        "stopDate": stop_ms if closed else None,
        "input": text if with_data else None,
        "output": output if with_data else None,
        "inputDetails": {"included": with_data},
        "outputDetails": {"included": with_data} if output is not None else None,
        "error": error,
        "cause": cause,
        "redriveCount": redrives,
        "redriveDate": int(record["redrive_ms"]) if redrives else None,
    }
    # Each redrive announces its statuses again: the count keeps them apart.
    again = f"#{redrives}" if redrives else ""
    key = hashlib.sha256(f"{record['arn']}#{status}{again}".encode()).hexdigest()
    entry = {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": orjson.dumps(detail).decode(),
        "Resources": [record["arn"]],
        "EventBusName": BUS,
        "IdempotencyKey": key,
    }
    return orjson.dumps(entry)


async def publish_outbox(redis: Redis, partitions: PartitionMap, batch: int = 100) -> int:
    """Publish what waits in the partitions' outboxes, then delete it; the count published.
    Three round trips whatever the number of partitions: read them all, publish, delete (one
    XDEL per partition). An entry the bus refuses stays, and is tried again next time. The
    commands go through the auto-pipelining client of ``redis``'s pool: redis-py's pipeline
    object cost about as much per event as the rest of publishing."""
    client = shared_autopipe(redis)
    outboxes = [keys.workflow_outbox(p) for p in range(keys.WORKFLOW_PARTITIONS)]
    read = await client.execute_many([("XRANGE", outbox, "-", "+", "COUNT", batch)
                                      for outbox in outboxes])
    waiting = [(outbox, entry_id, fields) for outbox, entries in zip(outboxes, read, strict=True)
               for entry_id, fields in _ok(entries)]
    if not waiting:
        return 0
    events = [orjson.loads(_field(fields, "event")) for _, _, fields in waiting]
    result = await run_async(client, publish(events, partitions, service=True))
    published: dict[str, list[Any]] = {}
    for (outbox, entry_id, _), answer in zip(waiting, result["Entries"], strict=True):
        if "EventId" in answer:
            published.setdefault(outbox, []).append(entry_id)
    if published:
        for reply in await client.execute_many([("XDEL", outbox, *ids)
                                                for outbox, ids in published.items()]):
            _ok(reply)
    return len(events) - int(result["FailedEntryCount"])


def _ok(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


def _field(fields: Any, name: str) -> Any:
    """A stream entry's field, whether the client decodes replies or not."""
    return fields[name.encode()] if name.encode() in fields else fields[name]
