"""RedriveExecution on the durable store: AWS's rules for which executions can be redriven,
and the redrive itself, stored as one step of the execution.

A redrive is a reply like any other (``commands.Redrive``), kept with the execution's replies
so that replaying them rebuilds the redriven execution. It is computed where the API runs:
the closed execution is replayed, the Redrive fed to it (``ExecutionRedriven``, then the
failed state entered again and run up to its first task or timer), and the whole step stored
by ``store.apply_step`` behind a guard that reopens the execution only if it is still the
closed execution that was replayed. The workers carry on from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus.errors import ExecutionDoesNotExist, ExecutionNotRedrivable
from eventbus.workflows import store
from eventbus.workflows.commands import Redrive
from eventbus.workflows.context import iso_time
from eventbus.workflows.definition import parse_definition
from eventbus.workflows.driver import STALE_TRIES, execution_info, seeded
from eventbus.workflows.limits import MAX_HISTORY_EVENTS
from eventbus.workflows.status_events import status_event
from eventbus.workflows.step import replay, step

__all__ = ["REDRIVABLE_PERIOD_MS", "not_redrivable", "redrive", "redrive_fields"]

#: An execution can be redriven for 14 days after it stopped, and within a year of its start.
REDRIVABLE_PERIOD_MS = 14 * 24 * 3600 * 1000
MAX_OPEN_MS = 365 * 24 * 3600 * 1000
#: A client token answers again, idempotently, for 15 minutes; the last 10 are kept.
TOKEN_MS = 15 * 60 * 1000
TOKENS_KEPT = 10
_HISTORY_LIMIT_CAUSE = "The execution reached the maximum number of history events"

# Runs before _APPLY_STEP: reopens the execution if it is still as it was replayed.
# ARGV (from the end): the closed status replayed, redrive count, redrive ms, client tokens.
_REOPEN = """
local n = #ARGV
local was = redis.call('HMGET', KEYS[1], 'status', 'events', 'replies')
if was[1] ~= ARGV[n - 3] or was[2] ~= ARGV[1] or was[3] ~= ARGV[2] then return 'stale' end
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'redrive_count', ARGV[n - 2],
           'redrive_ms', ARGV[n - 1], 'redrive_tokens', ARGV[n])
"""


def not_redrivable(record: Mapping[str, str], now_ms: int) -> str | None:
    """Why the execution cannot be redriven now (AWS's ``redriveStatusReason``), or None."""
    status = record["status"]
    if status in ("RUNNING", "SUCCEEDED"):
        return f"Execution is {status} and cannot be redriven"
    # The redrive adds an event: a history at the limit but for one cannot take it either.
    if int(record["events"]) >= MAX_HISTORY_EVENTS - 1 or (
            record.get("error") == "States.Runtime"
            and record.get("cause", "").startswith(_HISTORY_LIMIT_CAUSE)):
        return "Execution history event limit exceeded"
    if now_ms - int(record["start_ms"]) > MAX_OPEN_MS:
        return "Execution has exceeded the max execution time"
    # ISO times in AWS's fixed format compare as their moments do.
    if record["stop"] < iso_time(store.from_ms(now_ms - REDRIVABLE_PERIOD_MS)):
        return "Execution redrivable period exceeded"
    return None


def redrive_fields(record: Mapping[str, str], now_ms: int) -> dict[str, Any]:
    """DescribeExecution's redrive fields: redriveCount, redriveDate once redriven,
    redriveStatus and, when not redrivable, redriveStatusReason."""
    count = int(record.get("redrive_count", 0))
    fields: dict[str, Any] = {"redriveCount": count}
    if count:
        fields["redriveDate"] = store.from_ms(record["redrive_ms"])
    reason = not_redrivable(record, now_ms)
    fields["redriveStatus"] = "REDRIVABLE" if reason is None else "NOT_REDRIVABLE"
    if reason is not None:
        fields["redriveStatusReason"] = reason
    return fields


def _tokens(record: Mapping[str, str], now_ms: int) -> list[tuple[str, int]]:
    """The client tokens of the last redrives, still answered idempotently."""
    kept = orjson.loads(record.get("redrive_tokens", "[]"))
    return [(token, at) for token, at in kept if now_ms - at <= TOKEN_MS]


async def redrive(redis: Redis, arn: str, client_token: str | None = None) -> datetime:
    """Redrive the closed execution ``arn``; its redriveDate. The same ``client_token`` again
    (within 15 minutes) answers that redrive's date and redrives nothing."""
    for _ in range(STALE_TRIES):
        stored = await store.load(redis, arn)
        if stored is None:
            raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        record, now = stored.record, datetime.now(UTC)
        now_ms = store.to_ms(now)
        tokens = _tokens(record, now_ms)
        for token, at in tokens:
            if token == client_token:
                return store.from_ms(at)
        reason = not_redrivable(record, now_ms)
        if reason is not None:
            raise ExecutionNotRedrivable(reason)
        count = int(record.get("redrive_count", 0)) + 1
        uuid, rand = seeded(int(record["seed"]))
        execution, _ = replay(parse_definition(stored.definition), execution_info(record),
                              stored.replies, uuid=uuid, random=rand)
        if len(execution.env.history.events) != stored.events:
            raise RuntimeError(f"{arn}: its replies replay to another history than stored")
        reply = Redrive(now, count)
        result = step(execution, reply)
        reopened = {**record, "redrive_count": str(count), "redrive_ms": str(now_ms)}
        events = [status_event(reopened, "RUNNING")]
        stop_date = ""
        if result.status != "RUNNING":  # it failed again at once
            stop_date = iso_time(now)
            events.append(status_event(reopened, result.status, stop_ms=now_ms,
                                       output=result.output, error=result.error,
                                       cause=result.cause))
        if client_token is not None:
            tokens = [*tokens, (client_token, now_ms)][-TOKENS_KEPT:]
        answer = await store.apply_step(
            redis, arn, expected=(stored.events, len(stored.replies)),
            replies=[reply], step=result, commands=result.commands, stop_date=stop_date,
            status_events=events, guard=_REOPEN,
            guard_args=[record["status"], str(count), str(now_ms),
                        orjson.dumps(tokens).decode()])
        if answer == "ok":
            return store.from_ms(now_ms)
    raise RuntimeError(f"{arn}: the execution kept moving on under {STALE_TRIES} tries")
