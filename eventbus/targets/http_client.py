"""The one place the HTTP client library is used: build a client, send one request and bring
back an :class:`~eventbus.targets.http_response.Answer` with a capped body.

The callers put each exchange under :func:`~eventbus.targets.http_response.deadline`; no timeout
is set on the client itself, so the deadline alone decides, the same whatever the library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from eventbus.errors import TargetError
from eventbus.targets.http_response import Answer, read_capped

__all__ = ["Client", "fetch", "new_client"]

Client = httpx.AsyncClient


def new_client() -> Client:
    """A connection pool that follows no redirect (one to another host could leak credentials)."""
    return httpx.AsyncClient(timeout=None, follow_redirects=False)


async def fetch(
    client: Client,
    method: str,
    url: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    content: bytes | None,
    redact: Callable[[str], str],
    error_code: str = "CONNECTION_ERROR",
) -> Answer:
    """Send one request and read at most the body cap of its answer. A transport failure raises a
    retryable ``TargetError`` with ``error_code`` and a redacted message."""
    # Header values were checked to be Latin-1 (http_params.header_values); the client
    # would encode str values as ASCII. An uncompressed answer keeps the body cap a memory bound:
    # a compressed body can inflate a thousandfold in one chunk.
    encoded = {b"Accept-Encoding": b"identity"}
    encoded.update((name.encode(), value.encode("latin-1")) for name, value in headers.items())
    try:
        async with client.stream(
            method, url, params=query, headers=encoded, content=content
        ) as response:
            body, truncated = await read_capped(response.aiter_raw())
            found = {name.lower(): value for name, value in response.headers.items()}
            return Answer(method, url, response.status_code, found, body, truncated)
    # `from None`: httpx errors hold the request, credentials included, and a chained cause would
    # carry them into any traceback the runtime logs.
    except httpx.HTTPError as e:
        raise TargetError(
            redact(f"{method} {url}: {type(e).__name__}: {e}"), code=error_code
        ) from None
