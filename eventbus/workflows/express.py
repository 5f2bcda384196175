"""Express executions, as AWS runs them: in memory, for at most five minutes, with no history
kept beyond their result.

- **Synchronous** (``StartSyncExecution``): the caller's process runs the execution to its end
  and answers StartSyncExecution's result. At most once: nothing is stored, so a process that
  dies takes the execution with it, and the caller sees the request fail.
- **Asynchronous** (``StartExecution`` of an EXPRESS machine): queued on the work stream of its
  partition as one ``express`` entry holding the execution's input, seed and definition; a
  workflow worker runs it in memory and acknowledges the entry once it has ended. At least
  once: a worker that dies leaves the entry pending and the worker that claims it runs the
  execution again from its start, with the same seed, so its task tokens (the idempotency keys
  of ``http:invoke`` and ``events:putEvents``) are those of the first run. The result is logged
  (``express execution ended``); AWS sends it to CloudWatch Logs.

Both run the step function on the wall clock: tasks are called through the same
:class:`~eventbus.workflows.tasks.TaskResolver` as durable executions' (any number at once),
Wait states and retry back-offs sleep, and an execution still running ``max_duration`` seconds
after its start (300, AWS's limit) ends ``TIMED_OUT``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import secrets
import uuid as uuid_module
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis

from eventbus import keys
from eventbus.errors import (
    InvalidExecutionInput,
    RequestRejected,
    StateMachineDoesNotExist,
    StateMachineTypeNotSupported,
)
from eventbus.settings import Settings, get_settings
from eventbus.workflows import jsontext, store
from eventbus.workflows.arns import identity_of, states_arn
from eventbus.workflows.catalog import name_problem
from eventbus.workflows.commands import (
    ExecutionTimeout,
    InvokeTask,
    Reply,
    StartTimer,
    TaskResult,
    TimerFired,
)
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.definition import parse_definition, validate_definition
from eventbus.workflows.driver import seeded
from eventbus.workflows.step import EXECUTION_TIMEOUT_TOKEN, Execution, Step, start, step

__all__ = [
    "BILLED_MEMORY_MB",
    "INCLUDED_DATA",
    "MAX_DURATION",
    "ExpressExecutions",
    "ExpressRun",
    "Invoker",
    "run_express",
    "run_queued",
]

log = logging.getLogger("eventbus.workflows")

# AWS's maximum duration of an Express execution (s).
MAX_DURATION = 300.0
# AWS bills Express memory in 64 MB steps; an execution here is never charged more than one.
BILLED_MEMORY_MB = 64
# AWS bills Express duration rounded up to the next 100 ms.
BILLED_STEP_MS = 100
INCLUDED_DATA = ("ALL_DATA", "METADATA_ONLY")


class Invoker(Protocol):
    """What calls a Task's resource: :class:`~eventbus.workflows.tasks.TaskResolver`."""

    async def invoke(self, command: InvokeTask, arn: str) -> TaskResult: ...


@dataclass(frozen=True, slots=True)
class ExpressRun:
    """An Express execution that has ended."""

    info: ExecutionInfo
    result: Step
    stop: datetime

    @property
    def arn(self) -> str:
        return self.info.execution_arn


async def run_express(definition: Mapping[str, Any], info: ExecutionInfo, tasks: Invoker, *,
                      seed: int, max_duration: float = MAX_DURATION) -> ExpressRun:
    """Run one execution to its end on the wall clock (see the module doc)."""
    uuid, rand = seeded(seed)
    execution, current = start(definition, info, uuid=uuid, random=rand)
    deadline = info.start_time + timedelta(seconds=max_duration)
    timers: list[tuple[datetime, int, str]] = []
    order = itertools.count()  # timers due at once fire in the order they were set
    calls: set[asyncio.Task[TaskResult]] = set()
    try:
        while True:
            for command in current.commands:
                if isinstance(command, StartTimer):
                    heapq.heappush(timers, (command.fire_at, next(order), command.token))
                else:
                    assert isinstance(command, InvokeTask)
                    calls.add(asyncio.create_task(tasks.invoke(command, info.execution_arn)))
            if current.status != "RUNNING":
                return ExpressRun(info, current, _stop_time(execution))
            current = step(execution, await _next_reply(timers, calls, deadline))
    finally:
        for call in calls:  # a failed branch's tasks, or the execution ended under them
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


