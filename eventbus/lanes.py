"""Delivery lanes: one per (bus, rule, target), each sending from its own queue at its own pace.

A lane holds the target instance, the deliveries it has read but not finished, and at most
``concurrency`` sender tasks taking them in turn, so a slow, down or failing target fills only
its own lane: the worker stops reading that lane's queue while it is full and keeps reading the
others. Senders take deliveries until none wait, so a busy lane costs a few long-lived tasks,
not a task per delivery.

The outcome of each attempt is recorded in Redis before the queue entry is acknowledged:
success → acknowledged (in batches, see :class:`AckBuffer`); retryable failure → parked in the
lane's retry set (MULTI with the acknowledgement); final failure → a dead letter (likewise).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.delivery import (
    QueuedDelivery,
    dead_letter,
    dead_letter_fields,
    dead_letters_of,
    iso_ms,
    retry_later,
)
from eventbus.errors import TargetError
from eventbus.metrics import Metrics, Series, labels_of
from eventbus.retry import Backoff, Exhausted, RetryLimits, decide_retry
from eventbus.router import Delivery
from eventbus.targets.base import DeliveryContext

if TYPE_CHECKING:
    from eventbus.config import BusRules, LoadedRule, LoadedTarget

__all__ = ["AckBuffer", "Deliverer", "FailureReporter", "Lane", "Outcome", "OutcomeHook"]

log = logging.getLogger("eventbus.worker")

MALFORMED_DELIVERY = "MALFORMED_DELIVERY"
# A failing target logs its first failure at once, then one summary at most this often.
FAILURE_SUMMARY_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a delivery ended, for ``emit_outcome`` (chained steps)."""

    lane: Lane
    record: QueuedDelivery
    succeeded: bool
    attempts: int
    result: dict[str, Any] | None = None
    error_code: str = ""
    error_message: str = ""


OutcomeHook = Callable[[Outcome], Awaitable[None]]


