"""Shared benchmark helpers: realistic events, a rate timer and a plain-text table.

Other benchmarks may add functions at the end of this file; existing ones keep their meaning.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["SOURCES", "STATUSES", "make_event", "make_events", "measure_rate", "print_table"]

SOURCES = ["shop.orders", "shop.payments", "shop.inventory", "auth.users"]
DETAIL_TYPES = ["OrderPlaced", "OrderShipped", "PaymentFailed", "StockLow", "UserSignedUp"]
STATUSES = ["new", "paid", "shipped", "cancelled", "failed"]
REGIONS = ["us-east-1", "eu-west-1", "ap-south-1"]
TIERS = ["free", "silver", "gold"]
COUNTRIES = ["DE", "FR", "US", "IN", "BR", "JP"]


def make_event(rng: random.Random, domain: int) -> dict[str, Any]:
    """One event shaped like a real order event: ~20 leaf fields, nested objects and arrays.

    ``domain`` is how many distinct customers, paths and amount bands there are; benchmarks
    write rules over the same domain so that each event matches a handful of them.
    """
    k = rng.randrange(domain)
    items = [
        {"sku": f"sku-{rng.randrange(500)}", "qty": rng.randrange(1, 5), "price": rng.random() * 50}
        for _ in range(rng.randrange(1, 4))
    ]
    return {
        "version": "0",
        "id": f"{rng.getrandbits(64):016x}",
        "detail-type": rng.choice(DETAIL_TYPES),
        "source": rng.choice(SOURCES),
        "account": "123456789012",
        "time": f"2024-05-{rng.randrange(1, 29):02d}T12:00:00Z",
        "region": rng.choice(REGIONS),
        "resources": [f"arn:aws:shop:{rng.choice(REGIONS)}:123456789012:order/{k}"],
        "detail": {
            "order_id": f"o-{rng.getrandbits(32)}",
            "customer": {
                "id": f"c-{k}",
                "tier": rng.choice(TIERS),
                "country": rng.choice(COUNTRIES),
                "email": f"user{k}@example.com",
            },
            "total": rng.random() * domain * 10,
            "currency": rng.choice(["EUR", "USD"]),
            "status": rng.choice(STATUSES),
            "channel": rng.choice(["web", "app", "pos"]),
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
            "path": f"/orders/{k:05d}/2024/invoice-{rng.randrange(100)}.png",
            "items": items,
            "tags": rng.sample(["gift", "express", "bulk", "promo", "b2b"], 2),
        },
    }


def make_events(count: int, domain: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [make_event(rng, domain) for _ in range(count)]


def measure_rate(fn: Callable[[Any], object], items: Sequence[Any], min_seconds: float) -> float:
    """Calls of ``fn`` per CPU second over ``items``, repeated for at least ``min_seconds``.

    CPU time, not wall time: on a shared machine the process's own seconds are what one core
    gives it, and other processes' load then distorts the figure less.
    """
    for item in items[:50]:
        fn(item)  # warm-up: lazy index builds and caches
    calls, start = 0, time.process_time()
    while True:
        for item in items:
            fn(item)
        calls += len(items)
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return calls / elapsed


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A right-aligned plain-text table (the first column left-aligned)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join([first, *rest]))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
