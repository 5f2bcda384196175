"""Running the gateway: standalone (``eventbus serve``) or inside a router's event loop.

The listening socket is bound before uvicorn starts, so a port in use is an ``OSError`` for the
caller instead of uvicorn exiting the process, and port 0 picks a free port. Connections past
``max_connections`` are answered 503 and closed (uvicorn's own ``limit_concurrency`` answers in
plain text, not in the AWS JSON the SDKs parse), and a connection that has not sent its first
request's headers within ``body_timeout`` is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from eventbus.client import AsyncEventBusClient
from eventbus.config import RuleSet
from eventbus.connection import connect_async
from eventbus.gateway.app import create_app, too_many_connections
from eventbus.gateway.auth import resolve_secrets
from eventbus.gateway.state import DEFAULT_MAX_ENTRIES, Gateway
from eventbus.metrics import Metrics
from eventbus.settings import Settings, get_settings
from eventbus.workflows.registry import NO_FILES, MachineFiles

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "bind",
    "open_gateway",
    "serve",
    "serve_in_router",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8088


@contextlib.asynccontextmanager
async def open_gateway(
    rules: RuleSet,
    redis_url: str,
    *,
    secrets: Mapping[str, str] | None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_request_bytes: int | None = None,
    max_unverified_bytes: int | None = None,
    body_timeout: float | None = None,
    max_connections: int | None = None,
    settings: Settings | None = None,
    catalog: MachineFiles = NO_FILES,
) -> AsyncIterator[Gateway]:
    """A gateway with its own Redis connections, closed on exit; a limit left None takes its
    default (see :class:`Gateway`). ``catalog`` holds the state machines of the workflow
    files (none by default)."""
    redis = connect_async(redis_url)
    settings = settings or get_settings()
    try:
        yield Gateway(
            rules=rules,
            client=AsyncEventBusClient(redis, settings=settings),
            redis=redis,
            metrics=Metrics(redis),
            secrets=secrets,
            max_entries=max_entries,
            max_request_bytes=max_request_bytes or 0,
            max_unverified_bytes=max_unverified_bytes or 0,
            body_timeout=body_timeout or 0.0,
            max_connections=max_connections or 0,
            settings=settings,
            catalog=catalog,
        )
    finally:
        await redis.aclose()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv6 when the host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the proto says
    # TCP, and without it a keep-alive response written in two parts waits 40 ms (Nagle meets
    # delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class _HostedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the process hosting it (a router)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _capped_protocol(max_connections: int, first_request_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, else h11), answering every request on
    a connection opened past ``max_connections`` open ones with :func:`too_many_connections`, and
    closing a connection whose next request's headers are not in within
    ``first_request_timeout`` seconds (of its opening, or of the previous response)."""
    base: Any = AutoHTTPProtocol

    class CappedProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            # ``connections`` is the server's set of open ones, this one included.
            if len(self.connections) > max_connections:
                self.app = too_many_connections
            # Idle or slowly sent headers would otherwise hold a place under the cap for ever:
            # uvicorn times out only the wait between requests.
            self._first_request_timer = self.loop.call_later(
                first_request_timeout, self._close_without_request
            )

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next request's headers on a kept-alive connection get the same time: uvicorn
            # stops its keep-alive timer at their first byte and would then wait for ever.
            self._first_request_timer.cancel()
            self._first_request_timer = self.loop.call_later(
                first_request_timeout, self._close_without_request
            )

        def _close_without_request(self) -> None:
            # No request whose headers are in (a finished one's cycle stays until the next).
            idle = self.cycle is None or self.cycle.response_complete
            if idle and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._first_request_timer.cancel()
            super().connection_lost(exc)

    return CappedProtocol


def _server(gateway: Gateway, *, hosted: bool) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(gateway),
        http=_capped_protocol(gateway.max_connections, gateway.body_timeout),
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    return _HostedServer(config) if hosted else uvicorn.Server(config)


async def serve(gateway: Gateway, sock: socket.socket, *, hosted: bool = False) -> None:
    """Serve ``gateway`` on ``sock`` until SIGINT/SIGTERM (standalone) or until cancelled.

    Cancelling shuts the server down gracefully (open requests are answered) before re-raising.
    """
    server = _server(gateway, hosted=hosted)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise


async def serve_in_router(
    rules: RuleSet,
    redis_url: str,
    *,
    port: int,
    host: str = DEFAULT_HOST,
    no_auth: bool = False,
    credentials_file: str | Path | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_request_bytes: int | None = None,
    max_unverified_bytes: int | None = None,
    body_timeout: float | None = None,
    max_connections: int | None = None,
    ready: Callable[[Gateway, int], None] | None = None,
) -> None:
    """The gateway inside a running event loop (``eventbus run --http PORT``), until cancelled.

    Raises ``CredentialsError`` (say its message, exit 2) for the same key problems as
    ``eventbus serve``, and ``OSError`` when the port cannot be bound. ``ready`` gets the
    gateway and the port it listens on (the one picked, for port 0); a host that reloads its
    rules sets ``gateway.rules`` to the new set, and ``gateway.catalog`` to its workflow files.
    """
    secrets = resolve_secrets(host, no_auth=no_auth, credentials_file=credentials_file)
    sock = bind(host, port)
    async with open_gateway(
        rules, redis_url, secrets=secrets, max_entries=max_entries,
        max_request_bytes=max_request_bytes, max_unverified_bytes=max_unverified_bytes,
        body_timeout=body_timeout, max_connections=max_connections,
    ) as gateway:  # fmt: skip
        if ready is not None:
            ready(gateway, int(sock.getsockname()[1]))
        await serve(gateway, sock, hosted=True)
