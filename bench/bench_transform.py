"""Payloads/s of a typical 5-variable JSON input transformer: compiled once vs compiled per call.

Run: ``.venv/bin/python bench/bench_transform.py [--seconds 1.0]``. One core, one process; the
table shows both ways in the same run, plus the string-template and input_path forms. It never
asserts: the figures go to bench/README.md with the machine and date.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

from eventbus.transform import (
    InputContext,
    apply_input_transformer,
    compile_input_transformer,
    compile_target_input,
)

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "OrderPlaced",
    "source": "shop.orders",
    "account": "123456789012",
    "time": "2026-03-01T12:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:shop:eu-west-1:123456789012:order/o-123"],
    "detail": {
        "order": {"id": "o-123", "total": 99.5, "currency": "EUR"},
        "customer": {"id": "c-42", "tier": "gold", "tags": ["vip", "eu"]},
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    },
}
PATHS = {
    "order": "$.detail.order.id",
    "total": "$.detail.order.total",
    "customer": "$.detail.customer",
    "first_sku": "$.detail.items[0].sku",
    "when": "$.time",
}
JSON_TEMPLATE = (
    '{"order": <order>, "total": <total>, "customer": <customer>, '
    '"summary": "first item <first_sku> at <when>", "rule": <aws.events.rule-name>}'
)
STRING_TEMPLATE = '"Order <order> of <total> for <customer>, first item <first_sku> at <when>"'
CTX = InputContext(rule_name="orders", rule_arn="arn:aws:events:local:000000000000:rule/orders")


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``, timed in batches until ``seconds`` have passed."""
    batch, calls = 1000, 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            fn()
        calls += batch
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per row")
    seconds = parser.parse_args().seconds

    json_compiled = compile_input_transformer(PATHS, JSON_TEMPLATE)
    string_compiled = compile_input_transformer(PATHS, STRING_TEMPLATE)
    path_compiled = compile_target_input(input_path="$.detail.order")
    whole_event = compile_target_input()
    rows = [
        ("JSON template, compiled once", lambda: json_compiled.render(EVENT, CTX)),
        (
            "JSON template, compiled per call (baseline)",
            lambda: apply_input_transformer(EVENT, PATHS, JSON_TEMPLATE, rule_name="orders"),
        ),
        ("string template, compiled once", lambda: string_compiled.render(EVENT, CTX)),
        ("input_path $.detail.order, compiled once", lambda: path_compiled.render(EVENT, CTX)),
        ("whole event (no input settings)", lambda: whole_event.render(EVENT, CTX)),
    ]
    rates = [(name, _rate(fn, seconds)) for name, fn in rows]
    per_call = rates[1][1]
    print(f"python {platform.python_version()} on {platform.machine()}, {seconds:g} s per row")
    print(f"{'form':<46} {'payloads/s':>12} {'vs per-call':>12}")
    for name, rate in rates:
        print(f"{name:<46} {rate:>12,.0f} {rate / per_call:>11.1f}x")
    print(f"\noutput: {json_compiled.render(EVENT, CTX)}")


if __name__ == "__main__":
    main()
