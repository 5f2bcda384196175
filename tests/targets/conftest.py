"""Fixtures for the target tests: delivery contexts, services on the real test Redis, and a real
local HTTP server that records requests and answers programmable replies."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import redis.asyncio as aioredis

from eventbus.targets.base import DeliveryContext, TargetServices

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Order Placed",
    "source": "shop.orders",
    "account": "000000000000",
    "time": "2024-05-01T12:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"id": "o-42", "customer": {"name": "Ada"}, "total": 12.5},
}


def make_ctx(
    *, event: dict[str, Any] | None = None, attempt: int = 1, hops: int = 0, target: str = "t1"
) -> DeliveryContext:
    """A delivery context as the worker builds it: bus ``shop``, rule ``orders``."""
    ev = event or EVENT
    return DeliveryContext(
        delivery_id=f"{ev['id']}:shop:orders:{target}",
        event_id=ev["id"],
        bus="shop",
        rule="orders",
        rule_arn="arn:aws:events:us-east-1:000000000000:rule/shop/orders",
        target_id=target,
        attempt=attempt,
        event=ev,
        hops=hops,
    )


@pytest.fixture
def ctx_factory() -> Callable[..., DeliveryContext]:
    return make_ctx


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def services(aredis: aioredis.Redis) -> TargetServices:
    return TargetServices(redis=aredis, target_id="t1", rule="orders", bus="shop")


# --- a real local HTTP server -------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request the server got."""

    method: str
    path: str  # without the query string, still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() on arrival
    target: str = ""  # the request line's target: absolute (http://host/path) through a proxy

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    drip: float = 0.0  # seconds to wait before each byte of the body (a trickling endpoint)
    repeat: int = 1  # the body is sent this many times over (huge answers, not held in memory)


Responder = Callable[[Received], Reply]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 resets connections under concurrent sends
    daemon_threads = True


class HttpServer:
    """A threaded http.server on a free port: records every request, answers what it is told.

    ``answer(path, *replies)`` queues replies for a path (the last one repeats);
    ``answer(path, fn)`` answers with ``fn(request)``. Unscripted paths get 200 ``{"ok": true}``.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._scripts: dict[str, list[Reply] | Responder] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def answer(self, path: str, *replies: Reply | Responder) -> None:
        with self._lock:
            if len(replies) == 1 and callable(replies[0]):
                self._scripts[path] = replies[0]
            else:
                self._scripts[path] = [r for r in replies if isinstance(r, Reply)]

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def _reply_for(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            script = self._scripts.get(request.path)
            if script is None:
                return Reply(body={"ok": True})
            if callable(script):
                responder = script
            else:
                return script.pop(0) if len(script) > 1 else script[0]
        return responder(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.monotonic(),
                    target=self.path,
                )
                self._send(server._reply_for(request))

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                headers = dict(reply.headers)
                if not isinstance(body, bytes):
                    body = orjson.dumps(body)
                    headers.setdefault("Content-Type", "application/json")
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body) * reply.repeat))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    if reply.drip:
                        for i in range(len(body)):
                            time.sleep(reply.drip)
                            self.wfile.write(body[i : i + 1])
                    else:
                        for _ in range(reply.repeat):
                            self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client stopped reading (a deadline, a body cap): that is its right.
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()
