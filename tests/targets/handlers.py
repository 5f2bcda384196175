"""Functions the python target calls in the tests (importable as ``targets.handlers``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from eventbus.errors import TargetRejected
from eventbus.targets.base import DeliveryContext

CALLS: list[tuple[str, str, str]] = []  # (how, payload, delivery id)


def sync_handler(payload: str, ctx: DeliveryContext) -> dict[str, Any]:
    CALLS.append((threading.current_thread().name, payload, ctx.delivery_id))
    return {"handled": payload}


async def async_handler(payload: str, ctx: DeliveryContext) -> None:
    await asyncio.sleep(0)
    CALLS.append(("async", payload, ctx.delivery_id))


def failing_handler(payload: str, ctx: DeliveryContext) -> None:
    raise RuntimeError("database is down")


async def refusing_handler(payload: str, ctx: DeliveryContext) -> None:
    raise TargetRejected("order unknown", code="UNKNOWN_ORDER")


def slow_handler(payload: str, ctx: DeliveryContext) -> None:
    threading.Event().wait(0.5)


not_callable = 42