class FailureReporter:
    """Says on the default log level that a target fails, without a line per attempt.

    The first failure of a target is a warning; later ones are counted and summarised in one
    warning at most every ``interval`` seconds; the next success says it delivers again and
    starts over. Each retry is still logged at info level (``--verbose``).
    """

    def __init__(
        self,
        interval: float = FAILURE_SUMMARY_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.clock = clock
        # (bus, rule, target) → [failures not yet summarised, when the last warning was logged];
        # keyed by name, not lane, so a lane replaced by a reload keeps its state and frees.
        self._failing: dict[tuple[str, str, str], list[float]] = {}

    def failed(self, lane: Lane, code: str, message: str) -> None:
        now = self.clock()
        state = self._failing.get(lane.key)
        fields = {**_target(lane), "code": code, "error": message}
        if state is None:
            self._failing[lane.key] = [0, now]
            log.warning("target failing", extra={"fields": fields})
            return
        state[0] += 1
        if now - state[1] >= self.interval:
            fields |= {"failures": int(state[0]), "in_seconds": round(now - state[1])}
            log.warning("target still failing", extra={"fields": fields})
            state[:] = [0, now]

    def succeeded(self, lane: Lane) -> None:
        # Nearly always nothing fails: one truth test per delivered batch.
        if self._failing and self._failing.pop(lane.key, None) is not None:
            log.warning("target delivering again", extra={"fields": _target(lane)})


class AckBuffer:
    """Queue entries delivered and waiting to be acknowledged, flushed by the queue reader in
    the same round trip as its next read. A crash before the flush means a duplicate delivery,
    never a lost one."""

    def __init__(self) -> None:
        self.pending: dict[str, list[bytes]] = {}

    def add(self, queue: str, entry_id: bytes) -> None:
        self.pending.setdefault(queue, []).append(entry_id)

    def take(self) -> dict[str, list[bytes]]:
        taken, self.pending = self.pending, {}
        return taken


@dataclass(eq=False)
class Lane:
    """One target of one rule on one bus, and the deliveries it holds."""

    bus_rules: BusRules
    rule: LoadedRule
    target: LoadedTarget
    instance: Any  # the Target built from ``target``
    concurrency: int
    queue: str = ""
    retries: str = ""
    queue_bytes: bytes = b""
    held: set[bytes] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # its senders
    # Held entries no sender has taken yet: one entry each, or a whole read for ``send_batch``.
    waiting: deque[list[tuple[bytes, dict[bytes, bytes]]]] = field(default_factory=deque)
    backoff: Backoff = field(default_factory=Backoff)
    limits: RetryLimits = field(default_factory=RetryLimits)
    # Its metrics' labels (bus, rule and target) with their hash fields, encoded once.
    series: Series = field(init=False, repr=False)
    on_free: Callable[[Lane], None] | None = None  # told when held deliveries are finished
    # The target's one-command delivery on the bus's Redis, made while routing (see
    # ``enqueue_deliveries``); not for a target whose outcomes are published.
    inline_command: Callable[[Delivery], Sequence[str | bytes | int] | None] | None = None
    send_batch: Callable[..., Awaitable[Sequence[Any]]] | None = None  # the target's, if any
    _senders: int = 0  # tasks running _send_waiting

    def __post_init__(self) -> None:
        bus, rule, target = self.bus_rules.name, self.rule.name, self.target.id
        self.queue = keys.delivery_queue(bus, rule, target)
        self.retries = keys.delivery_retries(bus, rule, target)
        self.queue_bytes = self.queue.encode()
        self.series = Series(labels_of(bus=bus, rule=rule, target=target))
        self.refresh(self.bus_rules, self.rule, self.target)

    def refresh(self, bus_rules: BusRules, rule: LoadedRule, target: LoadedTarget) -> None:
        """Adopt a reloaded rule set's objects (same target settings, maybe a new policy)."""
        self.bus_rules, self.rule, self.target = bus_rules, rule, target
        inline = getattr(self.instance, "inline_command", None)
        self.inline_command = None if target.spec.emit_outcome else inline
        self.send_batch = getattr(self.instance, "send_batch", None)
        cfg = bus_rules.config
        self.backoff = Backoff(cfg.retry_backoff_base_seconds, cfg.retry_backoff_cap_seconds)
        self.limits = RetryLimits(
            target.retry.maximum_retry_attempts, target.retry.maximum_event_age_seconds
        )

    @property
    def key(self) -> tuple[str, str, str]:
        return self.bus_rules.name, self.rule.name, self.target.id

    def wants_more(self) -> bool:
        """Whether to read more of this lane's queue: not while it holds a full load in flight
        and another waiting. The one waiting keeps the senders busy while the next read is on
        its way, instead of their running dry each time the lane is refilled."""
        return len(self.held) < 2 * self.concurrency

    def start(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]], runner: Deliverer) -> None:
        """Take queue entries (read together): each is sent when a sender is free, or all in one
        call when the target has ``send_batch``."""
        fresh = [(entry_id, fields) for entry_id, fields in entries if entry_id not in self.held]
        if not fresh:
            return
        self.held.update(entry_id for entry_id, _ in fresh)
        if self.send_batch:
            self.waiting.append(fresh)
        else:
            self.waiting.extend([entry] for entry in fresh)
        for _ in range(min(self.concurrency - self._senders, len(self.waiting))):
            self._senders += 1
            task = asyncio.create_task(self._send_waiting(runner))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send_waiting(self, runner: Deliverer) -> None:
        """One sender: deliver waiting entries until none are left."""
        try:
            while self.waiting:
                await self._send(self.waiting.popleft(), runner)
        finally:
            # Counted here, not when the task is done: a read handled before the task's done
            # callback runs must see this sender gone, or its entries could wait for none.
            self._senders -= 1

    async def _send(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], runner: Deliverer
    ) -> None:
        try:
            await runner.deliver(self, entries)
        except Exception:
            # Left unacknowledged: another claim (ours or another router's) retries them later.
            ids = ", ".join(entry_id.decode() for entry_id, _ in entries)
            log.exception("deliveries %s on %s could not be recorded", ids, self.queue)
        finally:
            self.held.difference_update(entry_id for entry_id, _ in entries)
            if self.on_free is not None:
                self.on_free(self)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the deliveries this lane holds (up to ``timeout`` seconds)."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)

    async def close(self) -> None:
        try:
            await self.instance.aclose()
        except Exception:
            log.exception("closing target %s of rule %s failed", self.target.id, self.rule.name)


