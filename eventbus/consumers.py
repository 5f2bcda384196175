"""Consumer-group membership: removing the consumers that hold nothing.

Every router joins each group it reads as ``<host>-<pid>`` (or ``--consumer``), so without
cleanup every restart leaves one more consumer per stream. Deleting a consumer discards its
pending entries, so a consumer is removed only when it has none, checked and deleted in one
script per stream (one key: one hash slot). A router removes its own consumers so on a clean
stop; any router removes the others' once idle past a limit (an hour by default).
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

__all__ = ["CONSUMER_IDLE_SECONDS", "remove_consumers"]

# A consumer idle this long with nothing pending is removed by any router (its router is gone).
CONSUMER_IDLE_SECONDS = 3600.0

# KEYS[1] a stream; ARGV[1] its group; ARGV[2] the idle time (ms) a consumer must have reached;
# ARGV[3] one consumer's name, or '' for any; ARGV[4...] consumers to keep whatever their idle
# time. Deletes each such consumer that has no pending entry and returns their names; a missing
# stream or group has no consumers.
_REMOVE = """
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if consumers.err then return {} end
local min_idle = tonumber(ARGV[2])
local keep = {}
for i = 4, #ARGV do keep[ARGV[i]] = true end
local removed = {}
for _, consumer in ipairs(consumers) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if (ARGV[3] == '' or info['name'] == ARGV[3]) and info['pending'] == 0
      and info['idle'] >= min_idle and not keep[info['name']] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed[#removed + 1] = info['name']
  end
end
return removed
"""


async def remove_consumers(
    redis: Redis, memberships: Iterable[tuple[str, str]], *, idle: float = 0.0, consumer: str = "",
    keep: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Remove from each (stream, group) the consumers (only ``consumer`` when given) with no
    pending entry and idle for at least ``idle`` seconds, except those in ``keep`` (known to
    be alive: before Redis 7.2 a consumer is idle from the last entry it was given, not from
    its last read); the (stream, consumer) pairs removed."""
    pairs = list(memberships)
    if not pairs:
        return []
    script = redis.register_script(_REMOVE)
    spared = list(keep)
    async with redis.pipeline(transaction=False) as pipe:
        for stream, group in pairs:
            await script(keys=[stream], args=[group, int(idle * 1000), consumer, *spared],
                         client=pipe)
        replies = await pipe.execute()
    return [
        (stream, name.decode() if isinstance(name, bytes) else str(name))
        for (stream, _), names in zip(pairs, replies, strict=True)
        for name in names
    ]
