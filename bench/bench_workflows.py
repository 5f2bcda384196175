"""Transitions/s of the pure ASL step function, with baselines from the same run.

Run: ``.venv/bin/python bench/bench_workflows.py [--seconds 1.0]``. One core, one process,
CPU time. Three machines, each run through ``step.start`` (no driver, no I/O) with the history
recorded as AWS records it:

* a 100-state chain of Pass and Choice states over a ~1 KiB input;
* an inline Map of 1,000 items (one Pass state per item);
* a JSONata chain: 20 Pass states, each assigning two expressions over the same input.

Baselines: one JSONPath read parsed anew per call vs through the parse cache, and the JSONata
library (jsonatapy) called raw with the state's bindings, compiled once and compiled per call.
It never asserts: the figures go to docs/workflows.md with the load average.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonatapy

from eventbus.workflows import paths, query
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.step import start

INPUT: dict[str, Any] = {
    "order": {"id": "o-123", "total": 99.5, "currency": "EUR", "status": "paid"},
    "customer": {"id": "c-42", "tier": "gold", "tags": ["vip", "eu"], "country": "DE"},
    "items": [{"sku": f"SKU-{i}", "qty": i % 3 + 1, "price": 9.5 + i} for i in range(12)],
    "counter": 0,
}


def pass_choice_chain(n: int = 100) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for i in range(0, n, 2):
        states[f"P{i}"] = {"Type": "Pass", "Parameters": {
            "order.$": "$.order", "customer.$": "$.customer", "items.$": "$.items",
            "counter": i}, "Next": f"C{i + 1}"}
        last = i + 2 >= n
        states[f"C{i + 1}"] = {"Type": "Choice", "Choices": [
            {"Variable": "$.order.total", "NumericGreaterThan": 1000, "Next": "Big"}],
            "Default": "End" if last else f"P{i + 2}"}
    states["Big"] = {"Type": "Fail", "Error": "Big"}
    states["End"] = {"Type": "Succeed"}
    return {"StartAt": "P0", "States": states}


def map_machine(n: int = 1000) -> tuple[dict[str, Any], Any]:
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.xs", "End": True,
        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}}}}
    return definition, {"xs": [{"i": i} for i in range(n)]}


def jsonata_chain(n: int = 20) -> dict[str, Any]:
    # Two expressions per state; without Output a Pass state passes its input on unchanged.
    states = {f"J{i}": {"Type": "Pass", "Assign": {
        "total": "{% $sum($states.input.items.(qty * price)) %}",
        "gold": "{% $states.input.customer.tier = 'gold' %}",
        "order": {"id": "o-1", "status": "paid"}},
        "Next": f"J{i + 1}" if i + 1 < n else None} for i in range(n)}
    for state in states.values():
        if state["Next"] is None:
            del state["Next"]
            state["End"] = True
    return {"QueryLanguage": "JSONata", "StartAt": "J0", "States": states}


def run_once(definition: dict[str, Any], data: Any) -> int:
    counter = itertools.count()
    info = ExecutionInfo("bench", "bench", datetime(2024, 1, 1, tzinfo=UTC), data)
    execution, step = start(definition, info, uuid=lambda: str(next(counter)),
                            random=lambda: 0.5)
    assert step.status == "SUCCEEDED", (step.error, step.cause)
    # Every run of one definition over one input enters the same states: count them once, so
    # the count is not timed with the step function.
    key = id(definition)
    if key not in _ENTERED:
        events = execution.env.history.events
        _ENTERED[key] = sum(1 for e in events if e["type"].endswith("StateEntered"))
    return _ENTERED[key]


_ENTERED: dict[int, int] = {}


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Units per CPU second: ``fn`` returns how many units one call did."""
    fn()
    units, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        units += fn()
    return units / (time.process_time() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    s = args.seconds
    chain = pass_choice_chain()
    mapdef, mapinput = map_machine()
    jchain = jsonata_chain()
    expr_total = "$sum($states.input.items.(qty * price))"
    compiled = jsonatapy.compile(expr_total)
    bindings = {"states": {"input": INPUT}}
    naive_compile = query._compile.__wrapped__
    rows = [
        ("Pass/Choice chain, transitions/s", rate(lambda: run_once(chain, INPUT), s)),
        ("Map of 1,000 items, transitions/s", rate(lambda: run_once(mapdef, mapinput), s)),
        ("JSONata Pass chain, states/s", rate(lambda: run_once(jchain, INPUT), s)),
        ("baseline: JSONPath read, cached parse, /s",
         rate(lambda: [paths.read_path("$.order.total", INPUT, context={}, variables={})
                       for _ in range(100)] and 100, s)),
        ("baseline: JSONPath read, parsed per call, /s",
         rate(lambda: [query.read(naive_compile("$.order.total"), INPUT, context={},
                                  variables={}) for _ in range(100)] and 100, s)),
        ("baseline: JSONata raw evaluate, /s",
         rate(lambda: [compiled.evaluate(None, bindings) for _ in range(100)] and 100, s)),
        ("baseline: JSONata compile+evaluate, /s",
         rate(lambda: [jsonatapy.compile(expr_total).evaluate(None, bindings)
                       for _ in range(100)] and 100, s)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value:>12,.0f}")


if __name__ == "__main__":
    main()
