"""Time to draw state machines with ``render_graph`` (medians of a few runs).

Run: ``.venv/bin/python bench/bench_graph.py [--repeat 5]``. One process; prints each
machine's median time, lines and columns with the load average. It never asserts.

* a 200-state chain of Pass states;
* 200 Task states, each with a Catch back three states (loops, listed rather than drawn);
* a Choice of 14 rules and one of 150 (drawn, then listed as an outline at 120 columns).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from eventbus.workflows.graph import render_graph


def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n)}
    states[f"S{n - 1}"] = {"Type": "Succeed"}
    return {"StartAt": "S0", "States": states}


def catches(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {
        f"S{i}": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Next": f"S{i + 1}" if i < n - 1 else "Done",
                  "Catch": [{"ErrorEquals": ["X"], "Next": f"S{max(i - 3, 0)}"}]}
        for i in range(n)
    }
    states["Done"] = {"Type": "Succeed"}
    return {"StartAt": "S0", "States": states}


def choice(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"B{i}": {"Type": "Pass", "Next": "Done"} for i in range(n)}
    states["C"] = {"Type": "Choice", "Default": "Done", "Choices": [
        {"Variable": "$.x", "NumericEquals": i, "Next": f"B{i}"} for i in range(n)]}
    states["Done"] = {"Type": "Succeed"}
    return {"StartAt": "C", "States": states}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases: list[tuple[str, dict[str, Any], int | None]] = [
        ("chain of 200", chain(200), None),
        ("200 tasks, catches back", catches(200), None),
        ("choice of 14", choice(14), None),
        ("choice of 150", choice(150), None),
        ("choice of 150, outline at 120", choice(150), 120),
    ]
    print(f"load average {os.getloadavg()[0]:.2f}")
    for name, machine, width in cases:
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            drawing = render_graph(machine, max_width=width)
            times.append(time.perf_counter() - began)
        print(f"{name:32} {statistics.median(times) * 1000:7.0f} ms"
              f"  {len(drawing.lines):5} lines  {drawing.width:5} columns")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
