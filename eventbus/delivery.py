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

# An event an archive keeps: (bus stream, entry id, archive stream, XADD fields).
ArchiveCapture = tuple[str, bytes, str, dict[str, str | int]]

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
# Lanes a retry mover takes from a bus's due index per round (bounds one round's time).
CLAIM_BATCH = 1000
# How long a mover's claim on a lane of the due index lasts: a mover that dies between claiming
# and settling delays that lane's retries by this much, no more.
CLAIM_LEASE_MS = 10_000
# Entries a queue wake-up stream keeps (about): routers read it as it grows, so this is history
# for a router that stalled; past it, its periodic full read finds what it missed.
WAKE_MAXLEN = 10_000
# Queue names per wake-up XADD: Lua's unpack refuses much longer argument lists.
_WAKE_CHUNK = 1000
# Every lane's retry set, as a SCAN pattern, and the keys a SCAN call looks at: the full check
# finds the (few) retry sets holding retries among all keys in a handful of calls.
RETRY_SETS = keys.delivery_retries("*", "*", "*")
SCAN_COUNT = 2000

# The due index (``keys.retry_due``, one per bus) says which lanes' retry sets have something due
# and when, so a mover asks only those. Scores are due times in whole ms; a mover claiming a lane
# sets its score to a lease ending in .5, so a retry noted meanwhile is seen as a change.

# KEYS[1] the due index; ARGV[1] now (ms), ARGV[2] the lease score, ARGV[3] the most lanes.
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""
# KEYS[1] a retry set, KEYS[2] its queue; ARGV[1] now (ms), ARGV[2] limit. A member is the flat
# JSON array [field, value, ...] of the queue entry, so XADD gets it back in order. Replies
# {moved, the earliest due time left or false}.
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', unpack(cjson.decode(member)))
  redis.call('ZREM', KEYS[1], member)
