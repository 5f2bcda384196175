"""An archive's storage: compress raw segments into blocks, enforce retention, read a window.

Per partition of the bus, in the partition's hash slot (every script below touches one slot):
the raw segment (a stream the router appends to), blocks of ``BLOCK_EVENTS`` events compressed
with zlib (a hash), their index by event time (a sorted set scored by the block's earliest event
time, the member carrying its latest) and the blocks' totals. A block is written and its raw
entries deleted in one script, so an event is in exactly one of the two at any moment.
"""

from __future__ import annotations

import heapq
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus.archives.capture import event_time_ms
from eventbus.archives.spec import Archive

__all__ = ["BLOCK_EVENTS", "ArchiveStats", "compact", "enforce_retention", "read_window", "stats"]

# Events per block: zlib finds most of the repetition between events within ~100 of them.
BLOCK_EVENTS = 100
DAY_MS = 86_400_000

# KEYS raw, blocks, index, stats; ARGV block id, index member, min time, events, bytes, blob,
# raw ids... A block already written (another compactor got there first) leaves all as it is:
# both read from the segment's first entry, so the loser's entries are the winner's or after.
_COMPACT = """
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[6]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], unpack(ARGV, 7))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('HINCRBY', KEYS[4], 'events', ARGV[4])
redis.call('HINCRBY', KEYS[4], 'bytes', ARGV[5])
return 1
"""

# KEYS raw, blocks, index, stats; ARGV cutoff ms. Drops the blocks whose latest event is
# before the cutoff, and raw entries captured before it. Replies the events dropped.
_RETAIN = """
local cutoff, dropped = tonumber(ARGV[1]), 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff)) do
  local id, latest, n = string.match(member, '^(.-)|(%d+)|(%d+)$')
  if tonumber(latest) < cutoff then
    local size = redis.call('HSTRLEN', KEYS[2], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], member)
    redis.call('HINCRBY', KEYS[4], 'events', -tonumber(n))
    redis.call('HINCRBY', KEYS[4], 'bytes', -size)
    dropped = dropped + tonumber(n)
  end
end
local old = redis.call('XRANGE', KEYS[1], '-', cutoff, 'COUNT', 1000)
for _, entry in ipairs(old) do redis.call('XDEL', KEYS[1], entry[1]) end
return dropped + #old
"""

# KEYS raw, blocks, index; ARGV start ms, end ms. Replies {blobs of the blocks overlapping
# the window, raw entries}: in one script, so a block written meanwhile is not seen twice.
_READ = """
local start, blobs = tonumber(ARGV[1]), {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])) do
  local id, latest = string.match(member, '^(.-)|(%d+)|')
  if tonumber(latest) >= start then blobs[#blobs + 1] = redis.call('HGET', KEYS[2], id) end
end
return {blobs, redis.call('XRANGE', KEYS[1], '-', '+')}
"""


async def compact(redis: Redis, archive: Archive, partition: int, *, flush_after_ms: int) -> int:
    """Compress the partition's raw segment into blocks: every full block, and a partial one
    once its oldest capture is ``flush_after_ms`` old. Returns the events compressed."""
    done = 0
    raw_key = archive.raw(partition)
    script = redis.register_script(_COMPACT)
    while True:
        entries: Any = await redis.xrange(raw_key, "-", "+", count=BLOCK_EVENTS)
        if not entries:
            return done
        oldest_ms = int(entries[0][0].split(b"-", 1)[0])
        if len(entries) < BLOCK_EVENTS and time.time() * 1000 - oldest_ms < flush_after_ms:
            return done
        times = [int(fields[b"t"]) for _, fields in entries]
        blob = zlib.compress(b"\n".join(fields[b"e"] for _, fields in entries))
        block_id = entries[0][0].decode()
        member = f"{block_id}|{max(times)}|{len(entries)}"
        args = [block_id, member, min(times), len(entries), len(blob), blob]
        args += [entry_id for entry_id, _ in entries]
        keys = archive.partition_keys(partition)
        if not await script(keys=keys, args=args):
            return done  # another compactor took this block: it goes on from there
        done += len(entries)
        if len(entries) < BLOCK_EVENTS:
            return done


async def enforce_retention(redis: Redis, archive: Archive, now_ms: int | None = None) -> int:
    """Drop what is older than the archive's retention, in every partition; the events dropped."""
    if archive.retention_days <= 0:
        return 0
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff = now_ms - archive.retention_days * DAY_MS
    script = redis.register_script(_RETAIN)
    dropped = 0
    for p in range(archive.partitions):
        dropped += int(await script(keys=archive.partition_keys(p), args=[cutoff]))
    return dropped


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    events: int
    size_bytes: int  # compressed blocks plus the raw events not compressed yet


async def stats(redis: Redis, archive: Archive) -> ArchiveStats:
    """The archive's exact event count and size, each partition read in one transaction."""
    events = size = 0
    for p in range(archive.partitions):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hmget(archive.stats(p), "events", "bytes")
            pipe.xrange(archive.raw(p), "-", "+")
            (counted, raw) = await pipe.execute()
        events += int(counted[0] or 0) + len(raw)
        size += int(counted[1] or 0) + sum(len(fields[b"e"]) for _, fields in raw)
    return ArchiveStats(events, size)


async def read_window(
    redis: Redis, archive: Archive, start_ms: int, end_ms: int
) -> AsyncIterator[dict[str, Any]]:
    """The archived events whose event time is in [start_ms, end_ms], in event-time order.

    Reads only the blocks whose time range meets the window (and the small raw segment)."""
    script = redis.register_script(_READ)
    partitions = []
    for p in range(archive.partitions):
        keys = archive.partition_keys(p)[:3]
        blobs, raw = await script(keys=keys, args=[start_ms, end_ms])
        texts = [line for blob in blobs for line in zlib.decompress(blob).split(b"\n")]
        texts += [fields[b"e"] for _, fields in _pairs(raw)]
        partitions.append(sorted(_in_window(texts, start_ms, end_ms), key=_time_of))
    for _, event in heapq.merge(*partitions, key=_time_of):
        yield event


def _pairs(raw: list[Any]) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    """XRANGE entries as a script returns them: [id, [field, value, ...]]."""
    for entry_id, flat in raw:
        yield entry_id, dict(zip(flat[::2], flat[1::2], strict=True))


def _in_window(texts: list[bytes], start_ms: int, end_ms: int) -> Iterator[tuple[int, Any]]:
    for text in texts:
        event = orjson.loads(text)
        at = event_time_ms(event.get("time"), 0)
        if start_ms <= at <= end_ms:
            yield at, event


def _time_of(item: tuple[int, Any]) -> int:
    return item[0]
