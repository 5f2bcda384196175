"""Durable delivery queues in Redis: one per (bus, rule, target), with retries and dead letters.

Keys (see ``docs/redis-layout.md``), all of one target in one hash tag ``{<bus>/<rule>/<target>}``:

- ``eb:{<bus>/<rule>/<target>}:q``: a stream of deliveries waiting for the target, read by
  the consumer group ``deliverers``; an entry is acknowledged and deleted once the target took
  it, or once its retry or dead letter is recorded (in the same MULTI, so nothing falls between
  the two), so a queue holds only unfinished work;
- ``eb:{<bus>/<rule>/<target>}:retry``: a sorted set of deliveries waiting to be retried, scored
  by due time (ms since the epoch); a Lua script moves the due ones back to the queue atomically;
- dead letters: the target's ``dead_letter.stream``, else the bus default, else ``eb:{<bus>}:dlq``.

A queue entry carries everything a delivery needs, so any router can make it::

    delivery-id  <event-id>:<bus>:<rule>:<target-id>     event-id, event (the original)
    payload      the input text, absent when it is the whole event
    hops         bus-to-bus hops behind the event       since  start of the event-age budget (ms)
    attempts     attempts already made                  first-attempt-time  ISO 8601 or empty
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from eventbus import keys
from eventbus.router import Delivery, dead_letter_stream, shape_delivery
from eventbus.transform import InputContext

log = logging.getLogger("eventbus.worker")

if TYPE_CHECKING:
    from eventbus.config import BusRules, LoadedTarget, RuleSet

__all__ = [
    "DEAD_LETTER_FIELDS",
    "QueuedDelivery",
    "RedriveReport",
    "ack",
    "dead_letter",
    "dead_letter_fields",
    "dead_letter_streams",
    "dead_letters_of",
    "enqueue_deliveries",
    "ensure_group",
    "finish",
    "iso_ms",
    "iter_dead_letters",
    "move_due_retries",
    "queue_fields",
    "read_dead_letters",
    "redrive",
    "requeue",
    "retry_later",
]

# The contract's dead-letter fields, in the order they are written; `hops` follows them so a
# redrive can restore it.
DEAD_LETTER_FIELDS = (
    "event",
    "bus",
    "rule",
    "rule-arn",
    "target",
    "delivery-id",
    "error-code",
    "error-message",
    "exhausted-retry-condition",
    "attempts",
    "first-attempt-time",
    "last-attempt-time",
)
# Deliveries moved from a retry set back to its queue per call (bounds the script's time).
MOVE_BATCH = 500
# Lanes per script call: one call for many lanes, since nearly all of them have nothing due and a
# call each would cost the router thousands of commands a second; bounded, so one call stays short.
MOVE_LANES = 100

# KEYS: pairs of (retry zset, queue stream); ARGV[1] now (ms), ARGV[2] limit per pair. A member
# is the flat JSON array [field, value, ...] of the queue entry, so XADD gets it back in order.
_MOVE_DUE = """
local moved = 0
for i = 1, #KEYS, 2 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
  for _, member in ipairs(due) do
    redis.call('XADD', KEYS[i + 1], '*', unpack(cjson.decode(member)))
    redis.call('ZREM', KEYS[i], member)
  end
  moved = moved + #due
