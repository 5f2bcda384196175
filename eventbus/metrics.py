"""EventBridge's metrics, counted by every router and gateway into one Redis hash.

Each process counts in memory (``count``/``observe`` are plain dict updates, cheap enough for the
delivery loop) and adds its counts to the hash ``eb:metrics`` once a second with HINCRBY, so any
gateway's ``GET /metrics`` shows the totals of all processes. Code counts under EventBridge's
CloudWatch metric names; the page names each family as Prometheus expects: the name in snake_case
behind an ``eventbus_`` prefix, counters ending in ``_total``, latencies (kept in milliseconds)
shown in seconds with ``_seconds``::

    metrics = Metrics(redis)
    metrics.count("Invocations", bus="default", rule="orders", target="audit")
    metrics.observe("IngestionToInvocationStartLatency", 12.5, bus="default", rule="orders")
    await metrics.flush()
    await render_metrics(redis)
    → ...
      # TYPE eventbus_invocations_total counter
      eventbus_invocations_total{bus="default",rule="orders",target="audit"} 1
      ...
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventbus import keys

__all__ = [
    "COUNTERS",
    "FLUSH_INTERVAL_SECONDS",
    "HISTOGRAMS",
    "LATENCY_BUCKETS_MS",
    "PREFIX",
    "Labels",
    "Metrics",
    "NullMetrics",
    "Series",
    "labels_of",
    "prometheus_name",
    "read_target_activity",
    "render_metrics",
    "series_of",
]

PREFIX = "eventbus_"
FLUSH_INTERVAL_SECONDS = 1.0
# How long closing waits for the last flush before leaving it behind.
CLOSE_TIMEOUT_SECONDS = 5.0
# Upper bounds in milliseconds; the last bucket (+Inf) is implicit.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
)

# EventBridge metric name → what it counts (AWS/Events namespace, reference §8.6). The page's
# HELP text is "EventBridge's <name>: <this>", so a dashboard author can find the AWS metric.
COUNTERS: dict[str, str] = {
    "PutEventsApproximateCallCount": "PutEvents calls received.",
    "PutEventsEntriesCount": "Entries received by PutEvents and CloudEvents.",
    "PutEventsFailedEntriesCount": "Entries that failed to be ingested.",
    "MatchedEvents": "Events that matched at least one rule (per bus), or a given rule.",
    "TriggeredRules": "Rules that matched an event and were run.",
    "Invocations": "Target invocations: successes and permanent failures, retries excluded.",
    "InvocationAttempts": "Every attempt to invoke a target, retries included.",
    "SuccessfulInvocationAttempts": "Attempts that delivered to the target.",
    "FailedInvocations": (
        "Invocations that failed for good, dead-lettered ones excluded: those of targets with "
        "no dead_letter, kept in the bus's default dead-letter stream."
    ),
    "RetryInvocationAttempts": "Attempts that were retries.",
    "DeadLetterInvocations": (
        "Invocations not made (loop detected, invalid input), and failed ones sent to a "
        "configured dead_letter stream."
    ),
}
HISTOGRAMS: dict[str, str] = {
    "IngestionToInvocationStartLatency": "Seconds from ingestion to the first attempt.",
    "IngestionToInvocationSuccessLatency": "Seconds from ingestion to a successful attempt.",
    "PutEventsLatency": "Seconds spent answering a PutEvents call.",
}


@functools.cache
def prometheus_name(name: str) -> str:
    """The family an EventBridge metric is shown as: ``"FailedInvocations"`` →
    ``"eventbus_failed_invocations_total"``, ``"PutEventsLatency"`` →
    ``"eventbus_put_events_latency_seconds"``."""
    snake = PREFIX + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    if name in COUNTERS:
        return f"{snake}_total"
    if name in HISTOGRAMS:
        return f"{snake}_seconds"
    raise KeyError(f"unknown metric {name!r}")


Labels = tuple[tuple[str, str], ...]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# The `le` label of each bucket as stored (milliseconds), in order, the last one catching
# everything, and as shown (seconds).
_BOUNDS = (*(_number(b) for b in LATENCY_BUCKETS_MS), "+Inf")
_SHOWN_BOUNDS = (*(_number(b / 1000) for b in LATENCY_BUCKETS_MS), "+Inf")


def labels_of(**labels: Any) -> Labels:
    """A series' labels, as :func:`series_of` and ``Metrics.succeeded`` take them."""
    return _labels(labels)


def _labels(labels: dict[str, Any]) -> Labels:
    return _sorted_labels(tuple(labels.items()))


# The gateway and tests count with keyword labels: the same few label sets each time.
@functools.lru_cache(maxsize=4096)
def _sorted_labels(items: tuple[tuple[str, Any], ...]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in items))


