"""eventbus: a self-hosted, EventBridge-style event bus and rule router on Redis Streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AsyncEventBusClient", "EventBusClient", "__version__"]

if TYPE_CHECKING:
    from eventbus.client import AsyncEventBusClient, EventBusClient


def __getattr__(name: str) -> Any:
    # Lazily, so that importing the pure core (eventbus.patterns, ...) never imports redis.
    if name in ("EventBusClient", "AsyncEventBusClient"):
        from eventbus import client

        return getattr(client, name)
    raise AttributeError(f"module 'eventbus' has no attribute {name!r}")
