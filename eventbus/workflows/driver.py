"""Applies replies to stored executions, each exactly once.

A worker keeps the live ``Execution`` of each execution it has stepped, with the (history
length, reply count) it was stored at. To apply a reply it steps that execution (or, when it
holds none, rebuilds it by replaying the stored replies) and stores the step with
``store.apply_step``, which refuses it when the stored execution has moved on (another worker
stepped it: the live one is dropped, the stored one replayed, and the reply tried again) or
when the work entry was already applied. The live execution is kept only after a step stored.
Replies to one execution that arrive while its step is being stored are applied together, in
order, as its next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import random as random_module
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from eventbus import keys
from eventbus.autopipe import shared_autopipe
from eventbus.workflows import jsontext, store
from eventbus.workflows.arns import identity_of
from eventbus.workflows.commands import Command, Reply, StartTimer
from eventbus.workflows.context import ExecutionInfo, iso_time
from eventbus.workflows.definition import parse_definition
from eventbus.workflows.status_events import status_event
from eventbus.workflows.step import Execution, Step, replay, start, step

__all__ = ["Driver", "Live", "seeded"]

# Live executions a worker keeps; past it the least recently stepped is replayed when needed.
LIVE_LIMIT = 10_000
# Tries of one reply against executions that other workers keep moving on.
STALE_TRIES = 20


# The bits a version-4 uuid of RFC 4122 fixes: what ``uuid.UUID(int=..., version=4)`` clears
# and sets, done here on the int (a uuid per task token; UUID's checks cost more than the rest).
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def seeded(seed: int) -> tuple[Callable[[], str], Callable[[], float]]:
    """The uuid and random generators of an execution, the same on every replay."""
    rng = random_module.Random(seed)

    def uuid() -> str:
        h = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    return uuid, rng.random


@dataclass(slots=True)
class Live:
    """An execution as this worker holds it: None until started, or once closed."""

    execution: Execution | None
    record: dict[str, str]
    events: int
    replies: int

    @property
    def status(self) -> str:
        return self.execution.status if self.execution is not None else self.record["status"]


def execution_info(record: dict[str, str]) -> ExecutionInfo:
    # The region and account the execution's ARN was made with, so its $$.Execution.Id and
    # its task tokens name the ARN it is stored under whatever the settings say now.
    region, account = identity_of(record["arn"])
    return ExecutionInfo(
        name=record["name"], state_machine_name=record["machine"],
        start_time=store.from_ms(record["start_ms"]), input=jsontext.loads(record["input"]),
        execution_uuid=record["uuid"], region=region, account=account,
        role_arn=f"arn:aws:iam::{account}:role/eventbus-workflows", child_map_runs=True,
    )


class Driver:
    """Steps the executions of one worker; one step at a time per execution."""

    def __init__(self, redis: Redis, group: str) -> None:
        # Auto-pipelined: the steps of the entries in hand, stored concurrently, share round
        # trips (and, with appendfsync always, fsyncs) instead of taking one each.
        self.redis = shared_autopipe(redis)
        self.group = group
        self.live: OrderedDict[str, Live] = OrderedDict()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # lock, how many want it
        self._waiting: dict[str, list[_Waiting]] = {}  # replies waiting for the lock
        self._storing: set[str] = set()  # executions whose step is on its way to Redis
        self.stale = 0  # steps refused because another worker moved the execution on
        self.steps = 0  # steps stored
        # Parsed definitions by version: a version's text never changes. The interpreter only
        # reads them, so executions of one version share one.
        self._parsed: dict[str, dict[str, Any]] = {}
        # Told what a stored step queued, so the worker's timer mover and outbox publisher can
        # poll slowly while idle and still act at once on this process's own writes.
        self.timer_set: Callable[[int], None] = _ignore
        self.status_queued: Callable[[], None] = _ignore

    async def status(self, arn: str) -> str | None:
        """The execution's status as this worker last stored it, else as stored in Redis."""
        live = self.live.get(arn)
        if live is not None:
            return live.status
        if arn in self._storing:  # stored RUNNING until its step is: no need to ask Redis
            return "RUNNING"
        return await store.status_of(self.redis, arn)

    async def apply(self, arn: str, entry_id: str | None, reply: Reply | None,
                    record: dict[str, str] | None = None) -> str:
        """Apply ``reply`` (None: the start) to ``arn``, acknowledging the work entry
        ``entry_id`` in the same script: ok, or why nothing was stored (duplicate, closed,
        missing; the entry is acknowledged all the same). ``record``: the execution's record
        as its start entry carries it, which spares reading it back for the start.

        Replies to one execution that arrive while a step of it is being stored (a Map's
        iterations answering together) wait, then are applied in order as one step: one
        script, one round trip, and the step function resumed once per reply only."""
        waiting = _Waiting(entry_id, reply, asyncio.get_running_loop().create_future())
        if reply is not None:
            self._waiting.setdefault(arn, []).append(waiting)
        async with self._lock(arn):
            if not waiting.answer.done():
                batch = self._waiting.pop(arn) if reply is not None else [waiting]
                try:
                    await self._apply(arn, batch, record)
                except Exception as e:  # each caller raises it
                    for w in batch:
                        if not w.answer.done():
                            w.answer.set_exception(e)
                except BaseException:
                    for w in batch:
                        w.answer.cancel()
                    raise
        return await waiting.answer

    @contextlib.asynccontextmanager
    async def _lock(self, arn: str) -> AsyncIterator[None]:
        """One step of an execution at a time; the lock is dropped once nobody wants it."""
        lock, users = self._locks.get(arn, (asyncio.Lock(), 0))
        self._locks[arn] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[arn]
            if users == 1:
                del self._locks[arn]
            else:
                self._locks[arn] = (lock, users - 1)

    async def _apply(self, arn: str, batch: list[_Waiting],
                     record: dict[str, str] | None) -> None:
        """Apply the replies of ``batch`` (one None alone: the start) as one step; answer
        each."""
        for _ in range(STALE_TRIES):
            live = (self.live.pop(arn, None) or await self._unstarted(arn, record)
                    or await self._load(arn))
            record = None  # a refused step reads the stored execution back
            entries = [w.entry_id for w in batch if w.entry_id is not None]
            replies = [w.reply for w in batch if w.reply is not None]
            answer = "missing" if live is None else "closed" if live.status != "RUNNING" \
                else "duplicate" if not replies and live.events > 0 else None
            if answer is not None or live is None:
                if entries:
                    await self.redis.xack(keys.workflow_work(store.partition_of(arn)),
                                          self.group, *entries)
                if live is not None and live.status == "RUNNING":
                    self._keep(arn, live)
                _answer(batch, answer or "missing")
                return
            try:
                result, commands, used = self._step(live, replies)
            except Exception:
                if len(batch) == 1:
                    raise
                await self._apply_each(arn, batch)
                return
            self._storing.add(arn)
            try:
                answer = await self._store(arn, live, entries, used, result, commands)
            finally:
                self._storing.discard(arn)
            if answer == "ok":
                self.steps += 1
                live.events += len(result.events)
                live.replies += len(used)
                self._keep(arn, live)
                _answer_applied(batch, used)
                return
            if answer.startswith("duplicate:"):  # one of several was applied already
                duplicate = entries[int(answer.partition(":")[2]) - 1]
                _answer([w for w in batch if w.entry_id == duplicate], "duplicate")
                batch = [w for w in batch if w.entry_id != duplicate]
                continue  # the live execution was stepped past what is stored: reloaded
            if answer != "stale":
                _answer(batch, answer)
                return
            self.stale += 1
        raise RuntimeError(f"{arn}: the execution kept moving on under {STALE_TRIES} tries")

    async def _apply_each(self, arn: str, batch: list[_Waiting]) -> None:
        """Apply the replies of a batch the step function refused one at a time, from the
        stored execution: only the reply at fault fails (the others' entries, left pending,
        would have their tasks called again)."""
        for w in batch:
            try:
                await self._apply(arn, [w], None)
            except Exception as e:
                w.answer.set_exception(e)

    def _step(self, live: Live,
              replies: list[Reply]) -> tuple[Step, list[Command], list[Reply]]:
        """The step of ``replies`` in order (started first when the execution is not yet),
        and the replies it used: those before the execution ended (a stop coming first ends
        it at its start)."""
        steps: list[Step] = []
        if live.events == 0:
            live.execution, first = self._start(live.record)
            steps.append(first)
        execution = live.execution
        assert execution is not None
        used: list[Reply] = []
        for reply in replies:
            if execution.status != "RUNNING":
                break
            steps.append(step(execution, reply))
            used.append(reply)
        if len(steps) == 1:
            return steps[0], steps[0].commands, used
        last = steps[-1]
        merged = Step([e for s in steps for e in s.events], [], last.status, last.output,
                      last.error, last.cause)
        return merged, [c for s in steps for c in s.commands], used

    def _start(self, record: dict[str, str]) -> tuple[Execution, Step]:
        uuid, rand = seeded(int(record["seed"]))
        return start(self._parsed[record["version"]], execution_info(record), uuid=uuid,
                     random=rand)

    async def _store(self, arn: str, live: Live, entries: list[str], replies: list[Reply],
                     result: Step, commands: list[Command]) -> str:
        stop_date, events = "", []
        if result.events and live.events == 0:  # the start: RUNNING, even when it ends at once
            events.append(status_event(live.record, "RUNNING"))
        if result.events and result.status != "RUNNING":
            stop_ms = store.to_ms(datetime.now(UTC))
            stop_date = iso_time(store.from_ms(stop_ms))
            events.append(status_event(live.record, result.status, stop_ms=stop_ms,
                                       output=result.output, error=result.error,
                                       cause=result.cause))
        answer = await store.apply_step(
            self.redis, arn, expected=(live.events, live.replies), entries=entries,
            group=self.group, replies=replies, step=result, commands=commands,
            stop_date=stop_date, status_events=events)
        for c in commands:
            if isinstance(c, StartTimer):
                self.timer_set(store.to_ms(c.fire_at))
        if events:
            self.status_queued()
        return answer

    def _keep(self, arn: str, live: Live) -> None:
        self.live[arn] = live
        if live.status != "RUNNING":
            del self.live[arn]  # nothing more will step it
        while len(self.live) > LIVE_LIMIT:
            self.live.popitem(last=False)

    async def _unstarted(self, arn: str, record: dict[str, str] | None) -> Live | None:
        """The execution as its start entry carries it (None without one): the step script
        refuses the start unless the stored execution is still (0 events, 0 replies, RUNNING),
        and the execution is then read back."""
        if record is None:
            return None
        version = record["version"]
        if version not in self._parsed:
            text = await self.redis.get(keys.workflow_definition(store.partition_of(arn), version))
            if text is None:
                return None  # reading the execution back says what is missing
            self._parsed.setdefault(version, parse_definition(store.text(text)))
        return Live(None, record, 0, 0)

    async def _load(self, arn: str) -> Live | None:
        stored = await store.load(self.redis, arn, self._parsed)
        if stored is None:
            return None
        record = stored.record
        if record["version"] not in self._parsed:
            self._parsed[record["version"]] = parse_definition(stored.definition)
        if stored.events == 0 or stored.status != "RUNNING":
            return Live(None, record, stored.events, len(stored.replies))
        uuid, rand = seeded(int(record["seed"]))
        execution, _ = replay(self._parsed[record["version"]], execution_info(record),
                              stored.replies, uuid=uuid, random=rand)
        replayed = len(execution.env.history.events)
        if replayed != stored.events:
            raise RuntimeError(f"{arn}: its replies replay to {replayed} events but "
                               f"{stored.events} are stored: the interpreter changed under a "
                               "running execution")
        return Live(execution, record, stored.events, len(stored.replies))


@dataclass(slots=True)
class _Waiting:
    """A reply waiting to be applied, and its answer once it is."""

    entry_id: str | None
    reply: Reply | None
    answer: asyncio.Future[str]


def _answer(batch: list[_Waiting], answer: str) -> None:
    for w in batch:
        w.answer.set_result(answer)


def _answer_applied(batch: list[_Waiting], used: list[Reply]) -> None:
    """Answer a stored step's batch: replies past those used found the execution closed by
    an earlier one."""
    applied = {id(r) for r in used}
    for w in batch:
        w.answer.set_result("ok" if w.reply is None or id(w.reply) in applied else "closed")


def _ignore(*_: Any) -> None:
    """The default of the driver's hooks."""
