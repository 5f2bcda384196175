"""What the metrics flushes left in Redis, read back: the Prometheus page (``GET /metrics``)
and each target's latest success and error (``eventbus status``).

The hash ``eb:metrics`` holds one field per series and part, ``[name, labels, part]`` as JSON
(see :mod:`eventbus.metrics`), summed over every process; the page shows each EventBridge metric
as a Prometheus family: ``"FailedInvocations"`` → ``eventbus_failed_invocations_total``,
latencies in seconds.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus import keys
from eventbus.metrics import BUCKET_BOUNDS, COUNTERS, HISTOGRAMS, LATENCY_BUCKETS_MS, Labels

__all__ = ["PREFIX", "prometheus_name", "read_target_activity", "render_metrics"]

PREFIX = "eventbus_"


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


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# Each bucket's bound as shown, in seconds.
_SHOWN_BOUNDS = (*(_number(b / 1000) for b in LATENCY_BUCKETS_MS), "+Inf")


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
        for bound, shown in zip(BUCKET_BOUNDS, _SHOWN_BOUNDS, strict=True):
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
