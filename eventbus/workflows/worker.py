"""A workflow worker: carries out the work of durable executions until stopped.

Each work entry (a start, a task to call, a timer that fired, a stop) is handled on its own
asyncio task, at most ``concurrency`` at once: a task entry calls its resource, then every kind
is applied to its execution by the :class:`~eventbus.workflows.driver.Driver`, which
acknowledges the entry in the script that stores the step. An ``express`` entry is an Express
execution, run whole in memory (:mod:`eventbus.workflows.express`) and acknowledged once it has
ended. An entry whose handling fails stays pending and is claimed again after ``claim_idle``
(by this worker or another).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventbus import keys
from eventbus.autopipe import use_hiredis_packing
from eventbus.client import AsyncEventBusClient
from eventbus.connections import ConnectionSpec
from eventbus.consumers import CONSUMER_IDLE_SECONDS
from eventbus.loops.base import Loop
from eventbus.outage import OutageLog
from eventbus.router_process import YOUNG_COLLECTION_THRESHOLD
from eventbus.targets.base import TargetServices
from eventbus.workflows import child_completions, store
from eventbus.workflows.callbacks import CallbackTasks
from eventbus.workflows.commands import (
    ExecutionTimeout,
    Reply,
    StopExecution,
    TaskResult,
    TimerFired,
    is_execution_timeout,
)
from eventbus.workflows.driver import Driver
from eventbus.workflows.express import MAX_DURATION, run_queued
from eventbus.workflows.local import TaskCallable
from eventbus.workflows.retention import RetentionSweeper, default_retention, sweep_interval
from eventbus.workflows.tasks import TaskResolver
from eventbus.workflows.worker_loops import (
    OutboxPublisher,
    TimerMover,
    WorkClaimer,
    WorkReader,
    WorkTrimmer,
)

__all__ = ["WorkerOptions", "WorkflowWorker", "load_tasks", "run_worker"]

log = logging.getLogger("eventbus.workflows")

# Redis connections of a standalone worker; past it, commands wait for a free one.
MAX_CONNECTIONS = 64


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    claim_idle: float = 30.0  # take over entries another worker held this long (s)
    consumer: str = ""  # consumer name in the group; default wf-<host>-<pid>
    concurrency: int = 256  # entries handled at once
    block_ms: int = 1000  # how long a read waits for new work (new work ends it at once)
    timer_poll: float = 0.05  # how often due timers are moved at most (s)
    outbox_poll: float = 0.2  # how often status changes are published while some are (s)
    # How often the timer mover and the outbox publisher look while idle (s): this worker's
    # own timers and status changes wake them at once; another's are seen within this.
    idle_poll: float = 1.0
    trim_interval: float = 10.0  # how often finished work entries are trimmed (s)
    shutdown_grace: float = 10.0  # how long stop() waits for entries in hand (s)
    pause_on_error: float = 0.5
    # Remove the consumers of the group idle this long holding nothing (s): dead workers'.
    # Never less than thrice claim_idle or the read's block, which a live worker's stay within.
    consumer_idle: float = CONSUMER_IDLE_SECONDS
    # How long closed executions are kept (s); None: EVENTBUS_WORKFLOW_RETENTION_DAYS.
    retention: float | None = None
    express_max_duration: float = MAX_DURATION  # an Express execution ends TIMED_OUT past it (s)


def _fields(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {store.text(k): store.text(v) for k, v in raw.items()}


class WorkflowWorker:
    """The loops of one worker on one Redis; ``await run()`` until ``stop()``."""

    def __init__(self, redis: Redis, options: WorkerOptions | None = None, *,
                 tasks: Mapping[str, TaskCallable] | None = None,
                 connections: Mapping[str, ConnectionSpec] | None = None,
                 definitions: Mapping[str, str] | None = None,
                 stop: asyncio.Event | None = None, outage: OutageLog | None = None) -> None:
        """``definitions``: machines (name -> text) that startExecution tasks may start, besides
        those created over the Step Functions API. ``stop`` and ``outage``: a router running
        the worker shares its own, so that it stops with the router's loops and a Redis
        outage is said once for the process."""
        self.redis = redis
        self.options = o = options or WorkerOptions()
        self.consumer = o.consumer or f"wf-{socket.gethostname()}-{os.getpid()}"
        self.driver = Driver(redis, keys.WORKFLOW_GROUP)
        self.publisher = AsyncEventBusClient(redis)
        self.resolver = TaskResolver(
            TargetServices(redis=redis, publish=self.publisher.put_events), tasks,
            connections=connections)
        # Kept even when empty now: a router's live catalog fills once its rules have loaded.
        self.resolver.integrations.definitions = definitions if definitions is not None else {}
        self.stopping = stop or asyncio.Event()
        self._held: dict[int, set[Any]] = {p: set() for p in range(keys.WORKFLOW_PARTITIONS)}
        self._running: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(o.concurrency)
        self.callbacks = CallbackTasks(redis, self.resolver)
        self._express_definitions: dict[str, dict[str, Any]] = {}  # parsed, by version
        pause = o.pause_on_error
        retention = default_retention() if o.retention is None else o.retention
        consumer_idle = max(o.consumer_idle, 3 * o.claim_idle, 3 * o.block_ms / 1000)
        self.loops: list[Loop] = [
            WorkReader(self.stopping, redis, self.consumer, self.dispatch, self._wait_room,
                       block_ms=o.block_ms, pause=pause),
            timers := TimerMover(self.stopping, redis, every=o.timer_poll,
                                 idle_every=o.idle_poll, pause=pause),
            WorkClaimer(self.stopping, redis, self.consumer, self.dispatch, self._held.__getitem__,
                        claim_idle=o.claim_idle, consumer_idle=consumer_idle, batch=100,
                        pause=pause),
            outbox := OutboxPublisher(self.stopping, redis, every=o.outbox_poll,
                                      idle_every=o.idle_poll, pause=pause),
            WorkTrimmer(self.stopping, redis, every=o.trim_interval, pause=pause),
            RetentionSweeper(self.stopping, redis, retention=retention,
                             every=sweep_interval(retention), pause=pause),
        ]
        self.driver.timer_set, self.driver.status_queued = timers.due, outbox.wake
        self.callbacks.timer_set = timers.due
        outage = outage or OutageLog(log)
        for loop in self.loops:
            loop.outage = outage

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        tasks = [asyncio.create_task(loop.run()) for loop in self.loops]
        log.info("workflow worker started", extra={"fields": {"consumer": self.consumer}})
        await self.stopping.wait()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._running:
            await asyncio.wait(self._running, timeout=self.options.shutdown_grace)
        for task in list(self._running):  # left pending: another worker claims them
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.resolver.aclose()
        log.info("workflow worker stopped", extra={"fields": {"consumer": self.consumer}})

    async def _wait_room(self) -> int:
        """How many entries to read: at least one, once there is room for it."""
        async with self._room:
            pass
        return max(1, self.options.concurrency - len(self._running))

    def dispatch(self, partition: int, entries: list[Any]) -> None:
        for entry_id, raw in entries:
            self._held[partition].add(entry_id)
            task = asyncio.create_task(self._handle(partition, entry_id, raw))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _handle(self, partition: int, entry_id: Any, raw: Mapping[Any, Any]) -> None:
        async with self._room:
            try:
                await self.handle(store.text(entry_id), _fields(raw))
            except Exception as e:
                where = {"partition": partition, "entry": store.text(entry_id), "error": repr(e)}
                log.warning("workflow work entry failed; it will be claimed again: %s", e,
                            extra={"fields": where})
            finally:
                self._held[partition].discard(entry_id)

    async def handle(self, entry_id: str, fields: dict[str, str]) -> str:
        """Carry out one work entry; what the store answered."""
        kind = fields["kind"]
        now = datetime.now(UTC)
        if kind == "timer":
            timer = orjson.loads(fields["timer"])
            if "wait" in timer:  # a callback task's timeout or heartbeat
                return await self.callbacks.expire(timer, entry_id)
            token = timer["token"]
            reply: Reply | None = ExecutionTimeout(now, token) if is_execution_timeout(token) \
                else TimerFired(token, now)
            return await self.driver.apply(timer["arn"], entry_id, reply)
        arn = fields["arn"]
        if kind in ("closed", "mapchild"):
            return await self._child_entry(kind, fields, entry_id)
        if kind == "express":  # run whole, then acknowledged: at least once
            await run_queued(fields, self.resolver, parsed=self._express_definitions,
                             max_duration=self.options.express_max_duration)
            await store.ack(self.redis, arn, entry_id, keys.WORKFLOW_GROUP)
            return "ok"
        if kind == "start":
            record = fields.get("record")
            return await self.driver.apply(arn, entry_id, None,
                                           orjson.loads(record) if record else None)
        elif kind == "stop":  # queued by versions whose StopExecution did not stop at once
            reply = StopExecution(max(now, store.from_ms(fields["at"])), fields.get("error"),
                                  fields.get("cause"))
        elif kind == "task":
            if await self.driver.status(arn) != "RUNNING":
                return await self.driver.apply(arn, entry_id, None)  # acknowledged as closed
            command = store.task_from_json(fields["task"])
            if child_completions.waits(command.resource):
                return await self.callbacks.invoke(command, arn, entry_id)
            reply = await self.resolver.invoke(command, arn)
        elif kind == "reply":  # a callback task's answer, or an activity's start
            reply = store.reply_from_json(fields["reply"])
            if "taken_by" in fields and isinstance(reply, TaskResult):
                reply = dataclasses.replace(reply, taken_by=fields["taken_by"])
        else:
            raise ValueError(f"unknown workflow work entry kind {kind!r}")
        return await self._apply_through_outage(arn, entry_id, reply)

    async def _apply_through_outage(self, arn: str, entry_id: str, reply: Reply | None) -> str:
        """Apply ``reply``, trying again while Redis cannot be reached. A task's reply is the
        outcome of a call already made: left pending, the entry would be claimed and the task
        called again. The entry stays held meanwhile, so the claimer keeps it this worker's
        once Redis is back (a step stored by another worker makes this one a duplicate)."""
        while True:
            try:
                return await self.driver.apply(arn, entry_id, reply)
            except (RedisConnectionError, RedisTimeoutError):
                if self.stopping.is_set():
                    raise
                await asyncio.sleep(self.options.pause_on_error)


    async def _child_entry(self, kind: str, fields: dict[str, str], entry_id: str) -> str:
        if kind == "closed":  # a child execution closed: tell its parent
            return await child_completions.deliver(self.redis, fields["arn"], entry_id)
        # a Map Run's next child to start
        return await child_completions.start_map_child(self.resolver.integrations, fields,
                                                       entry_id)


def load_tasks(spec: str) -> dict[str, TaskCallable]:
    """The mapping ``package.module:NAME`` names (resource -> callable), for ``--tasks``."""
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        tasks = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--tasks {spec}: cannot import it: {e}") from e
    if not isinstance(tasks, Mapping):
        raise ValueError(f"--tasks {spec}: not a mapping of resource to callable")
    return dict(tasks)


async def run_worker(redis_url: str, options: WorkerOptions | None = None, *,
                     tasks: Mapping[str, TaskCallable] | None = None,
                     connections: Mapping[str, ConnectionSpec] | None = None,
                     definitions: Mapping[str, str] | None = None) -> None:
    """Run a worker until SIGTERM or SIGINT."""
    import gc
    import signal

    from redis.asyncio import BlockingConnectionPool

    # A blocking pool: a burst of work waits for a connection instead of failing.
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=MAX_CONNECTIONS,
                                           timeout=None, health_check_interval=30)
    use_hiredis_packing(pool)
    redis = Redis(connection_pool=pool)
    worker = WorkflowWorker(redis, options, tasks=tasks, connections=connections,
                            definitions=definitions)
    # As a router's process does (see router_process.start_for_good): what is alive now stays
    # to the end, and a step leaves little for the collector, yet a young collection every
    # 700 objects walked every execution in hand (about a tenth of a worker's CPU).
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    loop.add_signal_handler(signal.SIGINT, worker.stop)
    try:
        await worker.run()
    finally:
        await redis.aclose()