async def _next_reply(timers: list[tuple[datetime, int, str]],
                      calls: set[asyncio.Task[TaskResult]], deadline: datetime) -> Reply:
    """The first of: a task's result, a timer firing, the maximum duration running out."""
    while True:
        now = datetime.now(UTC)
        if timers and timers[0][0] <= min(now, deadline):
            _, _, token = heapq.heappop(timers)
            return ExecutionTimeout(now) if token == EXECUTION_TIMEOUT_TOKEN \
                else TimerFired(token, now)
        if deadline <= now:
            return ExecutionTimeout(now)
        due = min(timers[0][0], deadline) if timers else deadline
        wait = max(0.0, (due - now).total_seconds())
        if not calls:
            await asyncio.sleep(wait)
            continue
        done, _ = await asyncio.wait(calls, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if done:
            first = min(done, key=lambda t: t.result().at)
            calls.discard(first)
            return first.result()


def _stop_time(execution: Execution) -> datetime:
    return max(datetime.now(UTC), execution.clock.now)


def billing(run: ExpressRun) -> dict[str, int]:
    """StartSyncExecution's ``billingDetails``: the duration rounded up to 100 ms."""
    ms = (run.stop - run.info.start_time).total_seconds() * 1000
    billed = max(1, math.ceil(ms / BILLED_STEP_MS)) * BILLED_STEP_MS
    return {"billedDurationInMilliseconds": billed, "billedMemoryUsedInMB": BILLED_MEMORY_MB}


def sync_answer(run: ExpressRun, input_text: str, *, included_data: str = "ALL_DATA",
                trace_header: str | None = None) -> dict[str, Any]:
    """StartSyncExecution's answer (dates as ``datetime``, as boto3 gives them)."""
    info, result = run.info, run.result
    included = included_data == "ALL_DATA"
    answer: dict[str, Any] = {
        "executionArn": info.execution_arn, "stateMachineArn": info.state_machine_arn,
        "name": info.name, "startDate": info.start_time, "stopDate": run.stop,
        "status": result.status,
    }
    if included:
        answer["input"] = input_text
        if result.status == "SUCCEEDED":
            answer["output"] = result.output
    answer["inputDetails"] = answer["outputDetails"] = {"included": included}
    for field in ("error", "cause"):
        value = getattr(result, field)
        if value is not None:
            answer[field] = value
    if trace_header is not None:
        answer["traceHeader"] = trace_header
    answer["billingDetails"] = billing(run)
    return answer


class ExpressExecutions:
    """Express executions of the machines in ``machines`` (name -> (type, definition text)).

    ``tasks`` calls the Task states of synchronous executions; asynchronous ones are run by the
    workflow workers with theirs.
    """

    def __init__(self, redis: Redis | None, machines: Mapping[str, tuple[str, str]],
                 tasks: Invoker | None = None, *, max_duration: float = MAX_DURATION,
                 parsed: dict[str, dict[str, Any]] | None = None,
                 settings: Settings | None = None) -> None:
        """``parsed``: validated and parsed definitions by version, to share between
        instances (a version's text never changes); ``settings``: the region and account of
        the ARNs (the process's by default)."""
        self.settings = settings or get_settings()
        self.redis = redis
        self.machines = machines
        self.tasks = tasks
        self.max_duration = max_duration
        self._parsed = parsed if parsed is not None else {}

    async def start_sync_execution(self, state_machine: str, input: str = "{}",
                                   name: str | None = None, *, included_data: str = "ALL_DATA",
                                   trace_header: str | None = None) -> dict[str, Any]:
        """Run an execution to its end here and answer as StartSyncExecution does."""
        if included_data not in INCLUDED_DATA:
            raise RequestRejected(f"includedData must be one of {', '.join(INCLUDED_DATA)}")
        if self.tasks is None:
            raise RuntimeError("synchronous Express executions need a task invoker (tasks=)")
        machine, text, data, name = self._checked(state_machine, input, name)
        info = _info(machine, name, data, datetime.now(UTC), str(uuid_module.uuid4()),
                     "StartSyncExecution", self._identity)
        run = await run_express(self._definition(text), info, self.tasks,
                                seed=secrets.randbits(63), max_duration=self.max_duration)
        return sync_answer(run, input, included_data=included_data, trace_header=trace_header)

    async def start_execution(self, state_machine: str, input: str = "{}",
                              name: str | None = None) -> dict[str, Any]:
        """Queue an execution for the workflow workers, as StartExecution of an EXPRESS machine
        does: every start is a new execution, whatever its name."""
        if self.redis is None:
            raise RuntimeError("asynchronous Express executions are queued on Redis (redis=)")
        machine, text, _, name = self._checked(state_machine, input, name)
        self._definition(text)  # refused here rather than by the worker
        now = datetime.now(UTC)
        run_id = str(uuid_module.uuid4())
        arn = _info(machine, name, None, now, run_id, "StartExecution",
                    self._identity).execution_arn
        entry = {"kind": "express", "arn": arn, "machine": machine, "name": name,
                 "uuid": run_id, "input": input, "start_ms": str(store.to_ms(now)),
                 "seed": str(secrets.randbits(63)), "definition": text}
        await self.redis.xadd(keys.workflow_work(store.partition_of(arn)),
                              entry)  # type: ignore[arg-type]
        return {"executionArn": arn, "startDate": store.from_ms(entry["start_ms"])}

    def _checked(self, state_machine: str, input: str,
                 name: str | None) -> tuple[str, str, Any, str]:
        """The machine's name and definition, the parsed input and the execution's name."""
        machine = state_machine.rsplit(":stateMachine:", 1)[-1]
        found = self.machines.get(machine)
        if found is None:
            arn = states_arn("stateMachine", machine, self.settings)
            raise StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        machine_type, text = found
        if machine_type != "EXPRESS":
            raise StateMachineTypeNotSupported()
        try:
            data = jsontext.loads(input)
        except ValueError as err:
            raise InvalidExecutionInput(f"Invalid execution input: {err}") from err
        name = name if name is not None else str(uuid_module.uuid4())
        if name_problem(name) is not None:  # execution names follow the machines' rules
            raise RequestRejected(f"Invalid Name: '{name}'", code="InvalidName")
        return machine, text, data, name

    @property
    def _identity(self) -> tuple[str, str]:
        return self.settings.region, self.settings.account

    def _definition(self, text: str) -> dict[str, Any]:
        version = store.definition_version(text)
        parsed = self._parsed.get(version)
        if parsed is None:
            validate_definition(text, "EXPRESS")
            parsed = self._parsed[version] = parse_definition(text)
        return parsed


def _info(machine: str, name: str, data: Any, start_time: datetime, run_id: str,
          invocation: str, identity: tuple[str, str]) -> ExecutionInfo:
    region, account = identity
    return ExecutionInfo(name=name, state_machine_name=machine, start_time=start_time,
                         input=data, state_machine_type="EXPRESS", invocation=invocation,
                         execution_uuid=run_id, region=region, account=account,
                         role_arn=f"arn:aws:iam::{account}:role/eventbus-workflows")


async def run_queued(entry: Mapping[str, str], tasks: Invoker, *,
                     parsed: dict[str, dict[str, Any]],
                     max_duration: float = MAX_DURATION) -> ExpressRun:
    """Run the Express execution of a work entry queued by ``start_execution`` (again, when
    a worker died running it: from its start, with its seed and start time). ``parsed``
    caches definitions by version across calls."""
    text = entry["definition"]
    version = store.definition_version(text)
    if version not in parsed:
        parsed[version] = parse_definition(text)
    info = _info(entry["machine"], entry["name"], jsontext.loads(entry["input"]),
                 store.from_ms(entry["start_ms"]), entry["uuid"], "StartExecution",
                 identity_of(entry["arn"]))  # the ARN's, as given at the start
    run = await run_express(parsed[version], info, tasks, seed=int(entry["seed"]),
                            max_duration=max_duration)
    result = run.result
    log.info("express execution ended", extra={"fields": {
        "arn": run.arn, "status": result.status, "error": result.error, "cause": result.cause,
        "duration_ms": billing(run)["billedDurationInMilliseconds"]}})
    return run
