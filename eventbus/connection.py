"""Which Redis a command uses, and clients for it.

``resolve_redis_url`` picks, in order: the ``--redis`` flag, the ``EVENTBUS_REDIS_URL``
environment variable, and the embedded default (see :mod:`eventbus.embedded`), and says once
on standard error which one it chose, so a user is never unsure where events went.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import redis
import redis.asyncio

__all__ = ["REDIS_URL_ENV", "connect", "connect_async", "resolve_redis_url"]

REDIS_URL_ENV = "EVENTBUS_REDIS_URL"

_announced: set[str] = set()


def resolve_redis_url(url: str | None) -> str:
    """The Redis URL to use: ``url``, else ``$EVENTBUS_REDIS_URL``, else the embedded daemon."""
    if url:
        origin = "--redis"
    elif os.environ.get(REDIS_URL_ENV):
        url, origin = os.environ[REDIS_URL_ENV], REDIS_URL_ENV
    else:
        from eventbus import embedded

        running = embedded.ensure()
        url, origin = running.url, f"embedded, data in {running.directory}"
    _announce(url, origin)
    return url


def _announce(url: str, origin: str) -> None:
    if url not in _announced:
        _announced.add(url)
        print(f"eventbus: using Redis {url} ({origin})", file=sys.stderr)


def connect(url: str, **options: Any) -> redis.Redis:
    """A redis-py client for ``url``; replies are decoded to ``str`` unless told otherwise."""
    options.setdefault("decode_responses", True)
    return redis.Redis.from_url(url, **options)


def connect_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """The asyncio twin of :func:`connect`."""
    options.setdefault("decode_responses", True)
    return redis.asyncio.Redis.from_url(url, **options)
