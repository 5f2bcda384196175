"""Events/s of the compiled Matcher as rules grow, against a naive loop in the same run.

    .venv/bin/python bench/bench_match.py [--seconds 0.5] [--sizes 10,100,1000,10000]
        [--baseline DIR]   # e.g. a `git worktree add DIR <older commit>`: timed side by side

For each kind of rule it builds a Matcher of 10, 100, 1,000 and 10,000 rules (wildcard up to
1,000) and times ``Matcher.match`` over realistic events (~20 leaf fields, nested objects and
arrays; see ``_common.make_event``) drawn so that each event matches a handful of rules. At
1,000 rules it also times the naive loop ``[n for n, p in rules if p.matches(event)]`` and
checks that both give the same names. The "arrays of arrays" row matches the mixed rules
against the same events with their ``detail`` fields in nested arrays (``"total": [[t]] * 10``,
items as an array of arrays of objects, ~3 KB an event), the case whose cost once grew with the
product of the arrays' lengths. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REGIONS, make_events, measure_rate, print_table

from eventbus.patterns import Matcher, compile_pattern

Rule = Callable[[int, int], dict[str, Any]]


def exact(i: int, d: int) -> dict[str, Any]:
    return {"region": [REGIONS[i % 3]], "detail": {"customer": {"id": [f"c-{i % d}"]}}}


def prefix(i: int, d: int) -> dict[str, Any]:
    return {"detail": {"path": [{"prefix": f"/orders/{i % d:05d}/"}]}}


def numeric(i: int, d: int) -> dict[str, Any]:
    low = (i % d) * 10
    return {"detail": {"total": [{"numeric": [">=", low, "<", low + 10]}]}}


def anything_but(i: int, d: int) -> dict[str, Any]:
    return {
        "detail": {
            "customer": {"id": [f"c-{i % d}"]},
            "status": [{"anything-but": ["cancelled", "failed"]}],
        }
    }


def wildcard(i: int, d: int) -> dict[str, Any]:
    return {"detail": {"path": [{"wildcard": f"/orders/{i % d:05d}/*/invoice-*.png"}]}}


def _other(i: int, d: int) -> dict[str, Any]:
    k = i % d
    options = [
        {"detail": {"customer": {"email": [{"equals-ignore-case": f"USER{k}@EXAMPLE.COM"}]}}},
        {"resources": [{"suffix": f":order/{k}"}]},
        {"detail": {"customer": {"id": [f"c-{k}"]}, "order_id": [{"exists": True}]}},
        {"detail": {"customer": {"id": [f"c-{k}"]}, "ip": [{"cidr": f"10.{i % 256}.0.0/16"}]}},
        {"detail": {"items": {"sku": [f"sku-{i % 500}"], "qty": [{"numeric": [">", 2]}]}}},
    ]
    return options[(i // 10) % len(options)]  # i % 10 == 9 here: every variant at 100 rules


def mixed(i: int, d: int) -> dict[str, Any]:
    """30% exact, 20% prefix, 20% numeric, 20% anything-but, 10% others; 1% wildcard.

    The mix is the same at every size, so sizes compare like with like; 1,000 rules hold 10
    wildcard rules (EventBridge allows 30 per bus).
    """
    if i % 10 == 9:
        return wildcard(i, d) if i % 100 == 9 else _other(i, d)
    makers = [exact, exact, exact, prefix, prefix, numeric, numeric, anything_but, anything_but]
    return makers[i % 10](i, d)


def _flat(event: dict[str, Any]) -> dict[str, Any]:
    return event


def _nested(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with its detail's values in arrays of arrays: same answers, ~8x the leaves."""
    detail = dict(event["detail"])
    for field in ("total", "currency", "status", "channel", "ip", "path"):
        detail[field] = [[detail[field]]] * 10
    detail["items"] = [detail["items"]] * 3
    detail["tags"] = [detail["tags"]] * 5
    return {**event, "detail": detail}


Shape = Callable[[dict[str, Any]], dict[str, Any]]
KINDS: dict[str, tuple[Rule, int, Shape]] = {  # kind -> (rule maker, largest size, event shape)
    "exact": (exact, 10_000, _flat),
    "prefix": (prefix, 10_000, _flat),
    "numeric range": (numeric, 10_000, _flat),
    "anything-but + exact": (anything_but, 10_000, _flat),
    "wildcard": (wildcard, 1_000, _flat),
    "mixed": (mixed, 10_000, _flat),
    "arrays of arrays": (mixed, 10_000, _nested),
}


