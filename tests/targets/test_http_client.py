"""How HTTP targets reach their endpoints: proxies from the environment, one session shared by a
router's targets, and a connection bound per target that keeps a slow target from holding
connections another target needs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from eventbus.client import AsyncEventBusClient
from eventbus.errors import TargetError
from eventbus.targets.base import TargetServices
from eventbus.targets.http import HttpConfig, HttpTarget
from eventbus.targets.http_client import Sessions
from eventbus.worker import Router, RouterOptions

from .conftest import HttpServer, Received, Reply, make_ctx

ORIGIN = "http://origin.invalid/hook"  # never resolved: only the proxy is reached


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """An environment without proxy settings, for the test to set its own."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    yield monkeypatch


def http_target(services: TargetServices | None = None, **settings: Any) -> HttpTarget:
    services = services or TargetServices(redis=None, bus="shop", rule="orders")
    return HttpTarget(HttpConfig.model_validate(settings), services)


async def test_http_proxy_from_the_environment_carries_the_request(
    http_server: HttpServer, proxy_env: pytest.MonkeyPatch
) -> None:
    proxy_env.setenv("HTTP_PROXY", http_server.url)
    target = http_target(url=ORIGIN)
    try:
        outcome = await target.send("{}", make_ctx())
    finally:
        await target.aclose()
    [request] = http_server.received
    # The proxy gets the absolute form of the request, for the origin's host
    assert (request.target, request.headers["host"]) == (ORIGIN, "origin.invalid")
    assert outcome == {"status": 200, "body": {"ok": True}}


async def test_no_proxy_hosts_are_reached_directly(
    http_server: HttpServer, proxy_env: pytest.MonkeyPatch
) -> None:
    proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    proxy_env.setenv("NO_PROXY", "127.0.0.1")
    target = http_target(url=f"{http_server.url}/hook")
    try:
        await target.send("{}", make_ctx())
    finally:
        await target.aclose()
    [request] = http_server.received
    assert request.target == "/hook"


async def test_a_proxy_that_refuses_is_a_retryable_connection_error(
    proxy_env: pytest.MonkeyPatch,
) -> None:
    proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    target = http_target(url=ORIGIN)
    try:
        with pytest.raises(TargetError) as err:
            await target.send("{}", make_ctx())
    finally:
        await target.aclose()
    assert (err.value.retryable, err.value.code) == (True, "CONNECTION_ERROR")


async def until(check: Any, what: str) -> None:
    """Wait for ``check()`` (bounded by pytest-timeout; no timed assertion)."""
    while not check():
        await asyncio.sleep(0.01)


async def test_a_slow_target_holds_at_most_its_connections_and_others_on_the_host_go_on(
    http_server: HttpServer,
) -> None:
    # Given two targets on one host sharing a session, the first bound to 2 connections
    release = threading.Event()

    def stuck(request: Received) -> Reply:
        release.wait(60)
        return Reply(body={"ok": True})

    http_server.answer("/slow", stuck)
    sessions = Sessions()
    shared = TargetServices(redis=None, bus="shop", rule="orders", http=sessions, connections=2)
    slow = http_target(shared, url=f"{http_server.url}/slow", timeout_seconds=60)
    fast = http_target(shared, url=f"{http_server.url}/fast")
    try:
        # When the first is sent 5 deliveries its endpoint does not answer
        held = [asyncio.create_task(slow.send("{}", make_ctx())) for _ in range(5)]
        await until(lambda: len(http_server.requests("/slow")) == 2, "2 requests held")
        # Then the other target still delivers, and the endpoint saw only 2 of the first's
        assert await fast.send("{}", make_ctx()) == {"status": 200, "body": {"ok": True}}
        assert len(http_server.requests("/slow")) == 2
        release.set()
        assert len(await asyncio.gather(*held)) == 5
        assert len(http_server.requests("/slow")) == 5
    finally:
        release.set()
        await slow.aclose()
        await fast.aclose()
        await sessions.aclose()


async def test_closing_a_target_leaves_the_shared_session_to_the_others(
    http_server: HttpServer,
) -> None:
    sessions = Sessions()
    shared = TargetServices(redis=None, bus="shop", rule="orders", http=sessions)
    first = http_target(shared, url=f"{http_server.url}/a")
    second = http_target(shared, url=f"{http_server.url}/b")
    try:
        await first.send("{}", make_ctx())
        await first.aclose()
        await second.send("{}", make_ctx())
        with pytest.raises(TargetError) as err:
            await first.send("{}", make_ctx())
        assert err.value.code == "TARGET_CLOSED"
    finally:
        await second.aclose()
        await sessions.aclose()
    assert [r.path for r in http_server.received] == ["/a", "/b"]


async def test_a_routers_http_targets_share_its_session_which_closes_with_it(
    http_server: HttpServer, redis_url: str, tmp_path: Path
) -> None:
    # Given a router with two http targets
    (tmp_path / "rules.yaml").write_text(f"""bus: default
rules:
  - name: orders
    event_pattern: {{source: [shop]}}
    targets:
      - {{id: a, type: http, url: "{http_server.url}/a"}}
      - {{id: b, type: http, url: "{http_server.url}/b"}}
""")
    redis = Redis.from_url(redis_url)
    router = Router(redis, tmp_path, RouterOptions(block_ms=20, concurrency=4))
    await router.start()
    task = asyncio.create_task(router.run())
    try:
        # When an event reaches both
        entry = {"Source": "shop", "DetailType": "x", "Detail": orjson.dumps({}).decode()}
        await AsyncEventBusClient(redis).put_events([entry])
        await until(lambda: {r.path for r in http_server.received} == {"/a", "/b"}, "2 requests")
        # Then both went through the router's one session, each bounded by the lane's size
        clients = [lane.instance._client for lane in router.lanes.values()]
        assert {c.sessions for c in clients} == {router.http}
        # (a slot is freed once its response has been read, a moment after the server saw it)
        await until(lambda: [c.slots._value for c in clients] == [4, 4], "slots freed")
        session = router.http.session()
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
        await redis.aclose()
    # and the router closed it when it stopped
    assert session.closed