def _field(name: str, labels: Labels, part: str = "") -> str:
    """The hash field of one series: JSON, so label values never need escaping in Redis."""
    return orjson.dumps([name, labels, part]).decode()


class Series:
    """One label set with its hash fields encoded once: what hot paths count under.

    A delivery lane builds its own when it is built or refreshed (:func:`series_of`), so
    counting is a dict update keyed by a string whose hash Python keeps, never a label sort
    or a JSON encoding.
    """

    __slots__ = ("_counters", "_histograms", "error_field", "labels", "success_field")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.success_field = _activity_field(labels, "success")
        self.error_field = _activity_field(labels, "error")
        self._counters: dict[str, str] = {}
        self._histograms: dict[str, _HistogramFields] = {}

    def counter(self, name: str) -> str:
        """The hash field of counter ``name`` under these labels."""
        field = self._counters.get(name)
        if field is None:
            if name not in COUNTERS:
                raise KeyError(f"unknown counter {name!r}; known: {', '.join(COUNTERS)}")
            field = self._counters[name] = _field(name, self.labels)
        return field

    def histogram(self, name: str) -> _HistogramFields:
        """The hash fields of histogram ``name`` under these labels."""
        fields = self._histograms.get(name)
        if fields is None:
            if name not in HISTOGRAMS:
                raise KeyError(f"unknown histogram {name!r}; known: {', '.join(HISTOGRAMS)}")
            fields = self._histograms[name] = _HistogramFields(name, self.labels)
        return fields


@functools.lru_cache(maxsize=4096)
def series_of(labels: Labels) -> Series:
    """The :class:`Series` of ``labels`` (from :func:`labels_of`)."""
    return Series(labels)


class _HistogramFields:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self, name: str, labels: Labels) -> None:
        # Each bucket's own count (not cumulative) is stored: rendering adds them up.
        self.buckets = tuple(_field(name, labels, f"le={bound}") for bound in _BOUNDS)
        self.count = _field(name, labels, "count")
        self.sum = _field(name, labels, "sum")


class _Histogram:
    """What one histogram series observed since the last flush; kept (zeroed) across flushes."""

    __slots__ = ("buckets", "count", "fields", "total")

    def __init__(self, fields: _HistogramFields) -> None:
        self.fields = fields
        self.buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.count = 0
        self.total = 0.0

    def take(self, increments: list[str | int], sums: list[str | float]) -> None:
        """Add what was observed to a flush (only the buckets hit) and start over at zero."""
        buckets = self.buckets
        for field, n in zip(self.fields.buckets, buckets, strict=True):
            if n:
                increments += (field, n)
        increments += (self.fields.count, self.count)
        sums += (self.fields.sum, self.total)
        self.buckets = [0] * len(buckets)
        self.count = 0
        self.total = 0.0


