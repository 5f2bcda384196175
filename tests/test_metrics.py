"""Metrics: counted in memory, summed in Redis across processes, exposed in Prometheus text."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventbus import keys
from eventbus.metrics import (
    COUNTERS,
    HISTOGRAMS,
    MAX_FLUSH_INTERVAL_SECONDS,
    Metrics,
    labels_of,
    series_of,
)
from eventbus.metrics_page import prometheus_name, read_target_activity, render_metrics


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
    series = 'eventbus_invocations_total{bus="default",rule="orders",target="audit"}'
    assert _value(text, series) == "3"


async def test_unlabelled_counter_has_no_braces(redis: Redis) -> None:
    metrics = Metrics(redis)
    metrics.count("PutEventsApproximateCallCount")
    await metrics.flush()
    text = await render_metrics(redis)
    assert _value(text, "eventbus_put_events_approximate_call_count_total") == "1"


async def test_every_family_is_listed_before_anything_is_counted(redis: Redis) -> None:
    text = await render_metrics(redis)
    for family in (
        "eventbus_put_events_approximate_call_count_total",
        "eventbus_put_events_entries_count_total",
        "eventbus_put_events_failed_entries_count_total",
        "eventbus_matched_events_total",
        "eventbus_triggered_rules_total",
        "eventbus_invocations_total",
        "eventbus_failed_invocations_total",
        "eventbus_retry_invocation_attempts_total",
        "eventbus_dead_letter_invocations_total",
    ):
        assert f"# TYPE {family} counter" in text
    assert "# TYPE eventbus_ingestion_to_invocation_start_latency_seconds histogram" in text


async def test_histogram_buckets_are_cumulative_and_in_seconds(redis: Redis) -> None:
    # Given latencies of 3 ms and 40 ms
    metrics = Metrics(redis)
    metrics.observe("IngestionToInvocationStartLatency", 3, bus="b", rule="r")
    metrics.observe("IngestionToInvocationStartLatency", 40, bus="b", rule="r")
    await metrics.flush()
    # Then each bound (in seconds) counts the observations at or below it
    text = await render_metrics(redis)
    family = "eventbus_ingestion_to_invocation_start_latency_seconds"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="0.002"}}') == "0"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="0.005"}}') == "1"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="0.05"}}') == "2"
    assert _value(text, f'{family}_bucket{{bus="b",rule="r",le="+Inf"}}') == "2"
    assert _value(text, f'{family}_count{{bus="b",rule="r"}}') == "2"
    assert _value(text, f'{family}_sum{{bus="b",rule="r"}}') == "0.043"


async def test_histogram_buckets_add_up_across_flushes(redis: Redis) -> None:
    metrics = Metrics(redis)
    for ms in (3, 40, 400, 1):  # one flush each: each writes only the bucket it hit
        metrics.observe("IngestionToInvocationStartLatency", ms, bus="b")
        await metrics.flush()
    text = await render_metrics(redis)
    family = "eventbus_ingestion_to_invocation_start_latency_seconds"
    bounds = {"0.001": "1", "0.002": "1", "0.005": "2", "0.05": "3", "0.25": "3", "0.5": "4",
              "+Inf": "4"}  # fmt: skip
    for bound, expected in bounds.items():
        assert _value(text, f'{family}_bucket{{bus="b",le="{bound}"}}') == expected


async def test_label_values_are_escaped(redis: Redis) -> None:
    metrics = Metrics(redis)
    metrics.count("MatchedEvents", bus='we"ird\\bus')
    await metrics.flush()
    assert 'eventbus_matched_events_total{bus="we\\"ird\\\\bus"} 1' in await render_metrics(redis)


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
    assert _value(text, 'eventbus_triggered_rules_total{bus="default",rule="r"}') == "1"


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
    assert _value(text, 'eventbus_invocations_total{bus="x"}') == "1"
    assert _value(text, "eventbus_put_events_latency_seconds_count") == "1"
    await client.aclose()


async def _page_with_every_family(redis: Redis) -> str:
    metrics = Metrics(redis)
    for name in COUNTERS:
        metrics.count(name, bus="default", rule="r", target="t")
    for name in HISTOGRAMS:
        metrics.observe(name, 12.5, bus="default", rule="r", target="t")
    await metrics.flush()
    return await render_metrics(redis)


def _families(text: str) -> dict[str, str]:
    """``# TYPE`` lines: family → type."""
    return dict(line.split(" ")[2:4] for line in text.splitlines() if line.startswith("# TYPE "))


_SNAKE_CASE = re.compile(r"eventbus(_[a-z0-9]+)+")


