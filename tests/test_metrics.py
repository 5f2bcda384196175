"""Metrics: counted in memory, summed in Redis across processes, exposed in Prometheus text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventbus.metrics import Metrics, render_metrics


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _value(text: str, series: str) -> str:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return line.split(" ")[-1]
    raise AssertionError(f"{series} not in\n{text}")


async def test_counts_from_two_processes_add_up(redis: Redis) -> None:
    # Given two processes counting the same series
    a, b = Metrics(redis), Metrics(redis)
    a.count("Invocations", bus="default", rule="orders", target="audit")
    b.count("Invocations", 2, bus="default", rule="orders", target="audit")
    # When both flush
    await a.flush()
    await b.flush()
    # Then the page shows the sum, with labels in bus, rule, target order
    text = await render_metrics(redis)
    series = 'eventbus_Invocations_total{bus="default",rule="orders",target="audit"}'
    assert _value(text, series) == "3"


async def test_unlabelled_counter_has_no_braces(redis: Redis) -> None:
    metrics = Metrics(redis)
    metrics.count("PutEventsApproximateCallCount")
    await metrics.flush()
    text = await render_metrics(redis)
    assert _value(text, "eventbus_PutEventsApproximateCallCount_total") == "1"


async def test_every_family_is_listed_before_anything_is_counted(redis: Redis) -> None:
    text = await render_metrics(redis)
    for family in (
        "eventbus_PutEventsApproximateCallCount_total",
        "eventbus_PutEventsEntriesCount_total",
        "eventbus_PutEventsFailedEntriesCount_total",
        "eventbus_MatchedEvents_total",
        "eventbus_TriggeredRules_total",
        "eventbus_Invocations_total",
        "eventbus_FailedInvocations_total",
        "eventbus_RetryInvocationAttempts_total",
        "eventbus_DeadLetterInvocations_total",
    ):
        assert f"# TYPE {family} counter" in text
    assert "# TYPE eventbus_IngestionToInvocationStartLatency histogram" in text


async def test_histogram_buckets_are_cumulative(redis: Redis) -> None:
    # Given latencies of 3 ms and 40 ms
    metrics = Metrics(redis)
    metrics.observe("IngestionToInvocationStartLatency", 3, bus="b", rule="r")
    metrics.observe("IngestionToInvocationStartLatency", 40, bus="b", rule="r")
    await metrics.flush()
    # Then each bound counts the observations at or below it
    text = await render_metrics(redis)
    family = "eventbus_IngestionToInvocationStartLatency"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="2"}}') == "0"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="5"}}') == "1"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="50"}}') == "2"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="+Inf"}}') == "2"
    assert _value(text, f'{family}_count{{bus="b",rule="r"}}') == "2"
    assert _value(text, f'{family}_sum{{bus="b",rule="r"}}') == "43"


async def test_histogram_buckets_add_up_across_flushes(redis: Redis) -> None:
    metrics = Metrics(redis)
    for ms in (3, 40, 400, 1):  # one flush each: each writes only the bucket it hit
        metrics.observe("IngestionToInvocationStartLatency", ms, bus="b")
        await metrics.flush()
    text = await render_metrics(redis)
    family = "eventbus_IngestionToInvocationStartLatency"
    bounds = {"1": "1", "2": "1", "5": "2", "50": "3", "250": "3", "500": "4", "+Inf": "4"}
    for bound, expected in bounds.items():
        assert _value(text, f'{family}_bucket{{bus="b",le="{bound}"}}') == expected


async def test_label_values_are_escaped(redis: Redis) -> None:
    metrics = Metrics(redis)
    metrics.count("MatchedEvents", bus='we"ird\\bus')
    await metrics.flush()
    assert 'eventbus_MatchedEvents_total{bus="we\\"ird\\\\bus"} 1' in await render_metrics(redis)


def test_unknown_name_is_refused_at_the_call(redis_url: str) -> None:
    metrics = Metrics(Redis.from_url(redis_url))
    with pytest.raises(KeyError, match="Invocation"):
        metrics.count("Invocation")
    with pytest.raises(KeyError):
        metrics.observe("Latency", 1.0)


async def test_background_flusher_flushes_on_close(redis: Redis) -> None:
    # Given a started flusher with a long interval
    metrics = Metrics(redis)
    metrics.start(interval=3600)
    metrics.count("TriggeredRules", bus="default", rule="r")
    # When it is closed (twice: closing is idempotent)
    await metrics.aclose()
    await metrics.aclose()
    # Then what was counted reached Redis
    text = await render_metrics(redis)
    assert _value(text, 'eventbus_TriggeredRules_total{bus="default",rule="r"}') == "1"


async def test_counts_survive_a_failed_flush(redis_factory: Any) -> None:
    # Given a count made while Redis is down
    server = redis_factory()
    client = Redis.from_url(server.url)
    metrics = Metrics(client)
    metrics.count("Invocations", bus="x")
    metrics.observe("PutEventsLatency", 1.5)
    server.stop()
    with pytest.raises(RedisError):
        await metrics.flush()
    # When Redis is back and the next flush succeeds
    server.start()
    await metrics.flush()
    # Then the count was kept, not lost
    text = await render_metrics(client)
    assert _value(text, 'eventbus_Invocations_total{bus="x"}') == "1"
    assert _value(text, "eventbus_PutEventsLatency_count") == "1"
    await client.aclose()


async def test_each_targets_last_success_and_error_are_written_by_the_flush(redis: Redis) -> None:
    from eventbus.metrics import labels_of, read_target_activity

    metrics = Metrics(redis)
    out = labels_of(bus="b", rule="r", target="out")
    api = labels_of(bus="b", rule="r", target="api")
    metrics.succeeded(out, 100.0)
    metrics.succeeded(out, 101.5)  # the latest wins
    metrics.failed(api, 102.0, "HTTP_ERROR: connection refused")
    assert await read_target_activity(redis) == {}  # nothing written per delivery
    await metrics.flush()
    assert await read_target_activity(redis) == {
        out: {"last_success": 101.5},
        api: {"last_error": {"time": 102.0, "error": "HTTP_ERROR: connection refused"}},
    }