def _domain(size: int) -> int:
    return max(1, size // 4)  # about four rules of a kind share each value


def _matcher(rule: Rule, size: int, cls: type[Matcher] = Matcher) -> Matcher:
    matcher = cls()
    for i in range(size):
        matcher.add(f"r{i:05d}", rule(i, _domain(size)))
    return matcher


def run(seconds: float, sizes: list[int], events_per_size: int) -> None:
    headers = ["kind", *[f"{s:,} rules" for s in sizes]]
    headers += ["naive@1,000", "speedup", f"{sizes[-1]:,}/{sizes[1]:,}", "matches/ev", "agree"]
    rows = []
    started = time.perf_counter()
    for kind, (rule, largest, shape) in KINDS.items():
        row: list[object] = [kind]
        rates: dict[int, float] = {}
        for size in sizes:
            if size > largest:
                row.append("-")
                continue
            events = [shape(e) for e in make_events(events_per_size, _domain(size))]
            matcher = _matcher(rule, size)
            rates[size] = measure_rate(matcher.match, events, seconds)
            row.append(rates[size])
        row += _naive_columns(rule, shape, rates.get(1000), seconds, events_per_size)
        top = max(s for s in rates if s <= largest)
        row.insert(len(sizes) + 3, f"{rates[top] / rates[sizes[1]]:.2f}" if top > sizes[1] else "-")
        rows.append(row)
    print_table(headers, rows)
    print(f"\n(events/s on one core; {time.perf_counter() - started:.0f} s in all)")


def _naive_columns(
    rule: Rule, shape: Shape, rate: float | None, seconds: float, count: int
) -> list[object]:
    if rate is None:
        return ["-", "-", "-", "-"]
    events = [shape(e) for e in make_events(count, _domain(1000))]
    compiled = [(f"r{i:05d}", compile_pattern(rule(i, _domain(1000)))) for i in range(1000)]
    naive = measure_rate(lambda e: [n for n, p in compiled if p.matches(e)], events[:200], seconds)
    matcher = _matcher(rule, 1000)
    sample = events[:300]
    agree = all(matcher.match(e) == [n for n, p in compiled if p.matches(e)] for e in sample)
    per_event = sum(len(matcher.match(e)) for e in sample) / len(sample)
    return [naive, f"{rate / naive:.0f}x", per_event, "yes" if agree else "NO"]


def _baseline_matcher(root: str) -> type[Matcher]:
    """``Matcher`` of the eventbus checked out under ``root`` (another version of this code),
    imported beside this one: the modules of each stay apart in memory."""
    ours = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] == "eventbus"}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        from eventbus.patterns import Matcher as Baseline

        where = Path(sys.modules["eventbus"].__file__ or "").resolve()
        if not where.is_relative_to(Path(root).resolve()):
            raise SystemExit(f"--baseline: eventbus was imported from {where}, not {root}")
        theirs = [name for name in sys.modules if name.split(".")[0] == "eventbus"]
    finally:
        sys.path.remove(root)
    for name in theirs:
        del sys.modules[name]
    sys.modules.update(ours)
    return Baseline  # type: ignore[no-any-return]


def side_by_side(root: str, sizes: list[int], count: int, slices: int = 15) -> None:
    """The mixed and arrays-of-arrays rows against the Matcher under ``root``: both time the same
    events in turn, 400 at a time, so the machine's load falls on both alike."""
    baseline = _baseline_matcher(root)
    rows = []
    for kind in ("mixed", "arrays of arrays"):
        rule, _, shape = KINDS[kind]
        for size in sizes[1:]:
            events = [shape(e) for e in make_events(count, _domain(size))][:400]
            theirs, ours = _matcher(rule, size, baseline), _matcher(rule, size)
            agree = all(theirs.match(e) == ours.match(e) for e in events)
            pairs = [(_cpu_rate(theirs, events), _cpu_rate(ours, events)) for _ in range(slices)]
            ratio = statistics.median(b / a for a, b in pairs)
            then, now = (statistics.median(rates) for rates in zip(*pairs, strict=True))
            rows.append([kind, size, then, now, f"{ratio:.2f}", "yes" if agree else "NO"])
    print(f"\nagainst {root} (medians of {slices} alternating slices):\n")
    print_table(["kind", "rules", "baseline", "this", "this/baseline", "agree"], rows)


def _cpu_rate(matcher: Matcher, events: list[dict[str, Any]]) -> float:
    start = time.process_time()
    for event in events:
        matcher.match(event)
    return len(events) / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--sizes", default="10,100,1000,10000", help="rule counts to measure")
    parser.add_argument("--events", type=int, default=2000, help="distinct events per size")
    parser.add_argument(
        "--baseline", metavar="DIR", help="also time another checkout's Matcher side by side"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    run(args.seconds, sizes, args.events)
    if args.baseline:
        side_by_side(args.baseline, sizes, args.events)


if __name__ == "__main__":
    main()
