"""The Step Functions execution API in Python, on the durable store: StartExecution,
DescribeExecution, DescribeStateMachineForExecution, GetExecutionHistory, ListExecutions,
StopExecution and RedriveExecution, with AWS's request and answer shapes (dates as
``datetime``, as boto3 gives them).

Definitions come from a mapping of state machine name to definition text; each execution
stores the text it started with (once per version and partition), so changing a definition
changes only the executions started after.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid as uuid_module
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.autopipe import shared_autopipe
from eventbus.errors import (
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    InvalidExecutionInput,
    RequestRejected,
    StateMachineDoesNotExist,
)
from eventbus.settings import Settings, get_settings
from eventbus.workflows import jsontext, redrive, store
from eventbus.workflows.arns import execution_arn, execution_prefix, machine_arn_of, states_arn
from eventbus.workflows.catalog import name_problem
from eventbus.workflows.commands import StopExecution
from eventbus.workflows.context import iso_time
from eventbus.workflows.definition import validate_definition
from eventbus.workflows.driver import Driver, execution_info

__all__ = ["STATUSES", "Executions"]

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
_PAGE_LIMIT = 1000


def _date(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z")


def _page(token: str | None) -> int:
    if token is None:
        return 0
    try:
        return int(token)
    except ValueError:
        raise RequestRejected(f"Invalid pagination token: {token}",
                              code="InvalidToken") from None


class Executions:
    """Durable executions of the state machines in ``definitions`` (name -> text), with the
    ARNs of ``settings`` (the process's by default)."""

    def __init__(self, redis: Redis, definitions: Mapping[str, str],
                 settings: Settings | None = None) -> None:
        self.redis = redis
        # Starts go auto-pipelined: concurrent callers share round trips.
        self._starts = shared_autopipe(redis)
        self.definitions = definitions
        self.settings = settings or get_settings()
        self._valid: set[str] = set()  # versions already validated

    async def start_execution(self, state_machine: str, input: str = "{}",
                              name: str | None = None, *,
                              parent: str | None = None) -> dict[str, Any]:
        """Start an execution (queued for the workers); idempotent as AWS Standard: the same
        name and input while it runs answers the same execution; ExecutionAlreadyExists once
        it has closed or with another input. ``parent``: a child execution's link to the
        execution waiting for it (see ``child_executions``)."""
        machine = self._machine_name(state_machine)
        text = self.definitions.get(machine)
        if text is None:
            raise self._no_machine(machine)
        try:
            jsontext.loads(input)
        except ValueError as err:
            raise InvalidExecutionInput(f"Invalid execution input: {err}") from err
        name = name if name is not None else str(uuid_module.uuid4())
        if name_problem(name) is not None:  # execution names follow the machines' rules
            raise RequestRejected(f"Invalid Name: '{name}'", code="InvalidName")
        version = store.definition_version(text)
        if version not in self._valid:
            validate_definition(text, "STANDARD")
            self._valid.add(version)
        arn = execution_arn(machine, name, self.settings)
        now = datetime.now(UTC)
        record = {
            "arn": arn, "name": name, "machine": machine, "version": version, "input": input,
            "start_ms": str(store.to_ms(now)), "start": iso_time(now), "status": "RUNNING",
            "events": "0", "replies": "0", "seed": str(secrets.randbits(63)),
            "uuid": str(uuid_module.uuid4()),
        }
        if parent is not None:
            record["parent"] = parent
        answer, start = await store.start_record(self._starts, arn, record, text)
        if answer == "exists":
            raise ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'")
        return {"executionArn": arn, "startDate": _date(start)}

    async def parent_of(self, arn: str) -> str | None:
        """The parent link of a child execution (None for any other)."""
        link = await self.redis.hget(keys.workflow_execution(store.partition_of(arn), arn),
                                     "parent")
        return None if link is None else store.text(link)

    async def _record(self, arn: str) -> dict[str, str]:
        record = await self._stored(arn)
        if record is None:
            raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return record

    async def _stored(self, arn: str) -> dict[str, str] | None:
        raw = await self.redis.hgetall(keys.workflow_execution(store.partition_of(arn), arn))
        return {store.text(k): store.text(v) for k, v in raw.items()} if raw else None

    async def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        r = await self._record(execution_arn)
        answer: dict[str, Any] = {
            "executionArn": r["arn"], "stateMachineArn": machine_arn_of(r["arn"]),
            "name": r["name"], "status": r["status"], "startDate": _date(r["start"]),
            "input": r["input"], "inputDetails": {"included": True},
        }
        answer.update(redrive.redrive_fields(r, store.to_ms(datetime.now(UTC))))
        if r["status"] != "RUNNING":
            answer["stopDate"] = _date(r["stop"])
            if r["status"] == "SUCCEEDED":
                answer.update(output=r["output"], outputDetails={"included": True})
            for field in ("error", "cause"):
                if r.get(field):
                    answer[field] = r[field]
        return answer

    async def get_execution_history(self, execution_arn: str, *, max_results: int = 100,
                                    reverse_order: bool = False, next_token: str | None = None,
                                    include_execution_data: bool = True) -> dict[str, Any]:
        """A page of the history: ``max_results`` events (1 to 1000, 0 for 100) from
        ``next_token``, oldest first unless ``reverse_order``."""
        await self._record(execution_arn)
        size = max_results or 100
        if not 1 <= size <= _PAGE_LIMIT:
            raise RequestRejected(f"maxResults must be between 0 and {_PAGE_LIMIT}")
        offset = _page(next_token)
        key = keys.workflow_history(store.partition_of(execution_arn), execution_arn)
        if reverse_order:
            raw = await self.redis.lrange(key, -offset - size, -offset - 1)
            raw.reverse()
        else:
            raw = await self.redis.lrange(key, offset, offset + size - 1)
        events = [self._event(orjson.loads(e), include_execution_data) for e in raw]
        answer: dict[str, Any] = {"events": events}
        if len(raw) == size and offset + size < await self.redis.llen(key):
            answer["nextToken"] = str(offset + size)
        return answer

    @staticmethod
    def _event(event: dict[str, Any], include_data: bool) -> dict[str, Any]:
        event["timestamp"] = _date(event["timestamp"])
        if not include_data:
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    details.pop("input", None)
                    details.pop("output", None)
        return event

    async def list_executions(self, state_machine: str, *, status_filter: str | None = None,
                              max_results: int = 100, next_token: str | None = None,
                              redrive_filter: str | None = None) -> dict[str, Any]:
        """A page of the machine's executions, newest first; ``redrive_filter`` REDRIVEN or
        NOT_REDRIVEN keeps those redriven at least once, or never."""
        machine = self._machine_name(state_machine)
        if machine not in self.definitions:
            raise self._no_machine(machine)
        if status_filter is not None and status_filter not in STATUSES:
            raise RequestRejected(f"Invalid statusFilter: {status_filter}")
        if redrive_filter not in (None, "REDRIVEN", "NOT_REDRIVEN"):
            raise RequestRejected(f"Invalid redriveFilter: {redrive_filter}")
        prefix = execution_prefix(machine, self.settings)
        found: list[tuple[float, str]] = []
        for p in range(keys.WORKFLOW_PARTITIONS):
            members: list[Any] = await self.redis.zrange(keys.workflow_index(p), 0, -1,
                                                         withscores=True)
            for member, score in members:
                arn = store.text(member)
                if arn.startswith(prefix):
                    found.append((float(score), arn))
        found.sort(reverse=True)
        # An execution retention removed after the index was read is not listed.
        records = await asyncio.gather(*(self._stored(arn) for _, arn in found))
        chosen = [r for r in records if r is not None and status_filter in (None, r["status"])
                  and redrive_filter in (None, "REDRIVEN" if "redrive_count" in r
                                         else "NOT_REDRIVEN")]
        offset, size = _page(next_token), max_results or 100
        page = chosen[offset:offset + size]
        answer: dict[str, Any] = {"executions": [self._summary(r) for r in page]}
        if offset + size < len(chosen):
            answer["nextToken"] = str(offset + size)
        return answer

    @staticmethod
    def _summary(r: dict[str, str]) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "executionArn": r["arn"], "stateMachineArn": machine_arn_of(r["arn"]),
            "name": r["name"], "status": r["status"], "startDate": _date(r["start"]),
        }
        if r["status"] != "RUNNING":
            summary["stopDate"] = _date(r["stop"])
        if "redrive_count" in r:
            summary.update(redriveCount=int(r["redrive_count"]),
                           redriveDate=store.from_ms(r["redrive_ms"]))
        return summary

    async def stop_execution(self, execution_arn: str, *, error: str | None = None,
                             cause: str | None = None) -> dict[str, Any]:
        """End the execution ABORTED now, as one step stored like a worker's (the results of its
        tasks, waits and timers still to come find it closed); a closed execution is left as
        it is."""
        r = await self._record(execution_arn)
        if r["status"] == "RUNNING":
            stop = StopExecution(datetime.now(UTC), error, cause)
            await Driver(self.redis, keys.WORKFLOW_GROUP).apply(execution_arn, None, stop)
            r = await self._record(execution_arn)
        return {"stopDate": _date(r["stop"]) if r["status"] != "RUNNING" else datetime.now(UTC)}

    async def redrive(self, execution_arn: str,
                      client_token: str | None = None) -> dict[str, Any]:
        """RedriveExecution: run the FAILED, TIMED_OUT or ABORTED execution again from the state
        that did not succeed; ExecutionNotRedrivable with AWS's reason otherwise."""
        return {"redriveDate": await redrive.redrive(self.redis, execution_arn, client_token)}

    async def describe_state_machine_for_execution(self, execution_arn: str) -> dict[str, Any]:
        """The definition the execution runs: the one it started with."""
        r = await self._record(execution_arn)
        p = store.partition_of(execution_arn)
        definition = store.text(await self.redis.get(keys.workflow_definition(p, r["version"])))
        return {"stateMachineArn": machine_arn_of(r["arn"]), "name": r["machine"],
                "definition": definition, "roleArn": execution_info(r).role_arn,
                # The machine as of the start: its definition is the one the execution has.
                "updateDate": _date(r["start"])}

    def _machine_name(self, machine: str) -> str:
        prefix = states_arn("stateMachine", "", self.settings)
        return machine[len(prefix):] if machine.startswith(prefix) else machine

    def _no_machine(self, machine: str) -> StateMachineDoesNotExist:
        arn = states_arn("stateMachine", machine, self.settings)
        return StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")

