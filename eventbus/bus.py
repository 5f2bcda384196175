"""The bus on Redis Streams: publishing, the bus registry and config, consumer groups, retention.

Every operation here is written once, without I/O, as *steps*: a generator that yields a batch
of Redis commands, receives their replies (an exception object in place of a failed command's
reply), and finally returns its result. :func:`run` executes the steps on a redis-py client and
:func:`run_async` on an asyncio one, each batch as one pipelined round trip, so the sync and the
asyncio clients share every line of logic::

    result = run(redis, publish(entries, partitions))
    result = await run_async(aredis, publish(entries, partitions))

Redis errors leave this module as :class:`~eventbus.errors.BusError` (see :func:`map_redis_errors`).
Key names come from :mod:`eventbus.keys`; ``docs/redis-layout.md`` describes each.
"""

from __future__ import annotations

import itertools
import logging
import time
import zlib
from collections.abc import Collection, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import redis
import redis.asyncio

from eventbus import keys
from eventbus.autopipe import AutoPipelineRedis
from eventbus.errors import BusError, InvalidEventError
from eventbus.events import ValidEntry, make_events, validate_entry
from eventbus.settings import Settings

__all__ = [
    "CONFIG_CACHE_SECONDS",
    "IDEMPOTENCY_WINDOW_SECONDS",
    "Command",
    "Envelope",
    "PartitionMap",
    "Steps",
    "TrimReport",
    "ensure_groups",
    "list_buses",
    "map_redis_errors",
    "publish",
    "read_bus_config",
    "register_bus",
    "run",
    "run_async",
    "trim",
]

log = logging.getLogger("eventbus.bus")

T = TypeVar("T")
Command = tuple[Any, ...]
Steps = Generator[list[Command], list[Any], T]

# An IdempotencyKey seen on a bus within this window is not published again.
IDEMPOTENCY_WINDOW_SECONDS = 300
# How long a publisher trusts a bus's partition count before reading it again from Redis.
CONFIG_CACHE_SECONDS = 10.0
# Retention reads at most this many entries per partition per trim to find a max_len cut-off;
# a larger excess is trimmed over successive calls.
TRIM_SCAN_LIMIT = 10_000
DEFAULT_PARTITIONS = 1

# The idempotent publish, atomic because the record and the partition stream share a slot:
# KEYS = idempotency record, partition stream; ARGV = event id, event, hops, ingested, window ms.
# XADD comes first so that a failed XADD leaves no record behind.
_PUBLISH_ONCE = """
local first = redis.call('GET', KEYS[1])
if first then return first end
redis.call('XADD', KEYS[2], '*', 'event', ARGV[2], 'hops', ARGV[3], 'ingested', ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
return ARGV[1]
"""
_INTERNAL_FAILURE = {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Service Failure"}


@contextmanager
def map_redis_errors() -> Iterator[None]:
    """Turn any redis-py error into ``BusError`` (raised from it), so none leaks to callers."""
    try:
        yield
    except redis.RedisError as e:
        raise BusError(f"Redis: {e}") from e


def run(client: redis.Redis, steps: Steps[T]) -> T:
    """Execute ``steps`` on a redis-py client, each batch as one pipeline."""
    replies: list[Any] | None = None
    with map_redis_errors():
        while True:
            try:
                batch = steps.send(replies)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            with client.pipeline(transaction=False) as pipe:
                for command in batch:
                    pipe.execute_command(*command)  # type: ignore[no-untyped-call]
                replies = pipe.execute(raise_on_error=False)


async def run_async(client: redis.asyncio.Redis, steps: Steps[T]) -> T:
    """Execute ``steps`` on an asyncio redis-py client, each batch as one pipeline; on an
    :class:`~eventbus.autopipe.AutoPipelineRedis`, in the round trip it shares with concurrent
    callers."""
    replies: list[Any] | None = None
    with map_redis_errors():
        while True:
            try:
                batch = steps.send(replies)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            replies = await _round_trip_async(client, batch)


async def _round_trip_async(client: redis.asyncio.Redis, batch: list[Command]) -> list[Any]:
    if isinstance(client, AutoPipelineRedis):
        return await client.execute_many(batch)
    async with client.pipeline(transaction=False) as pipe:
        for command in batch:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)


