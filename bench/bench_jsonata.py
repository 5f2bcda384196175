"""Microseconds per JSONata evaluation over a ~1 KiB state input, conversion included.

Rows are four kinds of expression a JSONata state holds (a field, a filter, an aggregate, an
object built from several fields). Columns, all measured in the same run:

* ``jsonatapy``: the library called directly with every binding (``$states`` whole and the
  variables), the baseline;
* ``eventbus``: ``eventbus.workflows.jsonata.evaluate``, the wrapper states use;
* ``jsonata-python``: the pure-Python library, when installed (``pip install jsonata-python``).

Each figure is the median of ``--repeats`` runs of ``--calls`` evaluations.

    .venv/bin/python bench/bench_jsonata.py [--calls 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from typing import Any

import jsonatapy
import orjson
from _common import print_table

from eventbus.workflows import jsonata

EXPRESSIONS = {
    "field": "$states.input.order.customer.name",
    "filter": "$states.input.order.items[price > $limit].id",
    "aggregate": "$sum($states.input.order.items.(price * qty))",
    "object": "{'id': $states.input.order.id, 'n': $count($states.input.order.items),"
    " 'gold': $states.input.order.customer.tier = 'gold'}",
}


def bindings() -> dict[str, Any]:
    """``$states`` as a JSONata state sees it: a ~1 KiB input and the context object."""
    items = [
        {"id": f"item-{i}", "price": i * 1.25, "qty": i % 4, "tags": ["a", "b"]} for i in range(17)
    ]
    state_input = {
        "order": {"id": "o-1", "customer": {"name": "Ada", "tier": "gold"}, "items": items},
        "flag": True,
    }
    context = {
        "Execution": {
            "Id": "arn:aws:states:us-east-1:123456789012:execution:machine:run-1",
            "Name": "run-1",
            "StartTime": "2024-01-01T00:00:00.000Z",
            "RoleArn": "arn:aws:iam::123456789012:role/machine",
        },
        "State": {"Name": "Shape", "EnteredTime": "2024-01-01T00:00:00.000Z"},
        "StateMachine": {"Id": "arn:aws:states:us-east-1:123456789012:stateMachine:machine"},
    }
    return {"states": {"input": state_input, "context": context}, "limit": 5}


def per_call_us(variants: list[tuple[Callable[[], object], int]], repeats: int) -> list[float]:
    """Median µs per call of each variant; the variants take turns within every repeat, so a
    change in the machine's load falls on all of them alike."""
    runs: list[list[float]] = [[] for _ in variants]
    for fn, _ in variants:
        fn()
    for _ in range(repeats):
        for i, (fn, calls) in enumerate(variants):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            runs[i].append((time.perf_counter() - start) / calls * 1e6)
    return [statistics.median(r) for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    values = bindings()
    pure = None
    if importlib.util.find_spec("jsonata") is not None:
        import jsonata as pure
    size = len(orjson.dumps(values["states"]["input"]))
    print(f"state input {size} bytes; load average {_loadavg()}")
    rows = []
    for name, text in EXPRESSIONS.items():
        raw = jsonatapy.compile(text)
        variants: list[tuple[Callable[[], object], int]] = [
            (lambda raw=raw: raw.evaluate(None, values), args.calls),
            (lambda text=text: jsonata.evaluate(text, values), args.calls),
        ]
        if pure is not None:
            slow = pure.Jsonata(text)
            variants.append((lambda slow=slow: slow.evaluate(None, values), args.calls // 10 or 1))
        rows.append([name, *per_call_us(variants, args.repeats)])
    headers = ["expression", "jsonatapy µs", "eventbus µs"]
    print_table(headers + (["jsonata-python µs"] if pure is not None else []), rows)
    print(f"load average after: {_loadavg()}")


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


if __name__ == "__main__":
    main()
