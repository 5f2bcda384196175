"""The consumers of the ``workflow-workers`` group: a dead worker's go once they hold nothing;
a live worker's stay."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from eventbus import keys
from eventbus.workflows import store
from eventbus.workflows.worker_loops import ensure_work_groups

from .durable import worker


async def _consumers(redis: Redis, partition: int) -> dict[str, int]:
    """name -> pending entries of the partition's consumers."""
    infos = await redis.xinfo_consumers(keys.workflow_work(partition), keys.WORKFLOW_GROUP)
    return {(i["name"].decode() if isinstance(i["name"], bytes) else i["name"]): i["pending"]
            for i in infos}


async def test_a_dead_workers_consumer_is_removed_once_its_work_is_claimed(redis: Redis) -> None:
    await ensure_work_groups(redis)
    # A worker that read a start, then died: the entry stays pending on its consumer.
    arn = "arn:aws:states:us-east-1:123456789012:execution:gone:x"
    p = store.partition_of(arn)
    await redis.xadd(keys.workflow_work(p), {"kind": "start", "arn": arn})
    await redis.xreadgroup(keys.WORKFLOW_GROUP, "wf-dead", {keys.workflow_work(p): ">"}, count=1)
    assert await _consumers(redis, p) == {"wf-dead": 1}
    # On a quiet partition, a dead worker's consumer and a live one's look the same to Redis
    # before 7.2: idle since they were created.
    quiet = (p + 1) % keys.WORKFLOW_PARTITIONS
    for name in ("wf-dead-idle", "wf-quiet"):
        await redis.xgroup_createconsumer(keys.workflow_work(quiet), keys.WORKFLOW_GROUP, name)
    async with worker(redis, consumer="wf-quiet", claim_idle=0.1, block_ms=100,
                      consumer_idle=1.0), \
            worker(redis, consumer="wf-live", claim_idle=0.1, block_ms=100, consumer_idle=1.0):
        # The dead worker's entry is taken over by a live one (and acknowledged), and the dead
        # worker's consumers go.
        async with asyncio.timeout(30):
            while "wf-dead" in (held := await _consumers(redis, p)) or any(held.values()) \
                    or "wf-dead-idle" in await _consumers(redis, quiet):
                await asyncio.sleep(0.05)
        assert set(held) <= {"wf-live", "wf-quiet"}
        # Removed in the same script as the dead one was: the live worker's stays.
        assert await _consumers(redis, quiet) == {"wf-quiet": 0}
