"""End to end on a real redis-server and real HTTP servers: a two-step pipeline chained through
``emit_outcome``, and a ``bus`` target forwarding into a second bus's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from eventbus.client import AsyncEventBusClient

from .conftest import HttpServer, Received, Reply

worker = pytest.importorskip("eventbus.worker")

SHOP_RULES = """
bus: shop
rules:
  - name: reserve-stock
    event_pattern: {source: [shop.orders], detail-type: [Order Placed]}
    targets:
      - id: reserve
        type: http
        url: URL/reservations
        input_path: $.detail
        emit_outcome: true
      - id: to-audit
        type: bus
        bus_name: audit
  - name: start-fulfilment
    event_pattern:
      source: [eventbus]
      detail-type: [Delivery Succeeded]
      detail: {rule: [reserve-stock], target: [reserve]}
    targets:
      - id: fulfil
        type: airflow
        base_url: URL
        dag_id: fulfil_order
        input_transformer:
          input_paths: {reservation: $.detail.result.body.reservation_id}
          input_template: '{"reservation_id": <reservation>}'
"""

AUDIT_RULES = """
bus: audit
rules:
  - name: keep
    event_pattern: {source: [shop.orders]}
    targets:
      - {id: out, type: redis_stream, stream: "audit:out"}
"""


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``check`` holds; the test's own timeout bounds the wait."""
    while not await check():
        await asyncio.sleep(0.05)


@pytest.mark.timeout(60)
async def test_two_step_pipeline_and_bus_forwarding(
    redis_url: str, http_server: HttpServer, tmp_path: Path, aredis: aioredis.Redis
) -> None:
    # Given a shop API answering a reservation id, an Airflow taking DAG runs, and the rules
    http_server.answer("/reservations", Reply(201, {"reservation_id": "r-77"}))
    runs: list[dict[str, Any]] = []

    def trigger(request: Received) -> Reply:
        runs.append(request.json())
        return Reply(200, {"state": "queued"})

    http_server.answer("/api/v1/dags/fulfil_order/dagRuns", trigger)
    (tmp_path / "shop.yaml").write_text(SHOP_RULES.replace("URL", http_server.url))
    (tmp_path / "audit.yaml").write_text(AUDIT_RULES)
    redis = aioredis.Redis.from_url(redis_url)
    router = worker.Router(redis, tmp_path, worker.RouterOptions(block_ms=20, retry_poll=0.05))
    await router.start()
    running = asyncio.create_task(router.run())
    try:
        # When an order is placed
        async with AsyncEventBusClient.from_url(redis_url) as client:
            detail = orjson.dumps({"order_id": "o-1"}).decode()
            result = await client.put_events(
                [
                    {
                        "Source": "shop.orders",
                        "DetailType": "Order Placed",
                        "Detail": detail,
                        "EventBusName": "shop",
                    }
                ]
            )
        assert result["FailedEntryCount"] == 0

        # Then step 1 gets the order, step 2 starts with step 1's answer
        async def fulfilled() -> bool:
            return bool(runs)

        await eventually(fulfilled)
        [reservation] = http_server.requests("/reservations")
        assert reservation.json() == {"order_id": "o-1"}
        assert runs[0]["conf"] == {"reservation_id": "r-77"}

        # And the audit bus's own rule received the forwarded event
        async def audited() -> bool:
            return bool(await aredis.xlen("audit:out"))

        await eventually(audited)
        [(_, fields)] = await aredis.xrange("audit:out")
        forwarded = orjson.loads(fields[b"payload"])
        assert (forwarded["source"], forwarded["detail"]) == ("shop.orders", {"order_id": "o-1"})
        assert forwarded["id"] != result["Entries"][0]["EventId"]
    finally:
        router.stop()
        await running
        await redis.aclose()
