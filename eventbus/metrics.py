"""EventBridge's metrics, counted by every router and gateway into one Redis hash.

Each process counts in memory (``count``/``observe`` are plain dict updates, cheap enough for the
delivery loop) and adds its counts to the hash ``eb:metrics`` once a second with HINCRBY (less
often when there are many series), so any gateway's ``GET /metrics`` shows the totals of all
processes (:mod:`eventbus.metrics_page`). Code counts under EventBridge's CloudWatch metric
names; the page names each family as Prometheus expects: the name in snake_case behind an
``eventbus_`` prefix, counters ending in ``_total``, latencies (kept in milliseconds) shown in
seconds with ``_seconds``::

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
import time
from collections.abc import Iterable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventbus import keys

__all__ = [
    "BUCKET_BOUNDS",
    "COUNTERS",
    "FIRST_ATTEMPT_COUNTERS",
    "FIRST_ATTEMPT_HISTOGRAMS",
    "FLUSH_FIELDS_PER_SECOND",
    "FLUSH_INTERVAL_SECONDS",
    "HISTOGRAMS",
    "LATENCY_BUCKETS_MS",
    "MAX_FLUSH_INTERVAL_SECONDS",
    "Labels",
    "Metrics",
    "NullMetrics",
    "Series",
    "labels_of",
    "series_of",
]

FLUSH_INTERVAL_SECONDS = 1.0
# A flush of many series waits longer: it is due once a second per this many hash fields it
# would write has passed since the last one, at most MAX_FLUSH_INTERVAL_SECONDS. With thousands
# of rules each matched now and then, nearly every series changes within a second, and writing
# them all every second (ten fields for a lane's inline deliveries) cost the router and Redis
# more than the deliveries themselves; waiting lets each series gather more counts per write.
# Prometheus scrapes every 15 s by default, so the page is still fresh for it.
FLUSH_FIELDS_PER_SECOND = 10_000
MAX_FLUSH_INTERVAL_SECONDS = 10.0
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


# What a delivery made on its first attempt counts (Metrics.first_attempts_succeeded).
FIRST_ATTEMPT_COUNTERS = ("InvocationAttempts", "SuccessfulInvocationAttempts", "Invocations")
FIRST_ATTEMPT_HISTOGRAMS = (
    "IngestionToInvocationStartLatency", "IngestionToInvocationSuccessLatency",
)

Labels = tuple[tuple[str, str], ...]


# The `le` part of each bucket's hash field (milliseconds), in order, the last one catching
# everything: "le=1", ..., "le=300000", "le=+Inf".
BUCKET_BOUNDS = (*(str(b) for b in LATENCY_BUCKETS_MS), "+Inf")


def labels_of(**labels: Any) -> Labels:
    """A series' labels, as :func:`series_of` and ``Metrics.succeeded`` take them."""
    return _labels(labels)


def _labels(labels: dict[str, Any]) -> Labels:
    return _sorted_labels(tuple(labels.items()))


# The gateway and tests count with keyword labels: the same few label sets each time.
@functools.lru_cache(maxsize=4096)
def _sorted_labels(items: tuple[tuple[str, Any], ...]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in items))


def _prefix(name: str, labels_json: str) -> str:
    """The start of every hash field of ``name`` under labels already encoded: a field is
    ``prefix + '<part>"]'``, the text of ``orjson.dumps([name, labels, part])`` (metric names
    and parts are plain ASCII), without encoding the labels again for each name and part.
    JSON, so label values never need escaping in Redis."""
    return f'["{name}",{labels_json},"'


class Series:
    """One label set with its hash fields encoded once: what hot paths count under.

    A delivery lane builds its own when it is built or refreshed (:func:`series_of`), so
    counting is a dict update keyed by a string whose hash Python keeps, never a label sort
    or a JSON encoding.
    """

    __slots__ = ("_counters", "_histograms", "error_field", "labels", "labels_json",
                 "success_field")  # fmt: skip

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.labels_json = orjson.dumps(labels).decode()
        # Target activity fields: orjson.dumps([labels, "success"]) and [labels, "error"].
        self.success_field = f'[{self.labels_json},"success"]'
        self.error_field = f'[{self.labels_json},"error"]'
        self._counters: dict[str, str] = {}
        self._histograms: dict[str, _HistogramFields] = {}

    def counter(self, name: str) -> str:
        """The hash field of counter ``name`` under these labels."""
        field = self._counters.get(name)
        if field is None:
            if name not in COUNTERS:
                raise KeyError(f"unknown counter {name!r}; known: {', '.join(COUNTERS)}")
            field = self._counters[name] = _prefix(name, self.labels_json) + '"]'
        return field

    def histogram(self, name: str) -> _HistogramFields:
        """The hash fields of histogram ``name`` under these labels."""
        fields = self._histograms.get(name)
        if fields is None:
            if name not in HISTOGRAMS:
                raise KeyError(f"unknown histogram {name!r}; known: {', '.join(HISTOGRAMS)}")
            fields = self._histograms[name] = _HistogramFields(_prefix(name, self.labels_json))
        return fields