end
local left = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, left[2] or false}
"""
# KEYS[1] the due index, KEYS[2] the bus's wake-up stream; ARGV[1] the lease score, ARGV[2] the
# wake-up stream's length, then (queue, next due or '', moved) per lane. A lane whose score is
# still this mover's lease gets its next due time (or leaves the index); one noted meanwhile
# keeps the earlier of the two. The queues that got retries back are woken.
_SETTLE = """
local woken = {}
for i = 3, #ARGV, 3 do
  local member, nxt = ARGV[i], ARGV[i + 1]
  local score = redis.call('ZSCORE', KEYS[1], member)
  local mine = score and tonumber(score) == tonumber(ARGV[1])
  if nxt ~= '' then
    if mine then redis.call('ZADD', KEYS[1], nxt, member)
    else redis.call('ZADD', KEYS[1], 'LT', nxt, member) end
  elseif mine then
    redis.call('ZREM', KEYS[1], member)
  end
  if tonumber(ARGV[i + 2]) > 0 then
    woken[#woken + 1] = member
    woken[#woken + 1] = ''
  end
end
if #woken > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(woken))
end
"""
# KEYS[1] the due index; ARGV[1] a retry's due time (ms), ARGV[2] its queue. A lane a mover
# has claimed gets a whole-ms score (no longer its lease), so the mover keeps it indexed.
_NOTE_RETRY = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if score and tonumber(score) % 1 ~= 0 then
  redis.call('ZADD', KEYS[1], math.min(tonumber(ARGV[1]), math.floor(tonumber(score))), ARGV[2])
else
  redis.call('ZADD', KEYS[1], 'LT', ARGV[1], ARGV[2])
end
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
    captures: Sequence[ArchiveCapture] = (),
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

    ``captures`` are archive appends (bus stream, entry id, archive stream, fields): made by the
    step that acknowledges their entry, so an entry is archived exactly once.
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
            calls.current().queue(d, queue_fields(d))
    refused = await calls.run(redis, ack, captures)
    if not refused:
        return [d for call in calls.scripts for d in call.inlined]
    fallback = _EnqueueCalls()
    for d, error in refused:
        where = {"delivery_id": d.delivery_id, "error": error}
        log.warning("inline delivery refused, queued instead", extra={"fields": where})
        fallback.current().queue(d, queue_fields(d))
    await fallback.run(redis, ack, captures)
    gone = {id(d) for d, _ in refused}
    return [d for call in calls.scripts for d in call.inlined if id(d) not in gone]


# One atomic step for a whole routed batch: queue entries, dead letters, inline deliveries and
# the acknowledgements, as a flat list of records in ARGV (one reply to parse, not one per
# command). Records: `x` XADD KEYS[k] (n field/value args); `w` XADD KEYS[k] to a wake-up
# stream, capped (n args: the queues written, each with ''); `i` an inline command (n args) run
# with pcall; `c` XADD KEYS[k] (an archive capture; n args: the bus stream's KEYS index, group,
# entry id, then fields) made only if its XACK of the entry acknowledges it, and `a` XACK KEYS[k]
# (n args: group and ids), both skipped once an inline command was refused.
# Replies [inline ordinal, error, ...] for the refused inline commands.
_ENQUEUE = """
local i, inlined, refused, acked = 1, 0, {}, {}
while i <= #ARGV do
  local op, k, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local first, last = i + 3, i + 2 + n
  if op == 'x' then
    redis.call('XADD', KEYS[k], '*', unpack(ARGV, first, last))
  elseif op == 'w' then
    redis.call('XADD', KEYS[k], 'MAXLEN', '~', WAKE_MAXLEN, '*', unpack(ARGV, first, last))
  elseif op == 'i' then
    inlined = inlined + 1
    local r = redis.pcall(unpack(ARGV, first, last))
    if type(r) == 'table' and r.err then
      refused[#refused + 1] = inlined
      refused[#refused + 1] = r.err
    end
  elseif #refused > 0 then
    -- neither acknowledged nor archived: the step that queues the refused ones does both
  elseif op == 'c' then
    -- captured only by the step whose XACK acknowledges the entry: a batch routed twice (read
    -- again after a failure while also claimed) is archived once
    local entry = ARGV[first] .. ARGV[first + 2]
    local ok = acked[entry]
    if ok == nil then
      ok = redis.call('XACK', KEYS[tonumber(ARGV[first])], ARGV[first + 1], ARGV[first + 2]) == 1
      acked[entry] = ok
    end
    if ok then redis.call('XADD', KEYS[k], '*', unpack(ARGV, first + 3, last)) end
  else
    redis.call('XACK', KEYS[k], unpack(ARGV, first, last))
  end
  i = last + 1
end
return refused
""".replace("WAKE_MAXLEN", str(WAKE_MAXLEN))
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
        self,
        redis: Redis,
        ack: Sequence[tuple[str, str, Sequence[bytes | str]]],
        captures: Sequence[ArchiveCapture] = (),
    ) -> list[tuple[Delivery, str]]:
        """Run the calls; the inline deliveries Redis refused, with its error. Nothing is
        acknowledged when there are any."""
        enqueue = redis.register_script(_ENQUEUE)
        refused: list[tuple[Delivery, str]] = []
        for n, script in enumerate(self.scripts, 1):
            script.wake()
            if n == len(self.scripts) and not refused:
                for capture in captures:
                    script.capture(capture)
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
        self._woken: dict[str, dict[str, None]] = {}  # wake-up stream: queues written, in order

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

    def queue(self, d: Delivery, fields: dict[str, str | int]) -> None:
        """Queue a delivery in its target's queue, and wake the routers for that queue."""
        queue = keys.delivery_queue(d.bus, d.rule, d.target_id)
        self.xadd(queue, fields)
        self._woken.setdefault(keys.queue_wakes(d.bus), {})[queue] = None

    def wake(self) -> None:
        """Add the wake-up records of the queues written (in the same call: same atomic step)."""
        for stream, queues in self._woken.items():
            k, names = self._key(stream), list(queues)
            for start in range(0, len(names), _WAKE_CHUNK):
                chunk = names[start : start + _WAKE_CHUNK]
                self.args += ("w", k, 2 * len(chunk))
                for name in chunk:
                    self.args += (name, "")
        self._woken = {}

    def inline(self, delivery: Delivery, command: Sequence[str | bytes | int]) -> None:
        # The command names its own key; it is declared in KEYS too, as scripts should.
        self.inlined.append(delivery)
        self.args += ("i", self._key(str(command[1])), len(command), *command)
        # (A list, not a generator: this runs once per delivery made inline.)
        self.size += sum([len(arg) for arg in command if not isinstance(arg, int)])

    def capture(self, capture: ArchiveCapture) -> None:
        bus_stream, entry_id, stream, fields = capture
        self.args += ("c", self._key(stream), 3 + 2 * len(fields), self._key(bus_stream),
                      keys.ROUTER_GROUP, entry_id)  # fmt: skip
        for name, value in fields.items():
            self.args += (name, value)

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
    redis: Redis,
    queue: str,
    retries: str,
    entry_id: bytes,
    record: QueuedDelivery,
    at: float,
    *,
    bus: str,
) -> None:
    """Park ``record`` in the retry set until ``at`` (epoch s) and acknowledge its queue entry,
    then note the due time in the bus's due index. In that order: a retry is never missing from
    its set, and a crash between the two leaves it to the movers' periodic full check."""
    member = orjson.dumps([str(x) for kv in record.fields().items() for x in kv])
    due_ms = int(at * 1000)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(retries, {member: due_ms})
        finish(pipe, queue, [entry_id])
        await pipe.execute()
    note = redis.register_script(_NOTE_RETRY)
    await note(keys=[keys.retry_due(bus)], args=[due_ms, queue])


async def dead_letter(
    redis: Redis, stream: str, fields: dict[str, str | int], *, queue: str, entry_id: bytes
) -> None:
    """Write a dead letter and acknowledge the queue entry it replaces."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(stream, fields)  # type: ignore[arg-type]
        finish(pipe, queue, [entry_id])
        await pipe.execute()


async def claim_due_lanes(
    redis: Redis, buses: Sequence[str], now_ms: int, *, lease_ms: int = CLAIM_LEASE_MS,
    limit: int = CLAIM_BATCH,
) -> tuple[str, dict[str, list[str]]]:
    """Claim the lanes of ``buses`` whose retries are due by ``now_ms``, one script call per bus
    (one slot each) in one round trip: the lease score and {bus: [queue names]}."""
    lease = f"{now_ms + lease_ms}.5"
    if not buses:
        return lease, {}
    script = redis.register_script(_CLAIM_DUE)
    async with redis.pipeline(transaction=False) as pipe:
        for bus in buses:
            await script(keys=[keys.retry_due(bus)], args=[now_ms, lease, limit], client=pipe)
        replies = await pipe.execute()
    due = {bus: [_text(m) for m in members] for bus, members in zip(buses, replies, strict=True)}
    return lease, {bus: members for bus, members in due.items() if members}


async def move_due_retries(
    redis: Redis, lanes: Sequence[tuple[str, str]], now_ms: int, limit: int = MOVE_BATCH
) -> list[tuple[int, str] | Exception]:
    """Move due retries back to their queues, for every (retry set, queue), one script call each
    (one slot each) in one round trip: per lane, how many moved and the earliest due time left
    ('' if none), or the error that lane's call met."""
    if not lanes:
        return []
    script = redis.register_script(_MOVE_DUE)
    async with redis.pipeline(transaction=False) as pipe:
        for retries, queue in lanes:
            await script(keys=[retries, queue], args=[now_ms, limit], client=pipe)
        replies = await pipe.execute(raise_on_error=False)
    return [r if isinstance(r, Exception) else (int(r[0]), "" if r[1] is None else _text(r[1]))
            for r in replies]  # fmt: skip


async def settle_due_lanes(
    redis: Redis, bus: str, lease: str, moved: Sequence[tuple[str, str, int]]
) -> None:
    """After a move: give each claimed lane (queue, next due time or '', entries moved) its next
    due time in the index, and wake the queues that got entries, in one script on the bus's slot."""
    if not moved:
        return
    script = redis.register_script(_SETTLE)
    args: list[str | int] = [lease, WAKE_MAXLEN]
    for queue, next_due, count in moved:
        args += (queue, next_due, count)
    await script(keys=[keys.retry_due(bus), keys.queue_wakes(bus)], args=args)


async def index_retries(redis: Redis, lanes: Sequence[tuple[str, str, str]]) -> int:
    """The movers' full check, for (bus, retry set, queue) each: put every lane holding retries
    in its bus's due index (ZADD LT: never later than it is), so a due time whose note was lost
    is found. Redis keeps no empty sorted set, so the retry sets holding retries are found by a
    SCAN of the key space (a few calls) rather than a call per lane: the check costs the
    router what the retries cost, not what the rules do. Lanes whose keys fail are skipped;
    how many lanes hold retries."""
    by_set = {retries: (bus, queue) for bus, retries, queue in lanes}
    found = {_text(key) async for key in redis.scan_iter(match=RETRY_SETS, count=SCAN_COUNT,
                                                             _type="zset")}  # fmt: skip
    holding = [(retries, *by_set[retries]) for retries in sorted(found) if retries in by_set]
    if not holding:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for retries, _bus, _queue in holding:
            pipe.zrange(retries, 0, 0, withscores=True)
        firsts = await pipe.execute(raise_on_error=False)
    held = [(bus, queue, first[0][1])
            for (_retries, bus, queue), first in zip(holding, firsts, strict=True)
            if isinstance(first, list) and first]  # fmt: skip
    if held:
        async with redis.pipeline(transaction=False) as pipe:
            for bus, queue, score in held:
                pipe.zadd(keys.retry_due(bus), {queue: int(score)}, lt=True)
            await pipe.execute()
    return len(held)


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
    redis: Redis,
    bus: str,
    queue: str,
    record: QueuedDelivery,
    *,
    dead_letters: str,
    entry_id: bytes,
) -> None:
    """Put a dead letter back in its target's queue and delete it, in one MULTI."""
    await ensure_group(redis, queue)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(queue, record.fields())  # type: ignore[arg-type]
        pipe.xdel(dead_letters, entry_id)
        await pipe.execute()
    await wake(redis, bus, [queue])


async def wake(redis: Redis, bus: str, queues: Sequence[str]) -> None:
    """Tell the routers that ``queues`` (of ``bus``) were written, after the write: a router
    reads a queue when woken, so a write it is not told of waits for its periodic full read."""
    for start in range(0, len(queues), _WAKE_CHUNK):
        fields = dict.fromkeys(queues[start : start + _WAKE_CHUNK], "")
        await redis.xadd(keys.queue_wakes(bus), fields, maxlen=WAKE_MAXLEN, approximate=True)  # type: ignore[arg-type]


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
        await requeue(redis, letter["bus"], queue, record, dead_letters=stream,
                      entry_id=entry_id)  # fmt: skip
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
