"""Fault tests: Redis restarted (SHUTDOWN) or killed (SIGKILL) while producers publish.

The guarantee under test: every event ``put_events`` acknowledged is in the bus after Redis comes
back. A clean SHUTDOWN syncs the AOF, so any fsync policy keeps it; a SIGKILL (or a crash of the
machine) keeps it only under ``appendfsync always``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
import pytest
import redis
from redis_server import RedisServer
from server_versions import SERVER_BINARIES

from eventbus import EventBusClient, keys
from eventbus.errors import BusError

BATCH = 10
TOTAL_BATCHES = 150
RESTART_AFTER_BATCHES = 50


class Producer(threading.Thread):
    """Publishes batches until TOTAL_BATCHES were acknowledged, riding out Redis being away."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: list[str] = []
        self.failed_calls = 0
        self.halfway = threading.Event()

    def run(self) -> None:
        with EventBusClient.from_url(self.url) as client:
            n = 0
            while len(self.acknowledged) < TOTAL_BATCHES * BATCH:
                entries = [
                    {"Source": "durability", "DetailType": "Tick", "Detail": f'{{"n": {n + i}}}'}
                    for i in range(BATCH)
                ]
                n += BATCH
                try:
                    result = client.put_events(entries)
                except BusError:
                    self.failed_calls += 1
                    continue
                self.acknowledged += [e["EventId"] for e in result["Entries"] if "EventId" in e]
                if len(self.acknowledged) >= RESTART_AFTER_BATCHES * BATCH:
                    self.halfway.set()


def stored_ids(url: str) -> set[str]:
    with redis.Redis.from_url(url) as client:
        entries = client.xrange(keys.bus_stream("default", 0))
    return {orjson.loads(fields[b"event"])["id"] for _, fields in entries}


@pytest.fixture(params=sorted(SERVER_BINARIES))
def server_binary(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    binary = SERVER_BINARIES[request.param]
    if binary is None:
        pytest.skip(f"no {request.param} server binary on this machine")
    monkeypatch.setenv("EVENTBUS_TEST_REDIS_SERVER", binary)
    return binary


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fsync", "kill"),
    [("everysec", False), ("always", True)],
    ids=["shutdown-everysec", "sigkill-always"],
)
def test_no_acknowledged_event_is_lost_when_redis_restarts_during_publishing(
    server_binary: str, redis_factory: Callable[..., RedisServer], fsync: str, kill: bool
) -> None:
    # Given a Redis with AOF and a producer publishing in batches
    server = redis_factory(appendonly=True, fsync=fsync)
    producer = Producer(server.url)
    producer.start()
    # When Redis goes down (clean SHUTDOWN, or SIGKILL) and comes back once a third is published
    assert producer.halfway.wait(60)
    server.restart(kill=kill)
    producer.join(120)
    # Then every event put_events acknowledged is in the bus
    assert not producer.is_alive()
    lost = set(producer.acknowledged) - stored_ids(server.url)
    assert not lost, f"{len(lost)} acknowledged events lost ({producer.failed_calls} failed calls)"