@functools.lru_cache(maxsize=4096)
def series_of(labels: Labels) -> Series:
    """The :class:`Series` of ``labels`` (from :func:`labels_of`)."""
    return Series(labels)


class _HistogramFields:
    """The hash fields of one histogram series; a bucket's is made when it is first flushed
    (most series only ever hit a few of the buckets)."""

    __slots__ = ("_buckets", "_prefix", "count", "sum")

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._buckets: list[str | None] = [None] * len(BUCKET_BOUNDS)
        self.count = prefix + 'count"]'
        self.sum = prefix + 'sum"]'

    def bucket(self, index: int) -> str:
        """The field of bucket ``index``: each bucket's own count (not cumulative) is stored,
        rendering adds them up."""
        field = self._buckets[index]
        if field is None:
            field = self._buckets[index] = f'{self._prefix}le={BUCKET_BOUNDS[index]}"]'
        return field


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
        buckets, fields = self.buckets, self.fields
        for index, n in enumerate(buckets):
            if n:
                increments += (fields.bucket(index), n)
        increments += (self.fields.count, self.count)
        sums += (self.fields.sum, self.total)
        self.buckets = [0] * len(buckets)
        self.count = 0
        self.total = 0.0


class _FirstAttempts:
    """One series' first attempts since the last flush: how many, their latencies' sum, and
    how many fell in each bucket (by index)."""

    __slots__ = ("buckets", "n", "total")

    def __init__(self) -> None:
        self.n, self.total = 0, 0.0
        self.buckets: dict[int, int] = {}

    def merge(self, other: _FirstAttempts) -> None:
        """Add ``other`` (taken by a flush that failed) back in."""
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.n += other.n
        self.total += other.total


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
        # First attempts that succeeded, tallied by series (first_attempts_succeeded).
        self._first_attempts: dict[Series, _FirstAttempts] = {}
        self._counted = self._ticked = 0  # calls that counted: so far, and at the last tick
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
        self._counted += 1

    def add_fields(self, counted: Iterable[tuple[str, int]]) -> None:
        """Add each (hash field, n), the fields from ``Series.counter``: a routed batch's
        counts in one call, not one per rule it matched."""
        counts = self._counts
        for field, n in counted:
            counts[field] = counts.get(field, 0) + n
        self._counted += 1

    def observe(self, name: str, ms: float, **labels: Any) -> None:
        self.observe_in(name, series_of(_labels(labels)), (ms,))

    def observe_all(self, name: str, values: Iterable[float], **labels: Any) -> None:
        """``observe`` each of ``values`` (milliseconds) under the same labels."""
        self.observe_in(name, series_of(_labels(labels)), values)

    def observe_in(self, name: str, series: Series, values: Iterable[float]) -> None:
        """``observe_all`` under a :class:`Series` made beforehand (hot paths)."""
        histogram = self._histogram(series.histogram(name))
        buckets, bisect_left = histogram.buckets, bisect.bisect_left
        n, total = 0, 0.0
        for ms in values:
            buckets[bisect_left(LATENCY_BUCKETS_MS, ms)] += 1
            n += 1
            total += ms
        histogram.count += n
        histogram.total += total
        self._counted += 1

    def first_attempts_succeeded(self, made: Iterable[tuple[Series, float]], at: float) -> None:
        """Deliveries made on their first attempt (inline, while routing), each a (series,
        ms after its ingestion) pair, at ``at`` (epoch s): one attempt, one success and one
        invocation each, and both latencies.

        A router calls this once per routed batch, whose deliveries touch as many series as
        there are rules matched: with thousands of rules, about one per delivery. So the tally
        is made here, per delivery and with no call per series; the flush sends each series'
        tally as one short record, which the script spreads over the five series' fields."""
        tallies, successes, bisect_left = self._first_attempts, self._successes, bisect.bisect_left
        for series, ms in made:
            tally = tallies.get(series)
            if tally is None:
                tally = tallies[series] = _FirstAttempts()
            buckets = tally.buckets
            index = bisect_left(LATENCY_BUCKETS_MS, ms)
            buckets[index] = buckets.get(index, 0) + 1
            tally.n += 1
            tally.total += ms
            successes[series.success_field] = at
        self._counted += 1

    def _histogram(self, fields: _HistogramFields) -> _Histogram:
        """The histogram of ``fields``, marked as observed since the last flush."""
        histogram = self._observed.get(fields.count)
        if histogram is None:
            histogram = self._histograms.get(fields.count)
            if histogram is None:
                histogram = self._histograms[fields.count] = _Histogram(fields)
            self._observed[fields.count] = histogram
        return histogram

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
        first_attempts, self._first_attempts = self._first_attempts, {}
        if not counts and not sums and not observed and not first_attempts:
            return
        increments: list[str | int] = list(itertools.chain.from_iterable(counts.items()))
        floats: list[str | float] = list(itertools.chain.from_iterable(sums.items()))
        for histogram in observed.values():
            histogram.take(increments, floats)
        # [labels JSON, n, sum, bucket index, count, ...] per series: a tenth of the bytes of
        # its fields written out, encoded with no Python loop over them.
        records = [
            [series.labels_json, t.n, t.total, *itertools.chain.from_iterable(t.buckets.items())]
            for series, t in first_attempts.items()
        ]
        try:
            await self._add(keys=[self._key], args=[orjson.dumps([increments, floats, records])])
        except RedisError:
            self._restore(increments, floats)
            for series, tally in first_attempts.items():
                self._first_attempts.setdefault(series, _FirstAttempts()).merge(tally)
            raise

    def due(self, waited: float) -> bool:
        """Whether to flush ``waited`` seconds after the last flush (asked once a tick): at once
        with a few series counted, with many once a second per ``FLUSH_FIELDS_PER_SECOND``
        fields they would write has passed, always after ``MAX_FLUSH_INTERVAL_SECONDS``, and
        as soon as nothing was counted since the last tick: what a burst counted is written as
        it ends, not left for the quiet after it."""
        counting, self._ticked = self._counted != self._ticked, self._counted
        # About the fields each would write: a counter one, a histogram its count, sum and a
        # bucket or so, a lane's first attempts three counters and two histograms.
        fields = len(self._counts) + len(self._sums) + 3 * len(self._observed)
        fields += 9 * len(self._first_attempts) + len(self._successes) + len(self._errors)
        spaced = min(fields / FLUSH_FIELDS_PER_SECOND, MAX_FLUSH_INTERVAL_SECONDS)
        return not counting or waited >= spaced

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
        """Flush every ``interval`` seconds (less often with many series, see :meth:`due`)
        until :meth:`aclose`, then flush once more."""
        last = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
            if self._stop.is_set() or self.due(time.monotonic() - last):
                last = time.monotonic()
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

    def add_fields(self, counted: Iterable[tuple[str, int]]) -> None:
        pass

    def observe_in(self, name: str, series: Series, values: Iterable[float]) -> None:
        pass

    def first_attempts_succeeded(self, made: Iterable[tuple[Series, float]], at: float) -> None:
        pass

    def succeeded(self, series: Series | Labels, at: float) -> None:
        pass

    def failed(self, series: Series | Labels, at: float, error: str) -> None:
        pass