end
return moved
"""


def iso_ms(seconds: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-01-02T03:04:05.678Z``."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(slots=True)  # not frozen, as Delivery: one per delivery, built fast; never mutated
class QueuedDelivery:
    """A delivery as it sits in a target's queue (or retry set)."""

    delivery_id: str
    event_id: str
    payload: str
    event_text: str
    hops: int
    since_ms: int
    attempts: int = 0
    first_attempt_time: str = ""

    @classmethod
    def from_entry(cls, fields: dict[bytes, bytes]) -> QueuedDelivery:
        """Decode a queue entry; ``KeyError`` / ``ValueError`` when it is not one."""
        return cls(
            delivery_id=fields[b"delivery-id"].decode(),
            event_id=fields[b"event-id"].decode(),
            payload=fields[b"payload" if b"payload" in fields else b"event"].decode(),
            event_text=fields[b"event"].decode(),
            hops=int(fields[b"hops"]),
            since_ms=int(fields[b"since"]),
            attempts=int(fields.get(b"attempts", b"0")),
            first_attempt_time=fields.get(b"first-attempt-time", b"").decode(),
        )

    @classmethod
    def from_delivery(cls, d: Delivery) -> QueuedDelivery:
        assert d.payload is not None, "a delivery with an error goes to the dead letters"
        return cls(d.delivery_id, d.event_id, d.payload, d.event_text, d.hops, d.since_ms)

    def fields(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {
            "delivery-id": self.delivery_id,
            "event-id": self.event_id,
            "event": self.event_text,
            "hops": self.hops,
            "since": self.since_ms,
            "attempts": self.attempts,
            "first-attempt-time": self.first_attempt_time,
        }
        if self.payload is not self.event_text and self.payload != self.event_text:
            out["payload"] = self.payload  # stored once when the target takes the whole event
        return out

    def after_attempt(self, started: float) -> QueuedDelivery:
        """This delivery once one more attempt, started at ``started`` (epoch s), failed."""
        first = self.first_attempt_time or iso_ms(started)
        return replace(self, attempts=self.attempts + 1, first_attempt_time=first)


def queue_fields(d: Delivery) -> dict[str, str | int]:
    """The queue entry of a routed delivery."""
    return QueuedDelivery.from_delivery(d).fields()


def dead_letter_fields(
    d: QueuedDelivery | Delivery,
    *,
    bus: str,
    rule: str,
    rule_arn: str,
    target: str,
    code: str,
    message: str,
    condition: str = "",
    attempts: int = 0,
    first: str = "",
    last: str = "",
) -> dict[str, str | int]:
    """A dead-letter entry (the contract's fields) for a delivery that will not be made."""
    return {
        "event": d.event_text,
        "bus": bus,
        "rule": rule,
        "rule-arn": rule_arn,
        "target": target,
        "delivery-id": d.delivery_id,
        "error-code": code,
        "error-message": message,
        "exhausted-retry-condition": condition,
        "attempts": attempts,
        "first-attempt-time": first,
        "last-attempt-time": last,
        "hops": d.hops,
    }


def _routing_dead_letter(d: Delivery, now: float) -> dict[str, str | int]:
    """A delivery the router could not make (loop, invalid input): no attempt was made."""
    stamp = iso_ms(now)
    return dead_letter_fields(
        d,
        bus=d.bus,
        rule=d.rule,
        rule_arn=d.rule_arn,
        target=d.target_id,
        code=d.error_code,
        message=d.error_message,
        first=stamp,
        last=stamp,
    )


async def ensure_group(redis: Redis, stream: str, group: str = keys.DELIVERY_GROUP) -> None:
    """Create ``group`` on ``stream`` from its first entry (the stream too); tolerate BUSYGROUP.

    From ``0``, not ``$``: deliveries enqueued before any router saw the queue are not skipped.
    """
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


async def enqueue_deliveries(
    redis: Redis,
    deliveries: Sequence[Delivery],
    *,
    ack: Sequence[tuple[str, str, Sequence[bytes | str]]] = (),
    inline: Callable[[Delivery], Sequence[str | bytes | int] | None] | None = None,
) -> list[Delivery]:
    """Record each delivery in its target's queue (or its dead letters), durably and at once.

    ``ack`` lists (stream, group, ids) to acknowledge in the same atomic step: the bus entries
    these deliveries came from are acknowledged exactly when their deliveries are recorded. (A
    batch past ``ENQUEUE_CALL_BYTES`` takes several steps, the acknowledgements in the last.)

    ``inline`` gives, for a delivery, the one Redis command that makes it on this Redis (a
    ``redis_stream`` target's XADD, see ``RedisStreamTarget.inline_command``), or ``None``. Such
    a delivery is made right there instead of queued. If Redis refuses the command, nothing is
    acknowledged in that step: a second one queues the refused deliveries as usual (their lanes
    retry them and in the end dead-letter them with the target's own error) and acknowledges.
    Returns the deliveries made inline.
    """
    now = time.time()
    calls = _EnqueueCalls()
    for d in deliveries:
        if d.error_code:
            stream = d.dead_letter or keys.bus_dead_letters(d.bus)
            calls.current().xadd(stream, _routing_dead_letter(d, now))
            continue
        command = inline(d) if inline is not None else None
        if command is not None:
            calls.current().inline(d, command)
        else:
            queue = keys.delivery_queue(d.bus, d.rule, d.target_id)
            calls.current().xadd(queue, queue_fields(d))
    refused = await calls.run(redis, ack)
    if not refused:
        return [d for call in calls.scripts for d in call.inlined]
    fallback = _EnqueueCalls()
    for d, error in refused:
        where = {"delivery_id": d.delivery_id, "error": error}
        log.warning("inline delivery refused, queued instead", extra={"fields": where})
        queue = keys.delivery_queue(d.bus, d.rule, d.target_id)
        fallback.current().xadd(queue, queue_fields(d))
    await fallback.run(redis, ack)
    gone = {id(d) for d, _ in refused}
    return [d for call in calls.scripts for d in call.inlined if id(d) not in gone]


# One atomic step for a whole routed batch: queue entries, dead letters, inline deliveries and
# the acknowledgements, as a flat list of records in ARGV (one reply to parse, not one per
# command). Records: `x` XADD KEYS[k] (n field/value args); `i` an inline command (n args) run
# with pcall; `a` XACK KEYS[k] (n args: group and ids), skipped once an inline command was
# refused. Replies [inline ordinal, error, ...] for the refused inline commands.
_ENQUEUE = """
local i, inlined, refused = 1, 0, {}
while i <= #ARGV do
  local op, k, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local first, last = i + 3, i + 2 + n
  if op == 'x' then
    redis.call('XADD', KEYS[k], '*', unpack(ARGV, first, last))
  elseif op == 'i' then
    inlined = inlined + 1
    local r = redis.pcall(unpack(ARGV, first, last))
    if type(r) == 'table' and r.err then
      refused[#refused + 1] = inlined
      refused[#refused + 1] = r.err
    end
  elseif #refused == 0 then
    redis.call('XACK', KEYS[k], unpack(ARGV, first, last))
  end
  i = last + 1
end
return refused
"""
# Ids per XACK record: Lua's unpack refuses much longer argument lists.
_ACK_CHUNK = 1000
# Bytes of arguments per script call, about: far under Redis's 1 GB query buffer limit, which a
# batch of large events for several targets could pass in one call.
ENQUEUE_CALL_BYTES = 32 * 1024 * 1024


class _EnqueueCalls:
    """The script calls of one enqueue: one, unless the batch is too large for one call; the
    acknowledgements ride in the last, so a crash in between means duplicates, never a loss."""

    def __init__(self) -> None:
        self.scripts = [_EnqueueScript()]

    def current(self) -> _EnqueueScript:
        if self.scripts[-1].size >= ENQUEUE_CALL_BYTES:
            self.scripts.append(_EnqueueScript())
        return self.scripts[-1]

    async def run(
        self, redis: Redis, ack: Sequence[tuple[str, str, Sequence[bytes | str]]]
    ) -> list[tuple[Delivery, str]]:
        """Run the calls; the inline deliveries Redis refused, with its error. Nothing is
        acknowledged when there are any."""
        enqueue = redis.register_script(_ENQUEUE)
        refused: list[tuple[Delivery, str]] = []
        for n, script in enumerate(self.scripts, 1):
            if n == len(self.scripts) and not refused:
                script.xack(ack)
            if not script.args:
                continue
            reply = await enqueue(keys=script.keys, args=script.args)
            refused += [(script.inlined[int(reply[i]) - 1], _text(reply[i + 1]))
                        for i in range(0, len(reply), 2)]  # fmt: skip
        return refused



class _EnqueueScript:
    """The KEYS and ARGV of one ``_ENQUEUE`` call, and the deliveries it makes inline."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.args: list[str | bytes | int] = []
        self.inlined: list[Delivery] = []
        self.size = 0  # bytes of text in args, about
        self._index: dict[str, int] = {}

    def _key(self, key: str) -> int:
        index = self._index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._index[key] = len(self.keys)
        return index

    def xadd(self, stream: str, fields: dict[str, str | int]) -> None:
        self.args += ("x", self._key(stream), 2 * len(fields))
        for name, value in fields.items():
            self.args += (name, value)
            if isinstance(value, str):
                self.size += len(value)

    def inline(self, delivery: Delivery, command: Sequence[str | bytes | int]) -> None:
        # The command names its own key; it is declared in KEYS too, as scripts should.
        self.inlined.append(delivery)
        self.args += ("i", self._key(str(command[1])), len(command), *command)
        self.size += sum(len(arg) for arg in command if not isinstance(arg, int))

    def xack(self, acks: Sequence[tuple[str, str, Sequence[bytes | str]]]) -> None:
        for stream, group, ids in acks:
            k = self._key(stream)
            for start in range(0, len(ids), _ACK_CHUNK):
                chunk = ids[start : start + _ACK_CHUNK]
                self.args += ("a", k, len(chunk) + 1, group, *chunk)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


async def ack(redis: Redis, acks: dict[str, list[bytes]]) -> None:
    """Acknowledge delivered queue entries: {queue: [entry ids]} in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for queue, ids in acks.items():
            finish(pipe, queue, ids)
        await pipe.execute()


def finish(pipe: Any, queue: str, ids: Sequence[bytes]) -> None:
    """Queue the commands that end queue entries: acknowledged, then deleted (a queue keeps
    only unfinished work; acknowledging first means a deleted entry is never pending)."""
    pipe.xack(queue, keys.DELIVERY_GROUP, *ids)
    pipe.xdel(queue, *ids)


async def retry_later(
    redis: Redis, queue: str, retries: str, entry_id: bytes, record: QueuedDelivery, at: float
) -> None:
    """Park ``record`` in the retry set until ``at`` (epoch s) and acknowledge its queue entry."""
    member = orjson.dumps([str(x) for kv in record.fields().items() for x in kv])
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(retries, {member: int(at * 1000)})
        finish(pipe, queue, [entry_id])
        await pipe.execute()


async def dead_letter(
    redis: Redis, stream: str, fields: dict[str, str | int], *, queue: str, entry_id: bytes
) -> None:
    """Write a dead letter and acknowledge the queue entry it replaces."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(stream, fields)  # type: ignore[arg-type]
        finish(pipe, queue, [entry_id])
        await pipe.execute()


async def move_due_retries(
    redis: Redis, lanes: Iterable[tuple[str, str]], now_ms: int, limit: int = MOVE_BATCH
) -> int:
    """Move due retries back to their queues, for every (retry set, queue); how many moved."""
    flat = [key for pair in lanes for key in pair]
    if not flat:
        return 0
    script = redis.register_script(_MOVE_DUE)
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(flat), 2 * MOVE_LANES):
            chunk = flat[start : start + 2 * MOVE_LANES]
            await script(keys=chunk, args=[now_ms, limit], client=pipe)
        moved = await pipe.execute()
    return sum(int(n) for n in moved)


async def read_dead_letters(
    redis: Redis, stream: str, *, page: int = 500
) -> AsyncIterator[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of a dead-letter stream, oldest first, read page by page."""
    start = "-"
    while True:
        entries: Any = await redis.xrange(stream, min=start, count=page)
        for entry_id, fields in entries:
            yield entry_id, fields
        if len(entries) < page:
            return
        start = "(" + entries[-1][0].decode()


async def requeue(
    redis: Redis, queue: str, record: QueuedDelivery, *, dead_letters: str, entry_id: bytes
) -> None:
    """Put a dead letter back in its target's queue and delete it, in one MULTI."""
    await ensure_group(redis, queue)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(queue, record.fields())  # type: ignore[arg-type]
        pipe.xdel(dead_letters, entry_id)
        await pipe.execute()


# --- dead letters: listing and redrive --------------------------------------------------------


def dead_letters_of(target: LoadedTarget, bus_rules: BusRules) -> str:
    """Where a target's dead letters go: its own stream, else its bus's default, else the
    bus-level ``eb:{<bus>}:dlq``."""
    return dead_letter_stream(target, bus_rules) or keys.bus_dead_letters(bus_rules.name)


async def dead_letter_streams(redis: Redis, ruleset: RuleSet) -> list[str]:
    """Every stream that may hold dead letters: those the rules name, each bus's default, and
    any bus-level ``eb:{<bus>}:dlq`` found in Redis (buses the rules no longer name)."""
    streams = {keys.bus_dead_letters(name) for name in ruleset.buses}
    for bus_name, _rule, target in ruleset.deliveries():
        streams.add(dead_letters_of(target, ruleset.buses[bus_name]))
    async for key in redis.scan_iter(match="eb:{*}:dlq", count=1000, _type="stream"):
        streams.add(key.decode() if isinstance(key, bytes) else key)
    return sorted(streams)


def _text_fields(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in fields.items()}


def _selected(letter: dict[str, str], filters: dict[str, str | None]) -> bool:
    return all(want is None or letter.get(name) == want for name, want in filters.items())


async def iter_dead_letters(
    redis: Redis, streams: Iterable[str], **filters: str | None
) -> AsyncIterator[tuple[str, bytes, dict[str, str]]]:
    """(stream, entry id, fields) of each dead letter matching ``bus`` / ``rule`` / ``target``."""
    for stream in streams:
        async for entry_id, fields in read_dead_letters(redis, stream):
            letter = _text_fields(fields)
            if _selected(letter, filters):
                yield stream, entry_id, letter


@dataclass(slots=True)
class RedriveReport:
    requeued: int = 0
    kept: list[dict[str, str]] = field(default_factory=list)  # {"stream", "id", "reason", ...}


async def redrive(
    redis: Redis, ruleset: RuleSet, streams: Iterable[str], **filters: str | None
) -> RedriveReport:
    """Re-queue each selected dead letter to its own rule and target (never to the others),
    with the same delivery id and a fresh retry budget, and delete it; a letter whose rule or
    target is gone, or whose input cannot be shaped, is kept and reported."""
    report = RedriveReport()
    async for stream, entry_id, letter in iter_dead_letters(redis, streams, **filters):
        record, reason = _redrive_record(ruleset, letter)
        if record is None:
            report.kept.append({"stream": stream, "id": entry_id.decode(), "reason": reason,
                                "delivery-id": letter.get("delivery-id", "")})  # fmt: skip
            continue
        queue = keys.delivery_queue(letter["bus"], letter["rule"], letter["target"])
        await requeue(redis, queue, record, dead_letters=stream, entry_id=entry_id)
        report.requeued += 1
    return report


def _redrive_record(
    ruleset: RuleSet, letter: dict[str, str]
) -> tuple[QueuedDelivery | None, str]:
    bus_name, rule_name, target_id = (letter.get(k, "") for k in ("bus", "rule", "target"))
    try:
        rule = ruleset.rule(bus_name, rule_name)
        target = next(t for t in rule.targets if t.id == target_id)
    except (KeyError, StopIteration):
        return None, f"rule {rule_name!r} or its target {target_id!r} no longer exists"
    try:
        event = orjson.loads(letter["event"])
        hops = int(letter.get("hops") or 0)
    except (KeyError, ValueError) as e:
        return None, f"the dead letter's event cannot be read: {e}"
    ctx = InputContext(rule_name=rule.name, rule_arn=rule.arn)
    now_ms = int(time.time() * 1000)
    d = shape_delivery(event, letter["event"], rule, target, ruleset.buses[bus_name], ctx,
                       hops=hops, since_ms=now_ms)  # fmt: skip
    if d.error_code:
        return None, f"{d.error_code}: {d.error_message}"
    return replace(QueuedDelivery.from_delivery(d), delivery_id=letter["delivery-id"]), ""