class Metrics:
    """Counts in memory and adds them to Redis on ``flush()`` (or every second after ``start()``).

    Names are EventBridge's (``"Invocations"``); an unknown name is a ``KeyError`` at the call,
    so a typo cannot silently create a new series. A flush writes only the series counted since
    the last one, and sends nothing at all when nothing was.
    """

    def __init__(self, redis: Redis, *, key: str = keys.METRICS) -> None:
        self._redis = redis
        self._key = key
        # Hash field → increment since the last flush (counters, and histograms' buckets and
        # counts put back after a failed flush); field → float increment (histograms' sums).
        self._counts: dict[str, int] = {}
        self._sums: dict[str, float] = {}
        # Every histogram series seen (count field → histogram), reused flush after flush, and
        # those observed since the last flush.
        self._histograms: dict[str, _Histogram] = {}
        self._observed: dict[str, _Histogram] = {}
        # Each target's latest success (epoch s) and latest error (epoch s, message), for
        # `eventbus status`, by activity hash field: kept here and written with the counts,
        # never per delivery.
        self._successes: dict[str, float] = {}
        self._errors: dict[str, tuple[float, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._add = redis.register_script(_ADD)
        self._set = redis.register_script(_SET)

    def count(self, name: str, n: int = 1, **labels: Any) -> None:
        self.add(name, series_of(_labels(labels)), n)

    def add(self, name: str, series: Series, n: int = 1) -> None:
        """``count`` under a :class:`Series` made beforehand (hot paths)."""
        field = series.counter(name)
        counts = self._counts
        counts[field] = counts.get(field, 0) + n

    def observe(self, name: str, ms: float, **labels: Any) -> None:
        self.observe_in(name, series_of(_labels(labels)), (ms,))

    def observe_all(self, name: str, values: Iterable[float], **labels: Any) -> None:
        """``observe`` each of ``values`` (milliseconds) under the same labels."""
        self.observe_in(name, series_of(_labels(labels)), values)

    def observe_in(self, name: str, series: Series, values: Iterable[float]) -> None:
        """``observe_all`` under a :class:`Series` made beforehand (hot paths)."""
        fields = series.histogram(name)
        histogram = self._observed.get(fields.count)
        if histogram is None:
            histogram = self._histograms.get(fields.count)
            if histogram is None:
                histogram = self._histograms[fields.count] = _Histogram(fields)
            self._observed[fields.count] = histogram
        buckets, bisect_left = histogram.buckets, bisect.bisect_left
        n, total = 0, 0.0
        for ms in values:
            buckets[bisect_left(LATENCY_BUCKETS_MS, ms)] += 1
            n += 1
            total += ms
        histogram.count += n
        histogram.total += total

    def succeeded(self, series: Series | Labels, at: float) -> None:
        """Note a target's (``labels_of(bus=, rule=, target=)``) success at ``at`` (epoch s)."""
        if not isinstance(series, Series):
            series = series_of(series)
        self._successes[series.success_field] = at

    def failed(self, series: Series | Labels, at: float, error: str) -> None:
        """Note a target's failed attempt at ``at`` (epoch s) and why."""
        if not isinstance(series, Series):
            series = series_of(series)
        self._errors[series.error_field] = (at, error)

    async def flush(self) -> None:
        """Add what was counted since the last flush to Redis, in one command; none if nothing
        was counted.

        On a Redis error the counts are put back, so an outage delays them instead of losing them.
        """
        await self._flush_activity()
        counts, self._counts = self._counts, {}
        sums, self._sums = self._sums, {}
        observed, self._observed = self._observed, {}
        if not counts and not sums and not observed:
            return
        increments: list[str | int] = list(itertools.chain.from_iterable(counts.items()))
        floats: list[str | float] = list(itertools.chain.from_iterable(sums.items()))
        for histogram in observed.values():
            histogram.take(increments, floats)
        try:
            await self._add(keys=[self._key], args=[orjson.dumps([increments, floats])])
        except RedisError:
            self._restore(increments, floats)
            raise

    async def _flush_activity(self) -> None:
        successes, self._successes = self._successes, {}
        errors, self._errors = self._errors, {}
        if not successes and not errors:
            return
        pairs: list[str | float] = list(itertools.chain.from_iterable(successes.items()))
        for field, (at, error) in errors.items():
            pairs += (field, orjson.dumps([at, error]).decode())
        try:
            await self._set(keys=[keys.TARGET_ACTIVITY], args=[orjson.dumps(pairs)])
        except RedisError:
            for field, at in successes.items():  # newer ones noted meanwhile win
                self._successes.setdefault(field, at)
            for field, noted in errors.items():
                self._errors.setdefault(field, noted)
            raise

    def _restore(self, increments: list[str | int], floats: list[str | float]) -> None:
        """Put back what a failed flush took, to go with the next one."""
        counts, sums = self._counts, self._sums
        for field, n in zip(increments[::2], increments[1::2], strict=True):
            assert isinstance(field, str) and isinstance(n, int)
            counts[field] = counts.get(field, 0) + n
        for key, x in zip(floats[::2], floats[1::2], strict=True):
            assert isinstance(key, str) and isinstance(x, float)
            sums[key] = sums.get(key, 0.0) + x

    async def run(self, interval: float = FLUSH_INTERVAL_SECONDS) -> None:
        """Flush every ``interval`` seconds until :meth:`aclose`, then flush once more."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
            with contextlib.suppress(RedisError):
                await self.flush()

    def start(self, interval: float = FLUSH_INTERVAL_SECONDS) -> None:
        """Run :meth:`run` in the background of the current event loop."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.get_running_loop().create_task(self.run(interval))

    async def aclose(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Stop the background flusher (if started) and flush what is left; idempotent.

        The flusher is stopped by an event, never by ``cancel()``: a cancellation landing
        inside a redis-py call can be lost and leave ``aclose`` waiting forever. Each wait is
        bounded by ``timeout``; a flush still stuck past it is left behind, not awaited.
        """
        task, self._task = self._task, None
        self._stop.set()
        if task is None:
            task = asyncio.get_running_loop().create_task(self._flush_quietly())
        await asyncio.wait([task], timeout=timeout)

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(RedisError):
            await self.flush()


class NullMetrics(Metrics):
    """Counts nothing and writes nothing: only to measure what counting costs (a router run
    with ``EVENTBUS_BENCH_NO_METRICS=1``, see ``bench/bench_bus.py --metrics-cost``)."""

    def add(self, name: str, series: Series, n: int = 1) -> None:
        pass

    def observe_in(self, name: str, series: Series, values: Iterable[float]) -> None:
        pass

    def succeeded(self, series: Series | Labels, at: float) -> None:
        pass

    def failed(self, series: Series | Labels, at: float, error: str) -> None:
        pass


# One flush, one command, one argument: with thousands of series, redis-py packing two arguments
# per field would cost the router more than the counting. ARGV[1]: JSON [[field, n, ...],
# [field, x, ...]], added with HINCRBY and HINCRBYFLOAT.
_ADD = """
local data = cjson.decode(ARGV[1])
local ints, floats = data[1], data[2]
for i = 1, #ints, 2 do redis.call('HINCRBY', KEYS[1], ints[i], ints[i + 1]) end
for i = 1, #floats, 2 do redis.call('HINCRBYFLOAT', KEYS[1], floats[i], floats[i + 1]) end
return #ints / 2
"""
# Targets' latest success and error, likewise: ARGV[1] is JSON [field, value, ...] for HSET.
_SET = """
local pairs = cjson.decode(ARGV[1])
for i = 1, #pairs, 2 do redis.call('HSET', KEYS[1], pairs[i], pairs[i + 1]) end
return #pairs / 2
"""


def _activity_field(series: Labels, part: str) -> str:
    return orjson.dumps([series, part]).decode()


async def read_target_activity(redis: Redis) -> dict[Labels, dict[str, Any]]:
    """Each target's ``last_success`` (epoch s) and ``last_error`` ({"time", "error"}), as the
    routers' flushes left them, keyed by ``labels_of(bus=, rule=, target=)``."""
    activity: dict[Labels, dict[str, Any]] = {}
    for field, value in (await redis.hgetall(keys.TARGET_ACTIVITY)).items():
        series, part = orjson.loads(field)
        labels = tuple((k, v) for k, v in series)
        seen = activity.setdefault(labels, {})
        if part == "success":
            seen["last_success"] = orjson.loads(value)
        else:
            at, error = orjson.loads(value)
            seen["last_error"] = {"time": at, "error": error}
    return activity


# ---- Prometheus text exposition (format 0.0.4) ----

def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(name: str, labels: Labels | list[list[str]], extra: str = "") -> str:
    pairs = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        pairs.append(extra)
    return f"{name}{{{','.join(pairs)}}}" if pairs else name


def _histogram_lines(name: str, stored: dict[tuple[str, str], float]) -> list[str]:
    family = prometheus_name(name)
    lines: list[str] = []
    for labels_json in sorted({labels for labels, _ in stored}):
        labels = orjson.loads(labels_json)
        # Stored per bucket; Prometheus buckets are cumulative: each bound counts every
        # observation at or below it.
        running = 0.0
        for bound, shown in zip(_BOUNDS, _SHOWN_BOUNDS, strict=True):
            running += stored.get((labels_json, f"le={bound}"), 0.0)
            series = _series(f"{family}_bucket", labels, f'le="{shown}"')
            lines.append(f"{series} {_number(running)}")
        total_ms = stored.get((labels_json, "sum"), 0.0)
        lines.append(f"{_series(f'{family}_sum', labels)} {_number(total_ms / 1000)}")
        count = stored.get((labels_json, "count"), 0.0)
        lines.append(f"{_series(f'{family}_count', labels)} {_number(count)}")
    return lines


def _parse(raw: dict[Any, Any]) -> dict[str, dict[tuple[str, str], float]]:
    """Stored hash → metric name → (labels as JSON, part) → value."""
    by_name: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for field, value in raw.items():
        name, labels, part = orjson.loads(field)
        by_name[name][orjson.dumps(labels).decode(), part] = float(value)
    return by_name


async def render_metrics(redis: Redis, *, key: str = keys.METRICS) -> str:
    """Every series in Prometheus text format; each known family is listed even before it counts."""
    by_name = _parse(await redis.hgetall(key))
    lines: list[str] = []
    for name, help_text in COUNTERS.items():
        family = prometheus_name(name)
        lines += _header(family, name, help_text, "counter")
        for (labels_json, _), value in sorted(by_name.get(name, {}).items()):
            lines.append(f"{_series(family, orjson.loads(labels_json))} {_number(value)}")
    for name, help_text in HISTOGRAMS.items():
        lines += _header(prometheus_name(name), name, help_text, "histogram")
        lines += _histogram_lines(name, by_name.get(name, {}))
    return "\n".join(lines) + "\n"


def _header(family: str, name: str, help_text: str, kind: str) -> list[str]:
    return [f"# HELP {family} EventBridge's {name}: {help_text}", f"# TYPE {family} {kind}"]
