"""The Python clients: the same PutEvents behaviour, blocking and asyncio."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import orjson
import pytest
import redis
from event_strategies import ENTRIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import AsyncEventBusClient, EventBusClient, bus, keys
from eventbus.errors import BusError, BusTimeout

pytest_plugins = ["server_versions"]

ENTRY = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'}
BAD = {"Source": "shop", "DetailType": "OrderPlaced"}
STREAM = keys.bus_stream("default", 0)


def published(url: str, stream: str = STREAM) -> list[dict[str, Any]]:
    with redis.Redis.from_url(url) as client:
        return [orjson.loads(f[b"event"]) for _, f in client.xrange(stream)]


def test_sync_client_answers_the_put_events_shape(any_redis_url: str) -> None:
    with EventBusClient.from_url(any_redis_url) as client:
        result = client.put_events([ENTRY, BAD])
    assert result["FailedEntryCount"] == 1
    assert list(result["Entries"][1]) == ["ErrorCode", "ErrorMessage"]
    assert [e["id"] for e in published(any_redis_url)] == [result["Entries"][0]["EventId"]]


async def test_async_client_answers_the_put_events_shape(any_redis_url: str) -> None:
    async with AsyncEventBusClient.from_url(any_redis_url) as client:
        result = await client.put_events([ENTRY, BAD])
    assert result["FailedEntryCount"] == 1
    assert [e["id"] for e in published(any_redis_url)] == [result["Entries"][0]["EventId"]]


def test_malformed_entries_fail_alone_and_their_batch_mates_are_published(
    redis_url: str,
) -> None:
    # Given good entries around ones that used to raise or to be unwritable
    deep = '{"a":' * 299 + "{}" + "}" * 299
    entries = [
        ENTRY,
        ENTRY | {"Source": "shop\ud800"},  # a lone surrogate: no UTF-8 form
        ENTRY | {"Detail": deep},  # 300 levels
        ENTRY | {"Time": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
        ENTRY,
    ]
    with EventBusClient.from_url(redis_url) as client:
        result = client.put_events(entries)
    # Then each bad one has its own error and the good ones are on the bus
    first, surrogate, too_deep, year_one, last = result["Entries"]
    assert surrogate["ErrorCode"] == "InvalidArgument"
    assert surrogate["ErrorMessage"].startswith("Parameter Source is not valid.")
    assert too_deep == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert year_one == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Time is not valid.",
    }
    ids = [e["id"] for e in published(redis_url)]
    assert (result["FailedEntryCount"], ids) == (3, [first["EventId"], last["EventId"]])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ENTRIES, min_size=1, max_size=4))
def test_any_entries_get_one_answer_each_and_nothing_raised(
    redis_url: str, entries: list[dict[str, Any]]
) -> None:
    with EventBusClient.from_url(redis_url) as client:
        result = client.put_events(entries)
    answers = result["Entries"]
    assert len(answers) == len(entries)
    assert all(("EventId" in a) != ("ErrorCode" in a) for a in answers)
    assert result["FailedEntryCount"] == sum("ErrorCode" in a for a in answers)


async def test_both_clients_share_idempotency(redis_url: str) -> None:
    keyed = ENTRY | {"IdempotencyKey": "k"}
    with EventBusClient.from_url(redis_url) as client:
        first = client.put_events([keyed])["Entries"][0]
    async with AsyncEventBusClient.from_url(redis_url) as aclient:
        again = (await aclient.put_events([keyed]))["Entries"][0]
    assert again == first
    assert len(published(redis_url)) == 1


async def test_hops_are_recorded_on_the_bus_entry(redis_url: str) -> None:
    async with AsyncEventBusClient.from_url(redis_url) as client:
        await client.put_events([ENTRY], hops=3)
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        [(_, fields)] = r.xrange(STREAM)
    assert fields["hops"] == "3"


def test_a_client_built_on_a_given_redis_client_leaves_it_open(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    with EventBusClient(r) as client:
        client.put_events([ENTRY])
    assert r.ping()
    r.close()


def test_publishers_learn_a_bus_partition_count_from_redis(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        bus.run(r, bus.register_bus("orders", {"partitions": 3}))
    with EventBusClient.from_url(redis_url) as client:
        client.put_events([ENTRY | {"EventBusName": "orders"}] * 3)
    assert [len(published(redis_url, s)) for s in keys.bus_streams("orders", 3)] == [1, 1, 1]


def test_sync_client_raises_bus_error_when_redis_is_down(redis_factory: Any) -> None:
    server = redis_factory()
    client = EventBusClient.from_url(server.url)
    server.stop()
    with pytest.raises(BusError):
        client.put_events([ENTRY])
    client.close()


async def test_async_client_raises_bus_error_when_redis_is_down(redis_factory: Any) -> None:
    server = redis_factory()
    client = AsyncEventBusClient.from_url(server.url)
    server.stop()
    with pytest.raises(BusError):
        await client.put_events([ENTRY])
    await client.close()


def test_importing_eventbus_does_not_import_redis() -> None:
    code = "import sys, eventbus; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_from_env_uses_eventbus_redis_url(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTBUS_REDIS_URL", redis_url)
    with EventBusClient.from_env() as client:
        client.put_events([ENTRY])
    async with AsyncEventBusClient.from_env() as client:
        await client.put_events([ENTRY])
    assert len(published(redis_url)) == 2


def test_from_env_without_a_url_uses_the_embedded_default(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventbus import embedded

    monkeypatch.delenv("EVENTBUS_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    try:
        with EventBusClient.from_env() as client:
            client.put_events([ENTRY])
        running = embedded.find()
        assert running is not None and running.directory == tmp_path / ".eventbus"
        assert len(published(running.url)) == 1
    finally:
        embedded.stop()


async def test_concurrent_calls_on_one_async_client_each_get_their_own_answers(
    redis_url: str,
) -> None:
    # Given 50 calls in flight at once on one client, each with its own entries, a bad one, and
    # an idempotency key shared with other calls
    def entries(n: int) -> list[dict[str, Any]]:
        mine = ENTRY | {"Detail": orjson.dumps({"call": n}).decode()}
        return [mine, BAD, mine | {"IdempotencyKey": f"k{n % 5}"}]

    async with AsyncEventBusClient.from_url(redis_url) as client:
        results = await asyncio.gather(*(client.put_events(entries(n)) for n in range(50)))
    # Then each call's answers are about its own entries, in its order
    stored = {e["id"]: e["detail"] for e in published(redis_url)}
    for n, result in enumerate(results):
        plain, bad, keyed = result["Entries"]
        assert result["FailedEntryCount"] == 1
        assert stored[plain["EventId"]] == {"call": n}
        assert list(bad) == ["ErrorCode", "ErrorMessage"]
        # and a key published by several calls at once is stored once, every call told its id
        assert stored[keyed["EventId"]]["call"] % 5 == n % 5
    assert len(stored) == 50 + 5


@pytest.mark.timeout(30)
async def test_async_client_raises_bus_timeout_when_redis_does_not_answer(
    redis_factory: Any,
) -> None:
    server = redis_factory()
    async with AsyncEventBusClient.from_url(server.url, timeout=0.5) as client:
        await client.put_events([ENTRY])
        with server.paused(), pytest.raises(BusTimeout):
            await client.put_events([ENTRY])
        # Once Redis answers again, so does the client
        assert (await client.put_events([ENTRY]))["FailedEntryCount"] == 0


def test_async_client_works_from_event_loops_in_sequence(redis_url: str) -> None:
    client = AsyncEventBusClient.from_url(redis_url)
    results = [asyncio.run(client.put_events([ENTRY])) for _ in range(3)]
    asyncio.run(client.close())
    assert [r["FailedEntryCount"] for r in results] == [0, 0, 0]
    assert len(published(redis_url)) == 3


def test_async_client_timeout_must_be_positive(redis_url: str) -> None:
    with pytest.raises(ValueError, match="timeout"):
        AsyncEventBusClient.from_url(redis_url, timeout=0)
