"""API-created state machines and activities in Redis: create only under a free name, replace
only over the revision read."""

from __future__ import annotations

from dataclasses import replace

from eventbus.connection import connect_async
from eventbus.workflows.registry import StoredActivity, StoredMachine, activities, machines

MACHINE = StoredMachine(
    name="orders", type="STANDARD", definition="{}", role_arn="arn:aws:iam::1:role/r",
    creation_ms=1, revision_id="r1",
)  # fmt: skip


async def test_create_stores_under_a_free_name_and_answers_the_taken_one(redis_url: str) -> None:
    redis = connect_async(redis_url)
    try:
        registry = machines(redis, "1")
        assert await registry.create(MACHINE) is None
        assert await registry.create(replace(MACHINE, definition="other")) == MACHINE
        assert await registry.get("orders") == MACHINE
    finally:
        await redis.aclose()


async def test_replace_over_a_stale_revision_is_refused(redis_url: str) -> None:
    redis = connect_async(redis_url)
    try:
        registry = machines(redis, "1")
        await registry.create(MACHINE)
        first = replace(MACHINE, definition="a", revision_id="r2")
        second = replace(MACHINE, definition="b", revision_id="r3")
        assert await registry.replace("r1", first) is True
        # A second writer that read r1 too must not overwrite r2.
        assert await registry.replace("r1", second) is False
        assert await registry.get("orders") == first
        await registry.delete("orders")
        assert await registry.replace("r2", second) is None
    finally:
        await redis.aclose()


async def test_activities_and_machines_are_kept_apart(redis_url: str) -> None:
    redis = connect_async(redis_url)
    try:
        await activities(redis, "1").create(StoredActivity("orders", 5))
        assert await machines(redis, "1").get("orders") is None
        assert await activities(redis, "1").all() == [StoredActivity("orders", 5)]
        assert await activities(redis, "2").all() == []
    finally:
        await redis.aclose()