class Deliverer:
    """Sends one queue entry through its lane's target and records what happened."""

    def __init__(
        self,
        redis: Redis,
        acks: AckBuffer,
        *,
        on_outcome: OutcomeHook | None = None,
        clock: Callable[[], float] = time.time,
        target_redis: Redis | None = None,
        metrics: Metrics | None = None,
        failures: FailureReporter | None = None,
    ) -> None:
        self.redis = redis
        self.failures = failures or FailureReporter()
        self.metrics = metrics or Metrics(redis)
        self.target_redis = target_redis or redis  # lent to targets (DeliveryContext.extra)
        self.acks = acks
        self.on_outcome = on_outcome
        self.clock = clock

    async def deliver(self, lane: Lane, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Send queue entries through the lane's target (one ``send``, or one ``send_batch`` for
        them all) and record each outcome."""
        records: list[tuple[bytes, QueuedDelivery]] = []
        for entry_id, fields in entries:
            try:
                records.append((entry_id, QueuedDelivery.from_entry(fields)))
            except (KeyError, ValueError, UnicodeDecodeError) as e:
                await self._malformed(lane, entry_id, fields, e)
        if not records:
            return
        started = self.clock()
        self._count_attempts(lane, [record for _, record in records], started)
        results: Sequence[Any]
        send_batch = lane.send_batch
        try:
            if send_batch is None:
                [(_, record)] = records  # Lane.start gives a target without it one at a time
                results = [await lane.instance.send(record.payload, self._context(lane, record))]
            else:
                items = [(record.payload, self._context(lane, record)) for _, record in records]
                results = await send_batch(items)
                if len(results) != len(items):
                    raise TypeError(f"send_batch answered {len(results)} of {len(items)} items")
        except Exception as e:  # a target's failure (or bug) is each delivery's, not the router's
            results = [e] * len(records)
        delivered = []
        for (entry_id, record), result in zip(records, results, strict=True):
            if isinstance(result, BaseException):
                await self._failed(lane, entry_id, record, started, result)
            else:
                self.acks.add(lane.queue, entry_id)
                delivered.append(record)
                await self._emit(lane, record, True, record.attempts + 1, result=result)
        if delivered:
            self._count_success(lane, delivered)
            self.failures.succeeded(lane)

    def _count_attempts(self, lane: Lane, records: list[QueuedDelivery], now: float) -> None:
        m, series = self.metrics, lane.series
        m.add("InvocationAttempts", series, len(records))
        retries = sum(1 for record in records if record.attempts)
        if retries:
            m.add("RetryInvocationAttempts", series, retries)
        latencies = [now * 1000 - record.since_ms for record in records if not record.attempts]
        if latencies:
            m.observe_in("IngestionToInvocationStartLatency", series, latencies)

    def _count_success(self, lane: Lane, records: list[QueuedDelivery]) -> None:
        m, series = self.metrics, lane.series
        m.add("SuccessfulInvocationAttempts", series, len(records))
        m.add("Invocations", series, len(records))
        now_ms = self.clock() * 1000
        latencies = [now_ms - record.since_ms for record in records]
        m.observe_in("IngestionToInvocationSuccessLatency", series, latencies)
        m.succeeded(series, now_ms / 1000)

    def _count_failure(self, lane: Lane) -> None:
        # EventBridge leaves what reached a DLQ out of FailedInvocations. A target with no
        # dead_letter (its own or its bus's) has no DLQ: EventBridge would drop its failures,
        # here they are kept in the bus's default stream for redrive, and count as failed.
        dlq = lane.target.dead_letter_stream is not None
        self.metrics.add("Invocations", lane.series)
        self.metrics.add("DeadLetterInvocations" if dlq else "FailedInvocations", lane.series)

    def _context(self, lane: Lane, record: QueuedDelivery) -> DeliveryContext:
        return DeliveryContext(
            delivery_id=record.delivery_id,
            event_id=record.event_id,
            bus=lane.bus_rules.name,
            rule=lane.rule.name,
            rule_arn=lane.rule.arn,
            target_id=lane.target.id,
            attempt=record.attempts + 1,
            event=orjson.loads(record.event_text),
            hops=record.hops,
            extra={"redis": self.target_redis},
        )

    async def _failed(
        self,
        lane: Lane,
        entry_id: bytes,
        record: QueuedDelivery,
        started: float,
        error: BaseException,
    ) -> None:
        # A TargetError says whether to retry; anything else is a target's bug: retried.
        retryable, code = True, "TARGET_ERROR"
        if isinstance(error, TargetError):
            retryable, code = error.retryable, error.code
        message = str(error) or type(error).__name__
        after = record.after_attempt(started)
        now = self.clock()
        decision: Any = Exhausted("")
        if retryable:
            retry_after = getattr(error, "retry_after", None)
            decision = decide_retry(
                attempts=after.attempts,
                policy=lane.limits,
                backoff=lane.backoff,
                now=now,
                since=record.since_ms / 1000,
                retry_after=retry_after,
            )
        self.failures.failed(lane, code, message)
        self.metrics.failed(lane.series, now, f"{code}: {message}")
        if not isinstance(decision, Exhausted):
            log.info(
                "delivery failed, retrying",
                extra={"fields": _where(lane, record, code=code, error=message,
                                        attempt=after.attempts, retry_in=decision.at - now)},
            )  # fmt: skip
            await retry_later(
                self.redis,
                lane.queue,
                lane.retries,
                entry_id,
                after,
                decision.at,
                bus=lane.bus_rules.name,
            )
            return
        fields = dead_letter_fields(
            after,
            bus=lane.bus_rules.name,
            rule=lane.rule.name,
            rule_arn=lane.rule.arn,
            target=lane.target.id,
            code=code,
            message=message,
            condition=decision.condition,
            attempts=after.attempts,
            first=after.first_attempt_time,
            last=iso_ms(started),
        )
        stream = _dead_letter_stream(lane)
        log.warning(
            "delivery dead-lettered",
            extra={"fields": _where(lane, record, code=code, error=message, dead_letters=stream,
                                    attempts=after.attempts, condition=decision.condition)},
        )  # fmt: skip
        await dead_letter(self.redis, stream, fields, queue=lane.queue, entry_id=entry_id)
        self._count_failure(lane)
        await self._emit(lane, record, False, after.attempts, code=code, message=message)

    async def _malformed(
        self, lane: Lane, entry_id: bytes, fields: dict[bytes, bytes], error: Exception
    ) -> None:
        """A queue entry someone else wrote wrongly: dead-lettered as it is, never retried."""
        text = orjson.dumps({k.decode(errors="replace"): v.decode(errors="replace")
                             for k, v in fields.items()}).decode()  # fmt: skip
        stamp = iso_ms(self.clock())
        record = QueuedDelivery("", "", "", text, 0, 0)
        letter = dead_letter_fields(
            record,
            bus=lane.bus_rules.name,
            rule=lane.rule.name,
            rule_arn=lane.rule.arn,
            target=lane.target.id,
            code=MALFORMED_DELIVERY,
            message=f"not a delivery queue entry: {error!r}",
            first=stamp,
            last=stamp,
        )
        log.error("malformed queue entry dead-lettered", extra={"fields": {"queue": lane.queue}})
        await dead_letter(
            self.redis, _dead_letter_stream(lane), letter, queue=lane.queue, entry_id=entry_id
        )
        self.metrics.add("DeadLetterInvocations", lane.series)

    async def _emit(
        self,
        lane: Lane,
        record: QueuedDelivery,
        succeeded: bool,
        attempts: int,
        *,
        result: dict[str, Any] | None = None,
        code: str = "",
        message: str = "",
    ) -> None:
        if self.on_outcome is None or not lane.target.spec.emit_outcome:
            return
        outcome = Outcome(lane, record, succeeded, attempts, result, code, message)
        try:
            await self.on_outcome(outcome)
        except Exception:
            log.exception("could not publish the outcome of %s", record.delivery_id)


def _dead_letter_stream(lane: Lane) -> str:
    return dead_letters_of(lane.target, lane.bus_rules)


def _target(lane: Lane) -> dict[str, Any]:
    return {"bus": lane.bus_rules.name, "rule": lane.rule.name, "target": lane.target.id}


def _where(lane: Lane, record: QueuedDelivery, **more: Any) -> dict[str, Any]:
    return {**_target(lane), "delivery_id": record.delivery_id, **more}