def _lua_strings(values: tuple[str, ...]) -> str:
    """A Lua table of strings (plain ASCII names)."""
    return "{" + ", ".join(f"'{v}'" for v in values) + "}"


# One flush, one command, one argument: with thousands of series, redis-py packing two arguments
# per field would cost the router more than the counting. ARGV[1]: JSON [[field, n, ...],
# [field, x, ...], first attempts], added with HINCRBY and HINCRBYFLOAT; each first-attempts
# record, [labels JSON, n, sum, bucket index, count, ...], adds n to each FIRST_ATTEMPT_COUNTERS
# series and its buckets, count and sum to each FIRST_ATTEMPT_HISTOGRAMS series, making the
# fields as Series does: '["<name>",<labels>,"<part>"]'.
_ADD = """
local data = cjson.decode(ARGV[1])
local ints, floats, firsts = data[1], data[2], data[3] or {}
for i = 1, #ints, 2 do redis.call('HINCRBY', KEYS[1], ints[i], ints[i + 1]) end
for i = 1, #floats, 2 do redis.call('HINCRBYFLOAT', KEYS[1], floats[i], floats[i + 1]) end
local counters, histograms, bounds = COUNTERS, HISTOGRAMS, BOUNDS
for _, r in ipairs(firsts) do
  local labels, n = r[1], r[2]
  for _, name in ipairs(counters) do
    redis.call('HINCRBY', KEYS[1], '["' .. name .. '",' .. labels .. ',""]', n)
  end
  for _, name in ipairs(histograms) do
    local prefix = '["' .. name .. '",' .. labels .. ',"'
    for i = 4, #r, 2 do
      redis.call('HINCRBY', KEYS[1], prefix .. 'le=' .. bounds[r[i] + 1] .. '"]', r[i + 1])
    end
    redis.call('HINCRBY', KEYS[1], prefix .. 'count"]', n)
    redis.call('HINCRBYFLOAT', KEYS[1], prefix .. 'sum"]', r[3])
  end
end
return #ints / 2
""".replace("COUNTERS", _lua_strings(FIRST_ATTEMPT_COUNTERS)).replace(
    "HISTOGRAMS", _lua_strings(FIRST_ATTEMPT_HISTOGRAMS)
).replace("BOUNDS", _lua_strings(BUCKET_BOUNDS))
# Targets' latest success and error, likewise: ARGV[1] is JSON [field, value, ...] for HSET.
_SET = """
local pairs = cjson.decode(ARGV[1])
for i = 1, #pairs, 2 do redis.call('HSET', KEYS[1], pairs[i], pairs[i + 1]) end
return #pairs / 2
"""
