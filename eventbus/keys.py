"""Every Redis key name eventbus uses, built in one place.

The layout (documented key by key in ``docs/redis-layout.md``) puts each bus partition in its own
hash tag ``{<bus>#<p>}``, so one bus spans the slots of a Redis Cluster, while everything a single
publish touches atomically (a partition stream and its idempotency keys) shares one slot.
"""

from __future__ import annotations

__all__ = [
    "BUSES",
    "ROUTER_GROUP",
    "bus_config",
    "bus_partition",
    "bus_stream",
    "bus_streams",
    "idempotency",
]

# Set of every bus name that has ever been configured or published to.
BUSES = "eb:buses"
# The consumer group every router joins on every bus partition stream.
ROUTER_GROUP = "routers"


def bus_partition(bus: str, partition: int) -> str:
    """The hash tag of one partition of a bus: ``{<bus>#<p>}``."""
    return f"{{{bus}#{partition}}}"


def bus_stream(bus: str, partition: int) -> str:
    """The stream holding one partition of a bus's events: ``eb:{<bus>#<p>}:events``."""
    return f"eb:{bus_partition(bus, partition)}:events"


def bus_streams(bus: str, partitions: int) -> list[str]:
    """The streams of every partition of a bus, in partition order."""
    return [bus_stream(bus, p) for p in range(partitions)]


def idempotency(bus: str, partition: int, key: str) -> str:
    """A publish idempotency record, in the slot of the partition the key hashes to."""
    return f"eb:{bus_partition(bus, partition)}:idem:{key}"


def bus_config(bus: str) -> str:
    """The hash of a bus's runtime configuration (partitions, ...): ``eb:bus:{<bus>}:config``."""
    return f"eb:bus:{{{bus}}}:config"