async def test_family_names_are_snake_case(redis: Redis) -> None:
    families = _families(await _page_with_every_family(redis))
    assert len(families) == len(COUNTERS) + len(HISTOGRAMS)
    for family in families:
        assert _SNAKE_CASE.fullmatch(family), family


async def test_counters_end_in_total_and_histograms_in_seconds(redis: Redis) -> None:
    for family, kind in _families(await _page_with_every_family(redis)).items():
        assert family.endswith({"counter": "_total", "histogram": "_seconds"}[kind]), family
        assert "milli" not in family and "_ms" not in family


async def test_every_sample_belongs_to_its_declared_family(redis: Redis) -> None:
    text = await _page_with_every_family(redis)
    families = _families(text)
    suffixes = {"counter": ("",), "histogram": ("_bucket", "_sum", "_count")}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample = re.split(r"[{ ]", line, maxsplit=1)[0]
        assert any(
            sample == family + suffix
            for family, kind in families.items()
            for suffix in suffixes[kind]
        ), line


async def test_help_names_the_eventbridge_metric_each_family_mirrors(redis: Redis) -> None:
    text = await _page_with_every_family(redis)
    for name in (*COUNTERS, *HISTOGRAMS):
        assert f"# HELP {prometheus_name(name)} EventBridge's {name}: " in text


def test_prometheus_names_of_eventbridge_metrics() -> None:
    assert prometheus_name("Invocations") == "eventbus_invocations_total"
    assert prometheus_name("FailedInvocations") == "eventbus_failed_invocations_total"
    assert prometheus_name("DeadLetterInvocations") == "eventbus_dead_letter_invocations_total"
    assert prometheus_name("MatchedEvents") == "eventbus_matched_events_total"
    assert (
        prometheus_name("IngestionToInvocationStartLatency")
        == "eventbus_ingestion_to_invocation_start_latency_seconds"
    )


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not on the PATH")
async def test_promtool_finds_no_problem_in_the_page(redis: Redis) -> None:
    text = await _page_with_every_family(redis)
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_each_targets_last_success_and_error_are_written_by_the_flush(redis: Redis) -> None:
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


@pytest.mark.timeout(20)
async def test_close_is_bounded_when_redis_never_answers() -> None:
    # Given a flusher whose Redis accepts connections but never answers
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # holds the connection open, answers nothing

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    metrics = Metrics(Redis(port=port))
    metrics.start(interval=0.01)
    metrics.count("TriggeredRules", bus="default", rule="r")
    # When it is closed with a short bound, the close returns (the stuck flush is left behind)
    await metrics.aclose(timeout=0.2)
    server.close()


async def _commands_run(redis: Redis) -> int:
    """Commands the server ran so far, scripts' own calls included (INFO commandstats)."""
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


async def test_a_flush_with_nothing_counted_sends_nothing(redis: Redis) -> None:
    # Given a flush that wrote what was counted
    metrics = Metrics(redis)
    metrics.count("Invocations", bus="b")
    metrics.succeeded(labels_of(bus="b", rule="r", target="t"), 1.0)
    await metrics.flush()
    # When nothing more is counted and it flushes again
    before = await _commands_run(redis)
    await metrics.flush()
    await metrics.flush()
    # Then Redis was sent no command at all
    assert await _commands_run(redis) == before


async def test_a_flush_writes_only_the_series_counted_since_the_last(redis: Redis) -> None:
    # Given two targets' series, both flushed once
    metrics = Metrics(redis)
    one, two = (
        series_of(labels_of(bus="b", rule="r", target="one")),
        series_of(labels_of(bus="b", rule="r", target="two")),
    )
    for series in (one, two):
        metrics.add("Invocations", series)
        metrics.observe_in("IngestionToInvocationSuccessLatency", series, [3.0])
    await metrics.flush()
    # When only the first counts again
    metrics.add("Invocations", one)
    metrics.observe_in("IngestionToInvocationSuccessLatency", one, [40.0])
    before = await redis.info("commandstats")
    await metrics.flush()
    after = await redis.info("commandstats")

    # Then the flush wrote its counter and its histogram's bucket, count and sum: 4 fields
    def calls(stats: dict[str, Any], command: str) -> int:
        return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))

    assert calls(after, "hincrby") - calls(before, "hincrby") == 3
    assert calls(after, "hincrbyfloat") - calls(before, "hincrbyfloat") == 1
    # And the totals are right: the second target's untouched, the first's added up
    text = await render_metrics(redis)
    assert _value(text, 'eventbus_invocations_total{bus="b",rule="r",target="one"}') == "2"
    assert _value(text, 'eventbus_invocations_total{bus="b",rule="r",target="two"}') == "1"
    family = "eventbus_ingestion_to_invocation_success_latency_seconds"
    assert _value(text, f'{family}_count{{bus="b",rule="r",target="one"}}') == "2"
    assert _value(text, f'{family}_sum{{bus="b",rule="r",target="one"}}') == "0.043"
    assert _value(text, f'{family}_count{{bus="b",rule="r",target="two"}}') == "1"


