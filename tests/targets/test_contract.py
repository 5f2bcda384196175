"""The contract every target passes (watermill's universal Pub/Sub tests, for targets).

Each built-in target is driven through a small harness that builds it against real local parts
(the test Redis, a real HTTP server, a temporary file) and reads back what arrived. A
:class:`Features` record says which optional behaviours a target has; tests of a behaviour a
target lacks are skipped for it, never faked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from eventbus import keys
from eventbus.client import AsyncEventBusClient
from eventbus.errors import TargetError
from eventbus.targets import load_target_class
from eventbus.targets.base import Target, TargetConfig, TargetServices

from . import handlers
from .conftest import HttpServer, Reply, make_ctx


@dataclass(frozen=True)
class Features:
    registered: bool = True  # has an entry point in eventbus.targets (memory is for tests only)
    retryable_failure: bool = True  # the harness can make it fail in a way a retry may cure
    permanent_failure: bool = True  # ... and in a way no retry can cure
    delivery_id_visible: bool = True  # the receiving side sees the delivery id
    returns_outcome: bool = True  # send returns a dict
    ordered: bool = True  # what arrives can be read back in the order it was sent


Received = list[tuple[Any, str | None]]  # (payload as JSON value, delivery id when visible)


@dataclass
class Harness:
    type: str
    features: Features
    build: Callable[[str], Target]  # "ok" | "retryable" | "permanent" → a target
    received: Callable[[], Awaitable[Received]]
    clients: list[AsyncEventBusClient] = field(default_factory=list)  # closed after the test


@dataclass
class Parts:
    services: TargetServices
    redis: aioredis.Redis
    http: HttpServer
    tmp: Path
    url: str


def config(cls: Any, settings: dict[str, Any]) -> Any:
    return cls.config_model.model_validate(settings)


def build(type_name: str, parts: Parts, settings: dict[str, Any]) -> Target:
    cls = load_target_class(type_name) if type_name != "memory" else memory_class()
    return cls(config(cls, settings), parts.services)  # type: ignore[no-any-return]


def memory_class() -> Any:
    from eventbus.targets.memory import MemoryTarget

    return MemoryTarget


async def stream_entries(r: aioredis.Redis, key: str) -> Received:
    return [
        (orjson.loads(f[b"payload"]), f[b"delivery-id"].decode()) for _, f in await r.xrange(key)
    ]


def memory_harness(parts: Parts) -> Harness:
    built: list[Any] = []

    def make(mode: str) -> Target:
        fail = {"ok": {}, "retryable": {"fail_first": 1}}.get(mode)
        settings = fail if fail is not None else {"fail_first": 1, "fail_permanently": True}
        built.append(build("memory", parts, settings))
        return built[-1]  # type: ignore[no-any-return]

    async def received() -> Received:
        return [(orjson.loads(r.payload), r.ctx.delivery_id) for t in built for r in t.deliveries]

    return Harness("memory", Features(registered=False), make, received)


def log_harness(parts: Parts) -> Harness:
    path = parts.tmp / "deliveries.jsonl"

    def make(mode: str) -> Target:
        # A regular file where the directory should be: the write fails, a retry may cure it.
        blocker = parts.tmp / "not-a-directory"
        blocker.touch()
        where = path if mode == "ok" else blocker / "x.jsonl"
        return build("log", parts, {"path": str(where)})

    async def received() -> Received:
        lines = path.read_text().splitlines() if path.exists() else []
        return [(orjson.loads(r["payload"]), r["delivery-id"]) for r in map(orjson.loads, lines)]

    return Harness("log", Features(permanent_failure=False, returns_outcome=False), make, received)


def redis_harness(type_name: str, key_field: str) -> Callable[[Parts], Harness]:
    def harness(parts: Parts) -> Harness:
        def make(mode: str) -> Target:
            settings: dict[str, Any] = {key_field: "out" if mode != "permanent" else "wrongtype"}
            if mode == "retryable":
                settings["redis_url"] = "redis://127.0.0.1:1/0"
            return build(type_name, parts, settings)

        async def received() -> Received:
            if type_name == "redis_stream":
                return await stream_entries(parts.redis, "out")
            items = reversed(await parts.redis.lrange("out", 0, -1))  # LPUSH: newest first
            return [(orjson.loads(item), None) for item in items]

        visible = type_name == "redis_stream"
        return Harness(type_name, Features(delivery_id_visible=visible), make, received)

    return harness


def http_harness(parts: Parts) -> Harness:
    parts.http.answer("/fail/retryable", Reply(503))
    parts.http.answer("/fail/permanent", Reply(400))

    def make(mode: str) -> Target:
        path = "/hook" if mode == "ok" else f"/fail/{mode}"
        return build("http", parts, {"url": parts.http.url + path})

    async def received() -> Received:
        return [
            (r.json(), r.headers["x-eventbus-delivery-id"]) for r in parts.http.requests("/hook")
        ]

    return Harness("http", Features(), make, received)


def airflow_harness(parts: Parts) -> Harness:
    runs = "/api/v1/dags/d/dagRuns"
    parts.http.answer("/fail/retryable" + runs, Reply(503))
    parts.http.answer("/fail/permanent" + runs, Reply(403))

    def make(mode: str) -> Target:
        base = parts.http.url + ("" if mode == "ok" else f"/fail/{mode}")
        return build("airflow", parts, {"base_url": base, "dag_id": "d"})

    async def received() -> Received:
        return [
            (r.json()["conf"], r.headers["x-eventbus-delivery-id"])
            for r in parts.http.requests(runs)
        ]

    return Harness("airflow", Features(), make, received)


def bus_harness(parts: Parts) -> Harness:
    clients: list[AsyncEventBusClient] = []

    def make(mode: str) -> Target:
        url = {"ok": parts.url, "permanent": parts.url}.get(mode, "redis://127.0.0.1:1/0")
        client = AsyncEventBusClient.from_url(url)
        clients.append(client)
        services = TargetServices(redis=parts.redis, publish=client.put_events)
        source = {"source": "aws.reserved"} if mode == "permanent" else {}
        cls = load_target_class("bus")
        return cls(config(cls, {"bus_name": "audit", **source}), services)  # type: ignore[no-any-return]

    async def received() -> Received:
        entries = await parts.redis.xrange(keys.bus_stream("audit", 0))
        return [(orjson.loads(f[b"event"])["detail"], None) for _, f in entries]

    return Harness("bus", Features(delivery_id_visible=False), make, received, clients)


def python_harness(parts: Parts) -> Harness:
    handlers.CALLS.clear()
    functions = {"ok": "sync_handler", "retryable": "failing_handler"}

    def make(mode: str) -> Target:
        name = functions.get(mode, "refusing_handler")
        return build("python", parts, {"function": f"targets.handlers:{name}"})

    async def received() -> Received:
        return [(orjson.loads(payload), d) for _, payload, d in handlers.CALLS]

    return Harness("python", Features(), make, received)


def workflow_harness(parts: Parts) -> Harness:
    from eventbus.workflows.catalog import WorkflowCatalog, read_workflow
    from eventbus.workflows.executions import Executions

    text = '{"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": true}}}'
    machine, _ = read_workflow("contract.asl.json", text)
    assert machine is not None
    catalog = WorkflowCatalog({"contract": machine})
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0")

    def make(mode: str) -> Target:
        redis = unreachable if mode == "retryable" else parts.redis
        services = TargetServices(redis=redis, workflows=lambda: catalog)
        name = "not-a-machine" if mode == "permanent" else "contract"
        cls = load_target_class("workflow")
        return cls(config(cls, {"state_machine": name}), services)  # type: ignore[no-any-return]

    async def received() -> Received:
        api = Executions(parts.redis, {"contract": text})
        listed = (await api.list_executions("contract", max_results=1000))["executions"]
        described = [await api.describe_execution(e["executionArn"]) for e in reversed(listed)]
        return [(orjson.loads(d["input"]), None) for d in described]

    # Executions are listed by start time, to the millisecond: sends in turn may share one.
    features = Features(delivery_id_visible=False, ordered=False)
    return Harness("workflow", features, make, received)


HARNESSES = {
    "memory": memory_harness,
    "log": log_harness,
    "redis_stream": redis_harness("redis_stream", "stream"),
    "redis_list": redis_harness("redis_list", "list"),
    "http": http_harness,
    "airflow": airflow_harness,
    "bus": bus_harness,
    "python": python_harness,
    "workflow": workflow_harness,
}


@pytest.fixture(params=sorted(HARNESSES))
async def harness(
    request: pytest.FixtureRequest,
    services: TargetServices,
    aredis: aioredis.Redis,
    http_server: HttpServer,
    tmp_path: Path,
    redis_url: str,
) -> AsyncIterator[Harness]:
    await aredis.set("wrongtype", "a string where a stream or list is expected")
    h = HARNESSES[request.param](Parts(services, aredis, http_server, tmp_path, redis_url))
    yield h
    for client in h.clients:
        await client.close()


def payload(n: int) -> str:
    return orjson.dumps({"n": n}).decode()


def require(harness: Harness, feature: str) -> None:
    if not getattr(harness.features, feature):
        pytest.skip(f"{harness.type} has no {feature}")


async def test_builtin_types_are_all_covered() -> None:
    from eventbus.targets import known_target_types

    assert set(known_target_types()) <= set(HARNESSES)


async def test_satisfies_the_protocol(harness: Harness) -> None:
    target = harness.build("ok")
    assert isinstance(target, Target)
    assert issubclass(type(target).config_model, TargetConfig)
    await target.aclose()


async def test_config_refuses_unknown_fields(harness: Harness) -> None:
    target = harness.build("ok")
    assert type(target).config_model.model_config.get("extra") == "forbid"
    await target.aclose()


async def test_registered_under_its_type(harness: Harness) -> None:
    require(harness, "registered")
    assert type(harness.build("ok")) is load_target_class(harness.type)


async def test_delivers_each_payload_once_in_order_when_sent_in_turn(harness: Harness) -> None:
    target = harness.build("ok")
    for n in range(3):
        await target.send(payload(n), make_ctx(target=f"t{n}"))
    await target.aclose()
    arrived = [p for p, _ in await harness.received()]
    if not harness.features.ordered:
        arrived.sort(key=lambda p: p["n"])
    assert arrived == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_concurrent_sends_all_arrive(harness: Harness) -> None:
    target = harness.build("ok")
    await asyncio.gather(*(target.send(payload(n), make_ctx(target=f"t{n}")) for n in range(20)))
    await target.aclose()
    assert sorted(p["n"] for p, _ in await harness.received()) == list(range(20))


async def test_close_is_idempotent_and_needs_no_send(harness: Harness) -> None:
    unused = harness.build("ok")
    await unused.aclose()
    await unused.aclose()
    used = harness.build("ok")
    await used.send(payload(1), make_ctx())
    await used.aclose()
    await used.aclose()


async def test_outcome_is_a_dict_or_none(harness: Harness) -> None:
    target = harness.build("ok")
    outcome = await target.send(payload(1), make_ctx())
    await target.aclose()
    assert isinstance(outcome, dict) if harness.features.returns_outcome else outcome is None


async def test_receiver_sees_the_delivery_id(harness: Harness) -> None:
    require(harness, "delivery_id_visible")
    target = harness.build("ok")
    await target.send(payload(1), make_ctx())
    await target.aclose()
    assert [d for _, d in await harness.received()] == [make_ctx().delivery_id]


@pytest.mark.parametrize("mode", ["retryable", "permanent"])
async def test_failures_are_target_errors_saying_whether_to_retry(
    harness: Harness, mode: str
) -> None:
    require(harness, f"{mode}_failure")
    target = harness.build(mode)
    with pytest.raises(TargetError) as err:
        await target.send(payload(1), make_ctx())
    await target.aclose()
    assert err.value.retryable is (mode == "retryable")
    assert err.value.code and str(err.value)
    assert await harness.received() == []