def _ok(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- publishing ---------------------------------------------------------------------------------


class PartitionMap:
    """A publisher's view of how many partitions each bus has, and which one an entry goes to.

    Entries with an ``IdempotencyKey`` go to the partition the key hashes to (their idempotency
    record must share its slot); the others are spread round-robin.
    """

    def __init__(self, cache_seconds: float = CONFIG_CACHE_SECONDS) -> None:
        self._cache_seconds = cache_seconds
        self._known: dict[str, tuple[int, float]] = {}
        self._spread = itertools.count()

    def unknown(self, buses: Collection[str]) -> list[str]:
        """The buses whose partition count is not known or is too old to trust."""
        now = time.monotonic()
        return [b for b in buses if self._known.get(b, (0, 0.0))[1] <= now]

    def learn(self, bus: str, partitions: Any) -> None:
        count = int(_text(partitions)) if partitions is not None else DEFAULT_PARTITIONS
        self._known[bus] = (max(count, 1), time.monotonic() + self._cache_seconds)

    def choose(self, bus: str, idempotency_key: str | None) -> int:
        count = self._known[bus][0]
        if count == 1:
            return 0
        if idempotency_key is not None:
            return zlib.crc32(idempotency_key.encode()) % count
        return next(self._spread) % count


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a publisher chooses of one entry's envelope: its ``id`` (a new UUID when None) and
    ``extra`` top-level fields after EventBridge's own, which they may not replace."""

    event_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def publish(
    entries: Sequence[Mapping[str, Any]],
    partitions: PartitionMap,
    *,
    hops: int = 0,
    settings: Settings | None = None,
    envelopes: Sequence[Envelope] | None = None,
    service: bool = False,
) -> Steps[dict[str, Any]]:
    """PutEvents: validate each entry, write the valid ones in one round trip, and answer
    ``{"FailedEntryCount": n, "Entries": [{"EventId"} | {"ErrorCode", "ErrorMessage"}]}``
    in request order. A bus's partition count is read first when not known yet.
    ``envelopes``, one per entry when given, shape each published envelope; ``service``:
    published by the runtime on a service's behalf (``aws.`` sources allowed)."""
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
        raise ValueError(f"hops must be a non-negative integer, not {hops!r}")
    if envelopes is not None and len(envelopes) != len(entries):
        raise ValueError(f"{len(envelopes)} envelopes for {len(entries)} entries")
    results: list[dict[str, str]] = [{} for _ in entries]
    valid = _validate(entries, results, settings, service)
    unknown = partitions.unknown({entry.bus for _, entry in valid})
    if unknown:
        replies = yield [("HGET", keys.bus_config(bus), "partitions") for bus in unknown]
        for bus, reply in zip(unknown, replies, strict=True):
            partitions.learn(bus, _ok(reply))
    writes = _writes(valid, envelopes, partitions, hops, settings, results)
    if writes:
        replies = yield [command for _, _, command in writes]
        for (index, event_id, command), reply in zip(writes, replies, strict=True):
            results[index] = _publish_result(event_id, command[0] == "EVAL", reply)
    failed = sum(1 for r in results if "ErrorCode" in r)
    return {"FailedEntryCount": failed, "Entries": results}


def _validate(
    entries: Sequence[Mapping[str, Any]],
    results: list[dict[str, str]],
    settings: Settings | None,
    service: bool,
) -> list[tuple[int, ValidEntry]]:
    valid = []
    for index, entry in enumerate(entries):
        try:
            valid.append((index, validate_entry(entry, settings=settings, service=service)))
        except InvalidEventError as e:
            results[index] = {"ErrorCode": e.code, "ErrorMessage": e.message}
    return valid


def _add_extra(event: dict[str, Any], extra: Mapping[str, Any]) -> None:
    clashes = sorted(event.keys() & extra.keys())
    if clashes:
        raise ValueError(f"extra envelope fields may not replace {', '.join(clashes)}")
    event.update(extra)


def _writes(
    valid: list[tuple[int, ValidEntry]],
    envelopes: Sequence[Envelope] | None,
    partitions: PartitionMap,
    hops: int,
    settings: Settings | None,
    results: list[dict[str, str]],
) -> list[tuple[int, str, Command]]:
    """(request index, event id, the command writing it) for every valid entry; an event that
    cannot be written as JSON gets its error in ``results`` instead."""
    now = datetime.now(UTC)
    ingested = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    shapes = [envelopes[index] for index, _ in valid] if envelopes is not None else None
    events = make_events(
        [entry for _, entry in valid],
        event_ids=[shape.event_id for shape in shapes] if shapes is not None else None,
        now=now,
        settings=settings,
    )
    streams: dict[tuple[str, int], str] = {}  # one name per partition written, not per entry
    writes = []
    for n, ((index, entry), event) in enumerate(zip(valid, events, strict=True)):
        if shapes is not None and shapes[n].extra:
            _add_extra(event, shapes[n].extra)
        partition = partitions.choose(entry.bus, entry.idempotency_key)
        stream = streams.get((entry.bus, partition))
        if stream is None:
            stream = streams[entry.bus, partition] = keys.bus_stream(entry.bus, partition)
        try:
            data = orjson.dumps(event)
        except orjson.JSONEncodeError as e:
            # Only what a publisher adds around the validated entry can get here (``extra``
            # fields nested too deep, say): that entry fails, its batch-mates are written.
            results[index] = {
                "ErrorCode": "InvalidArgument",
                "ErrorMessage": f"The event cannot be written as JSON: {e}.",
            }
            continue
        if entry.idempotency_key is None:
            command: Command = ("XADD", stream, "*", "event", data, "hops", hops, "ingested",
                                ingested)  # fmt: skip
        else:
            record = keys.idempotency(entry.bus, partition, entry.idempotency_key)
            window_ms = IDEMPOTENCY_WINDOW_SECONDS * 1000
            command = ("EVAL", _PUBLISH_ONCE, 2, record, stream, event["id"], data, hops, ingested,
                       window_ms)  # fmt: skip
        writes.append((index, event["id"], command))
    return writes


def _publish_result(event_id: str, idempotent: bool, reply: Any) -> dict[str, str]:
    if isinstance(reply, Exception):
        log.warning("publishing event %s failed: %s", event_id, reply)
        return dict(_INTERNAL_FAILURE)
    # An idempotent write answers with the EventId of the first publish of its key.
    return {"EventId": _text(reply) if idempotent else event_id}


# --- bus registry and configuration -------------------------------------------------------------


def register_bus(bus: str, config: Mapping[str, Any]) -> Steps[None]:
    """Add ``bus`` to the registry and store its runtime config (``partitions``, ``max_len``,
    ``max_age_seconds``, ...); fields given as None are removed. Routers do this on start."""
    present = {name: _encode(value) for name, value in config.items() if value is not None}
    present.setdefault("partitions", str(DEFAULT_PARTITIONS))
    absent = [name for name, value in config.items() if value is None]
    key = keys.bus_config(bus)
    batch: list[Command] = [
        ("SADD", keys.BUSES, bus),
        ("HSET", key, *itertools.chain.from_iterable(present.items())),
    ]
    if absent:
        batch.append(("HDEL", key, *absent))
    for reply in (yield batch):
        _ok(reply)


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def read_bus_config(bus: str) -> Steps[dict[str, str]]:
    """The stored config of ``bus`` as text fields (empty when it was never registered)."""
    (reply,) = yield [("HGETALL", keys.bus_config(bus))]
    return {_text(k): _text(v) for k, v in _ok(reply).items()}


def list_buses() -> Steps[list[str]]:
    """Every registered bus, sorted."""
    (reply,) = yield [("SMEMBERS", keys.BUSES)]
    return sorted(_text(bus) for bus in _ok(reply))


def _partition_count(config: Mapping[str, str]) -> int:
    return max(int(config.get("partitions", DEFAULT_PARTITIONS)), 1)


def ensure_groups(
    streams: Sequence[str], group: str = keys.ROUTER_GROUP, start_id: str = "0"
) -> Steps[list[str]]:
    """Create ``group`` on each stream (and the stream itself) unless it exists; the streams where
    it was created. ``start_id`` "0" lets the group read what was published before it existed."""
    replies = yield [("XGROUP", "CREATE", s, group, start_id, "MKSTREAM") for s in streams]
    created = []
    for stream, reply in zip(streams, replies, strict=True):
        if isinstance(reply, redis.ResponseError) and str(reply).startswith("BUSYGROUP"):
            continue
        _ok(reply)
        created.append(stream)
    return created


# --- retention ----------------------------------------------------------------------------------

StreamId = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TrimReport:
    """What retention did to one partition stream.

    ``bound`` is the oldest entry some consumer group still needs (pending, or not yet read),
    None when no group reads the stream. ``held_back`` says retention wanted to remove entries
    at or past that bound and kept them: a backlog, reported and never dropped.
    """

    stream: str
    removed: int
    length: int
    bound: str | None
    held_back: bool


def _parse_id(text: Any) -> StreamId:
    ms, _, seq = _text(text).partition("-")
    return int(ms), int(seq or 0)


def _format_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def trim(bus: str, *, now: datetime | None = None) -> Steps[list[TrimReport]]:
    """Apply ``max_len`` / ``max_age_seconds`` from the bus's stored config to each partition,
    never removing an entry that a consumer group has pending or has not read yet."""
    config = yield from read_bus_config(bus)
    max_len = int(config["max_len"]) if "max_len" in config else None
    max_age = float(config["max_age_seconds"]) if "max_age_seconds" in config else None
    if max_len is None and max_age is None:
        return []
    streams = keys.bus_streams(bus, _partition_count(config))
    replies = yield [c for s in streams for c in (("XLEN", s), ("XINFO GROUPS", s))]
    lengths = [int(_ok(r)) for r in replies[::2]]
    groups = [[] if isinstance(r, redis.ResponseError) else _ok(r) for r in replies[1::2]]
    bounds = yield from _consumer_bounds(streams, groups)
    excess = [min(n - max_len, TRIM_SCAN_LIMIT) if max_len is not None else 0 for n in lengths]
    scans = yield [("XRANGE", s, "-", "+", "COUNT", n) for s, n in zip(streams, excess, strict=True)
                   if n > 0]  # fmt: skip
    scanned = iter(scans)
    age_cut = _age_cutoff(max_age, now)
    plans = []
    for stream, n, bound in zip(streams, excess, bounds, strict=True):
        wanted = max(_after_last(next(scanned)) if n > 0 else (0, 0), age_cut)
        plans.append((stream, wanted, bound))
    return (yield from _apply_trim(plans, lengths))


def _consumer_bounds(
    streams: list[str], groups: list[list[dict[str, Any]]]
) -> Steps[list[StreamId | None]]:
    """Per stream, the oldest entry any of its groups still needs (None: no group)."""
    asks = [(i, g["name"]) for i, gs in enumerate(groups) for g in gs if int(g["pending"]) > 0]
    replies = yield [("XPENDING", streams[i], name) for i, name in asks] if asks else []
    pending_min: dict[int, StreamId] = {}
    for (i, _), reply in zip(asks, replies, strict=True):
        first = _parse_id(_ok(reply)["min"])
        pending_min[i] = min(first, pending_min.get(i, first))
    bounds: list[StreamId | None] = []
    for i, gs in enumerate(groups):
        unread = [_successor(_parse_id(g["last-delivered-id"])) for g in gs]
        needed = unread + ([pending_min[i]] if i in pending_min else [])
        bounds.append(min(needed) if needed else None)
    return bounds


def _successor(stream_id: StreamId) -> StreamId:
    return stream_id[0], stream_id[1] + 1


def _after_last(entries: list[Any]) -> StreamId:
    return _successor(_parse_id(entries[-1][0])) if entries else (0, 0)


def _age_cutoff(max_age: float | None, now: datetime | None) -> StreamId:
    if max_age is None:
        return (0, 0)
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    return (max(now_ms - int(max_age * 1000), 0), 0)


def _apply_trim(
    plans: list[tuple[str, StreamId, StreamId | None]], lengths: list[int]
) -> Steps[list[TrimReport]]:
    cuts = [wanted if bound is None else min(wanted, bound) for _, wanted, bound in plans]
    todo = [(s, cut) for (s, _, _), cut in zip(plans, cuts, strict=True) if cut > (0, 0)]
    replies = yield [("XTRIM", s, "MINID", "=", _format_id(cut)) for s, cut in todo] if todo else []
    removed = dict(zip([s for s, _ in todo], (int(_ok(r)) for r in replies), strict=True))
    left = [length - removed.get(s, 0) for (s, _, _), length in zip(plans, lengths, strict=True)]
    # Held back: an entry retention wanted gone is still there (the oldest one left tells).
    maybe = [s for (s, wanted, bound), n in zip(plans, left, strict=True)
             if bound is not None and wanted > bound and n > 0]  # fmt: skip
    replies = yield [("XRANGE", s, "-", "+", "COUNT", 1) for s in maybe] if maybe else []
    oldest = {s: _parse_id(_ok(r)[0][0]) for s, r in zip(maybe, replies, strict=True) if _ok(r)}
    reports = []
    for (stream, wanted, bound), length in zip(plans, left, strict=True):
        held_back = stream in oldest and oldest[stream] < wanted
        report = TrimReport(
            stream=stream,
            removed=removed.get(stream, 0),
            length=length,
            bound=None if bound is None else _format_id(bound),
            held_back=held_back,
        )
        if held_back:
            log.warning(
                "retention of %s kept entries from %s on: consumer groups have not finished "
                "them (%d entries left in the stream)", stream, report.bound, report.length
            )
        reports.append(report)
    return reports