@given(label=st.text(max_size=20), name=st.sampled_from(sorted(COUNTERS)))
def test_a_series_hash_field_is_the_json_of_its_name_labels_and_part(label: str, name: str) -> None:
    # Fields are made from labels encoded once; they must be the very text every process (and
    # the page) reads, [name, labels, part] as JSON, whatever the label's characters.
    series = series_of(labels_of(bus=label, rule="r"))
    labels = [["bus", label], ["rule", "r"]]
    assert series.counter(name) == orjson.dumps([name, labels, ""]).decode()
    latency = "IngestionToInvocationStartLatency"
    fields = series.histogram(latency)
    assert fields.count == orjson.dumps([latency, labels, "count"]).decode()
    assert fields.bucket(2) == orjson.dumps([latency, labels, "le=5"]).decode()
    assert series.success_field == orjson.dumps([labels, "success"]).decode()


async def test_first_attempts_count_an_attempt_a_success_an_invocation_and_both_latencies(
    redis: Redis,
) -> None:
    # Given deliveries made on their first attempt, over two flushes
    metrics = Metrics(redis)
    series = series_of(labels_of(bus="b", rule="r", target="t"))
    for _flush in range(2):
        for _ in range(100):
            metrics.first_attempts_succeeded([(series, 3.0), (series, 40.0)], 12.0)
        await metrics.flush()
    # Then each counts once in every counter and both histograms, and its success time is kept
    text = await render_metrics(redis)
    n, labels = 400, 'bus="b",rule="r",target="t"'
    for family in ("invocation_attempts", "successful_invocation_attempts", "invocations"):
        assert _value(text, f"eventbus_{family}_total{{{labels}}}") == str(n)
    for family in ("start", "success"):
        name = f"eventbus_ingestion_to_invocation_{family}_latency_seconds"
        assert _value(text, f'{name}_bucket{{{labels},le="0.005"}}') == str(n // 2)
        assert _value(text, f"{name}_count{{{labels}}}") == str(n)
    assert (await read_target_activity(redis))[series.labels] == {"last_success": 12.0}


async def test_flushes_of_many_series_wait_longer_while_counting_goes_on(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventbus.metrics.FLUSH_FIELDS_PER_SECOND", 10)  # a small "many"
    metrics = Metrics(redis)

    def count(series: int) -> None:
        for i in range(series):
            metrics.add("Invocations", series_of(labels_of(bus="b", rule=str(i))))

    # A few series counted: a flush is due a second after the last, as usual
    count(1)
    assert metrics.due(1.0)
    await metrics.flush()
    # Many, still being counted: once a second per FLUSH_FIELDS_PER_SECOND fields it would write
    count(30)
    assert not metrics.due(2.9)
    count(30)
    assert metrics.due(3.0)
    # And never later than MAX_FLUSH_INTERVAL_SECONDS
    count(1000)
    assert metrics.due(MAX_FLUSH_INTERVAL_SECONDS)
    await metrics.flush()
    # Many, but nothing counted since the last tick: the burst is over, it is written now
    count(1000)
    assert not metrics.due(0.5)
    assert metrics.due(0.6)


async def test_first_attempts_add_to_the_same_fields_as_other_counts(redis: Redis) -> None:
    # Given a series with labels that need escaping, counted by both paths
    metrics = Metrics(redis)
    series = series_of(labels_of(bus='we"ird\\bus ü\n', rule="r", target="t"))
    metrics.first_attempts_succeeded([(series, 3.0)], 1.0)
    metrics.add("Invocations", series)
    metrics.observe_in("IngestionToInvocationSuccessLatency", series, [4.0])
    await metrics.flush()
    # Then each total is one field (the script names fields as this process does): three
    # counters, and a bucket, count and sum for each of two histograms
    raw = await redis.hgetall(keys.METRICS)
    assert len(raw) == 9
    totals = {tuple(orjson.loads(k)[::2]): float(v) for k, v in raw.items()}
    assert totals["Invocations", ""] == 2
    assert totals["IngestionToInvocationSuccessLatency", "count"] == 2
    assert totals["IngestionToInvocationSuccessLatency", "le=5"] == 2
    assert totals["IngestionToInvocationStartLatency", "count"] == 1
