"""End to end: events/s from a preloaded bus to a `redis_stream` target through 100 rules,
with one and two routers; put_events → delivery latency at fixed rates; router RSS over a long
run; the cost as rules grow (1,000 rules); and, in the same run, the ceiling: a bare redis-py
XREADGROUP → XADD → XACK loop.

The stream target is on the bus's Redis, so routers deliver it while routing (docs/runtime.md,
"Inline deliveries"). One more row names the target's Redis by URL, which sends every delivery
through its queue and lane: the path every other target takes.

    .venv/bin/python bench/bench_bus.py [--events 50000] [--rss-events 1000000]
    .venv/bin/python bench/bench_bus.py --startup 10000   # start-up time only, N rules
    .venv/bin/python bench/bench_bus.py --rules-sweep 100,10000 [--idle-seconds 30] [--repeat 3]
    .venv/bin/python bench/bench_bus.py --metrics-cost [--events 50000] [--repeat 3]

Routers run as `python -m eventbus run` processes on a redis-server of the benchmark's own.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import redis
from _common import print_table
from bench_publish import redis_server

from eventbus import EventBusClient, keys

RULES = 100
# The routers' rule cache: the benchmark's own, removed at its end, not the user's.
RULE_CACHE = tempfile.mkdtemp(prefix="eventbus-bench-rule-cache-")
atexit.register(shutil.rmtree, RULE_CACHE, ignore_errors=True)
BATCH = 1000  # XREADGROUP COUNT, the router's default bus batch too
FILE_RULES = 1000


def write_rules(
    directory: Path, out_max_len: int | None = None, queued_via: str = "", rules: int = RULES
) -> Path:
    """``rules`` rules, each with a `redis_stream` target writing to `out`. With ``queued_via`` (a
    Redis URL) the target names its Redis, so its deliveries go through the delivery queues
    instead of being made while routing."""
    trim = f", max_len: {out_max_len}" if out_max_len else ""
    trim += f", redis_url: '{queued_via}'" if queued_via else ""
    config = "bus_config: {max_len: 20000}\n" if out_max_len else ""
    texts = [
        f"  - name: r{i}\n    event_pattern: {{source: [app.{i}]}}\n"
        f"    targets: [{{id: out, type: redis_stream, stream: out{trim}}}]"
        for i in range(rules)
    ]
    for old in directory.glob("rules*.yaml"):
        old.unlink()
    # Files of at most FILE_RULES rules: one file's YAML is bounded (docs/rules.md).
    for n, start in enumerate(range(0, rules, FILE_RULES)):
        text = "\n".join(texts[start : start + FILE_RULES])
        head = config if n == 0 else ""
        (directory / f"rules-{n}.yaml").write_text(f"bus: default\n{head}rules:\n{text}\n")
    return directory


def entries(start: int, n: int, stamp: bool = False, rules: int = RULES) -> list[dict[str, str]]:
    now = time.time()
    return [
        {"Source": f"app.{i % rules}", "DetailType": "t",
         "Detail": orjson.dumps({"n": i, "sent": now} if stamp else {"n": i}).decode()}
        for i in range(start, start + n)
    ]  # fmt: skip


def preload(url: str, n: int, rules: int = RULES) -> None:
    with EventBusClient.from_url(url) as client:
        for start in range(0, n, 500):
            client.put_events(entries(start, min(500, n - start), rules=rules))


def write_mixed_rules(directory: Path, rules: int) -> Path:
    """``rules`` rules of four pattern shapes (exact, numeric range, prefix, anything-but), each
    with a `redis_stream` target writing to `out`; the event :func:`mixed_entries` makes for
    rule ``i`` matches rule ``i`` only."""
    shapes = (
        "{{source: [app.{i}]}}",
        "{{source: [app.{i}], detail: {{n: [{{numeric: ['>=', 0]}}]}}}}",
        "{{source: [app.{i}], detail-type: [{{prefix: t}}]}}",
        "{{source: [app.{i}], detail: {{kind: [{{anything-but: x}}]}}}}",
    )
    # Files of at most 1,000 rules: a rule file is bounded (100,000 YAML values).
    path = directory / "mixed-rules"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    for first in range(0, rules, 1000):
        text = "\n".join(
            f"  - name: r{i}\n    event_pattern: {shapes[i % len(shapes)].format(i=i)}\n"
            f"    targets: [{{id: out, type: redis_stream, stream: out}}]"
            for i in range(first, min(first + 1000, rules))
        )
        (path / f"rules-{first:06d}.yaml").write_text(f"bus: default\nrules:\n{text}\n")
    return path


def mixed_entries(start: int, n: int, rules: int) -> list[dict[str, str]]:
    return [
        {"Source": f"app.{i % rules}", "DetailType": "t",
         "Detail": orjson.dumps({"n": i, "kind": "k"}).decode()}
        for i in range(start, start + n)
    ]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def router_cpu_per_event(url: str, directory: Path, n: int, rules: int, metrics: bool) -> float:
    """Router CPU microseconds per event routed and delivered through ``rules`` mixed rules,
    rule loading and start-up left out; ``metrics=False`` runs it with counting off. The
    router is stopped once all are delivered and measured through its exit, so its last metrics
    flush (with many series, flushes are up to 10 s apart) is part of the cost."""
    r = redis.Redis.from_url(url)
    r.flushall()
    path = write_mixed_rules(directory, rules)
    env = {} if metrics else {"EVENTBUS_BENCH_NO_METRICS": "1"}
    with routers(url, path, 1, env) as [proc], EventBusClient.from_url(url) as client:
        client.put_events(mixed_entries(0, 1, rules))
        wait_len(r, "out", 1)
        start = cpu_seconds(proc.pid)
        for first in range(1, n + 1, 500):
            client.put_events(mixed_entries(first, min(500, n + 1 - first), rules))
        wait_len(r, "out", n + 1)
        proc.terminate()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return (usage.ru_utime + usage.ru_stime - start) / n * 1e6


def metrics_cost(url: str, directory: Path, n: int, repeat: int = 1) -> None:
    """Metrics on, then off, ``repeat`` times per rule count: the medians, and the median of
    each pair's share (a pair runs back to back, so a change in the machine's load between
    pairs moves both)."""
    rows: list[list[object]] = []
    for rules in (100, 10_000):
        pairs = [(router_cpu_per_event(url, directory, n, rules, metrics=True),
                  router_cpu_per_event(url, directory, n, rules, metrics=False))
                 for _ in range(repeat)]  # fmt: skip
        print(f"{rules} rules, (on, off) µs: {pairs}", file=sys.stderr, flush=True)
        on = statistics.median(p[0] for p in pairs)
        off = statistics.median(p[1] for p in pairs)
        share = statistics.median((a - b) / a for a, b in pairs)
        rows.append([f"{rules:,}", f"{on:.1f}", f"{off:.1f}", f"{share:.1%}"])
    print(f"{repeat} run(s) each, medians; load {Path('/proc/loadavg').read_text().split()[:3]}")
    print_table(["rules", "µs CPU/event, metrics on", "metrics off", "metrics share"], rows)


@contextmanager
def routers(
    url: str, rules: Path, count: int, env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    args = [sys.executable, "-m", "eventbus", "run", "--rules", str(rules), "--redis", url]
    environ = {**os.environ, "EVENTBUS_RULE_CACHE_DIR": RULE_CACHE, **(env or {})}
    procs = [subprocess.Popen(args, stderr=subprocess.DEVNULL, env=environ) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def wait_len(r: redis.Redis, stream: str, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while r.xlen(stream) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"{stream} stuck at {r.xlen(stream)} of {n}")
        time.sleep(0.01)


def throughput(
    url: str, directory: Path, n: int, count: int, queued: bool = False, rules: int = RULES
) -> float:
    """Events/s from a preloaded bus through ``count`` routers; with ``rules`` rules, events
    cycle through all of them (each matches one)."""
    r = redis.Redis.from_url(url)
    r.flushall()
    path = write_rules(directory, queued_via=url if queued else "", rules=rules)
    preload(url, n, rules)
    with routers(url, path, count):
        wait_len(r, "out", 1)
        start = time.perf_counter()
        wait_len(r, "out", n)
        return (n - 1) / (time.perf_counter() - start)


def latency(url: str, directory: Path, rate: int, seconds: float) -> tuple[float, float, float]:
    r = redis.Redis.from_url(url)
    r.flushall()
    rules = write_rules(directory)
    with routers(url, rules, 1), EventBusClient.from_url(url) as client:
        client.put_events(entries(0, 1))
        wait_len(r, "out", 1)
        tick, sent, start = 0.01, 0, time.monotonic()
        while time.monotonic() - start < seconds:
            due = int((time.monotonic() - start) * rate) - sent
            if due > 0:
                client.put_events(entries(sent, due, stamp=True))
                sent += due
            time.sleep(tick)
        wait_len(r, "out", sent + 1)
        samples = []
        for entry_id, fields in r.xrange("out")[1:]:
            sent_at = orjson.loads(fields[b"payload"])["detail"]["sent"]
            samples.append(int(entry_id.split(b"-")[0]) - sent_at * 1000)
    q = statistics.quantiles(samples, n=100)
    return q[49], q[94], q[98]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss(url: str, directory: Path, total: int) -> list[tuple[int, float]]:
    """Feed ``total`` events in rounds; RSS of the router after each tenth."""
    r = redis.Redis.from_url(url)
    r.flushall()
    rules = write_rules(directory, out_max_len=10_000)
    step = max(total // 10, 1)
    points = []
    with routers(url, rules, 1) as [proc], EventBusClient.from_url(url) as client:
        done = 0
        while done < total:
            for start in range(done, done + step, 500):
                client.put_events(entries(start, 500))
            done += step
            group = keys.ROUTER_GROUP
            stream = keys.bus_stream("default", 0)
            while True:  # wait until the router caught up (nothing unread, nothing pending)
                groups = {g["name"]: g for g in r.xinfo_groups(stream)}
                info = groups.get(group.encode())
                if info and info["pending"] == 0 and info.get("lag", 1) == 0:
                    break
                time.sleep(0.05)
            points.append((done, rss_mb(proc.pid)))
            r.xtrim(stream, maxlen=0)  # the bench's own trim: the router is past all of it
    return points


# One pattern shape per rule in turn, so start-up compiles a mix (rule i matches source app.i).
STARTUP_PATTERNS = (
    "{{source: [app.{i}]}}",
    "{{source: [app.{i}], detail-type: [{{prefix: ord}}]}}",
    "{{source: [app.{i}], detail: {{n: [{{numeric: ['>', 0, '<=', {i}]}}]}}}}",
    "{{source: [app.{i}], detail: {{state: [{{anything-but: [x, y]}}], id: [{{exists: true}}]}}}}",
    "{{source: [app.{i}], detail: {{name: [{{wildcard: 'a*b{i}'}}, {{suffix: .png}}]}}}}",
)


def write_startup_rules(directory: Path, rules: int, per_file: int = 1000) -> None:
    """``rules`` rules in files of ``per_file``, their patterns cycling ``STARTUP_PATTERNS``."""
    for start in range(0, rules, per_file):
        text = "\n".join(
            f"  - name: r{i}\n"
            f"    event_pattern: {STARTUP_PATTERNS[i % len(STARTUP_PATTERNS)].format(i=i)}\n"
            f"    targets: [{{id: out, type: redis_stream, stream: out}}]"
            for i in range(start, min(start + per_file, rules))
        )
        (directory / f"rules-{start:06}.yaml").write_text(f"bus: default\nrules:\n{text}\n")


def startup_seconds(url: str, directory: Path, rules: int) -> list[tuple[float, float]]:
    """Seconds from starting `eventbus run` with ``rules`` rules to the first event delivered,
    and the router's CPU-seconds by then (what a loaded machine does not inflate): the event
    waits on the bus before the router starts and matches rule 0. Twice: the first start reads
    the rule files (and writes the rule cache), the second the cache."""
    r = redis.Redis.from_url(url)
    rule_dir = directory / "rules"
    rule_dir.mkdir()
    write_startup_rules(rule_dir, rules)
    out = []
    for _ in range(2):
        r.flushall()
        with EventBusClient.from_url(url) as client:
            client.put_events(entries(0, 1))
        start = time.perf_counter()
        with routers(url, rule_dir, 1) as [proc]:
            wait_len(r, "out", 1)
            out.append((time.perf_counter() - start, process_cpu(proc.pid)))
    return out


async def bare_loop(url: str, n: int) -> float:
    """The ceiling: read a batch, XADD each entry elsewhere and XACK, as fast as redis-py goes."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    stream = "bare:in"
    await client.xgroup_create(stream, "g", id="0", mkstream=True)
    async with client.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(stream, {"event": orjson.dumps({"n": i})})
        await pipe.execute()
    start = time.perf_counter()
    done = 0
    while done < n:
        reply = await client.xreadgroup("g", "c", {stream: ">"}, count=BATCH, block=100)
        for _, batch in reply:
            async with client.pipeline(transaction=False) as pipe:
                for _entry_id, fields in batch:
                    pipe.xadd("bare:out", fields)
                pipe.xack(stream, "g", *[e for e, _ in batch])
                await pipe.execute()
            done += len(batch)
    elapsed = time.perf_counter() - start
    await client.aclose()
    return n / elapsed


# --- the cost of rules: throughput, CPU per event and idle CPU as the rule count grows -------


def process_cpu(pid: int) -> float:
    """CPU-seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu(r: redis.Redis) -> float:
    """CPU-seconds the Redis server has used so far (INFO cpu)."""
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def rules_cost(
    url: str, directory: Path, rules: int, n: int, idle_seconds: float, queued: bool = False
) -> dict[str, float]:
    """One router over ``rules`` rules: events/s on ``n`` preloaded events, router and Redis
    CPU-ms per event, time from launch to the first delivery, and idle CPU: router and Redis
    CPU-seconds over ``idle_seconds`` with no events, starting 2 s after the last delivery."""
    r = redis.Redis.from_url(url)
    r.flushall()
    path = write_rules(directory, queued_via=url if queued else "", rules=rules)
    preload(url, n, rules)
    launched = time.perf_counter()
    with routers(url, path, 1) as [proc]:
        wait_len(r, "out", 1)
        first = time.perf_counter() - launched
        cpu0, rcpu0, start = process_cpu(proc.pid), redis_cpu(r), time.perf_counter()
        wait_len(r, "out", n)
        rate = (n - 1) / (time.perf_counter() - start)
        cpu1, rcpu1 = process_cpu(proc.pid), redis_cpu(r)
        time.sleep(2)
        idle0, ridle0 = process_cpu(proc.pid), redis_cpu(r)
        time.sleep(idle_seconds)
        idle1, ridle1 = process_cpu(proc.pid), redis_cpu(r)
    return {
        "rate": rate,
        "router_ms": (cpu1 - cpu0) * 1000 / (n - 1),
        "redis_ms": (rcpu1 - rcpu0) * 1000 / (n - 1),
        "router_idle": 100 * (idle1 - idle0) / idle_seconds,
        "redis_idle": 100 * (ridle1 - ridle0) / idle_seconds,
        "first": first,
    }


def rules_sweep(
    url: str,
    directory: Path,
    counts: list[int],
    n: int,
    idle_seconds: float,
    queued: bool,
    repeat: int = 1,
) -> None:
    """Print one row per rule count, each next to the bare loop measured in the same round.
    With ``repeat``, rounds of every count in turn: each figure is the median over the rounds,
    each ratio the median of that round's ratios (to the bare loop, and to 100 rules when
    that is one of the counts)."""
    rounds: list[tuple[float, dict[int, dict[str, float]]]] = []
    for _ in range(repeat):
        bare = asyncio.run(bare_loop(url, n))
        costs = {}
        for count in counts:
            costs[count] = rules_cost(url, directory, count, n, idle_seconds, queued)
            print(f"{count} rules: {costs[count]}", file=sys.stderr, flush=True)
        print(f"bare loop: {bare:,.0f} events/s", file=sys.stderr, flush=True)
        rounds.append((bare, costs))

    rows: list[list[object]] = []
    for count in counts:
        runs = [costs[count] for _, costs in rounds]
        c = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        by_bare = statistics.median(costs[count]["rate"] / bare for bare, costs in rounds)
        by_100 = "-"
        if 100 in counts:
            ratios = [costs[count]["rate"] / costs[100]["rate"] for _, costs in rounds]
            by_100 = f"{statistics.median(ratios):.2f}"
        rows.append([f"{count:,}", f"{c['rate']:,.0f}", f"{by_bare:.2f}", by_100,
                     f"{c['router_ms'] * 1000:.0f}", f"{c['redis_ms'] * 1000:.0f}",
                     f"{c['router_idle']:.1f}%", f"{c['redis_idle']:.1f}%",
                     f"{c['first']:.1f}"])  # fmt: skip
    bare = statistics.median(bare for bare, _ in rounds)
    print(f"bare loop: {bare:,.0f} events/s; {repeat} round(s), medians; idle window "
          f"{idle_seconds:g} s; load {Path('/proc/loadavg').read_text().split()[:3]}")  # fmt: skip
    print_table(["rules", "events/s", "÷ bare", "÷ 100 rules", "router µs CPU/event",
                 "Redis µs CPU/event", "router CPU idle", "Redis CPU idle",
                 "launch → first delivery (s)"], rows)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rss-events", type=int, default=1_000_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    parser.add_argument("--startup", type=int, metavar="N", help="only time start-up, N rules")
    parser.add_argument("--rules-sweep", default="",
                        help="only the cost of rules, for these rule counts (e.g. 100,10000)")
    parser.add_argument("--idle-seconds", type=float, default=30.0,
                        help="the idle CPU window of --rules-sweep")
    parser.add_argument("--queued", action="store_true",
                        help="--rules-sweep through the delivery queues, not inline")
    parser.add_argument("--metrics-cost", action="store_true",
                        help="only: router CPU per event with metrics on and off, 100 and 10,000 "
                             "rules")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of --rules-sweep, or on/off pairs of --metrics-cost "
                             "(medians)")  # fmt: skip
    args = parser.parse_args()
    if args.startup:
        with redis_server(args.redis_server) as url, tempfile.TemporaryDirectory() as tmp:
            first, cached = startup_seconds(url, Path(tmp), args.startup)
        print(f"load {Path('/proc/loadavg').read_text().split()[:3]}")
        print_table(["rules", "start → first event delivered, s (router CPU-s)",
                     "next start, from the rule cache, s (router CPU-s)"],
                    [[f"{args.startup:,}", f"{first[0]:.2f} ({first[1]:.2f})",
                      f"{cached[0]:.2f} ({cached[1]:.2f})"]])  # fmt: skip
        return
    if args.rules_sweep:
        counts = [int(c) for c in args.rules_sweep.split(",")]
        with redis_server(args.redis_server) as url, tempfile.TemporaryDirectory() as tmp:
            rules_sweep(url, Path(tmp), counts, args.events, args.idle_seconds, args.queued,
                        args.repeat)
        return
    if args.metrics_cost:
        with redis_server(args.redis_server) as url, tempfile.TemporaryDirectory() as tmp:
            metrics_cost(url, Path(tmp), args.events, args.repeat)
        return
    print(f"{args.events} events, {RULES} rules, redis_stream target; {os.cpu_count()} CPUs; "
          f"redis-server {args.redis_server}")  # fmt: skip
    with redis_server(args.redis_server) as url, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        bare = asyncio.run(bare_loop(url, args.events))
        one = throughput(url, directory, args.events, 1)
        two = throughput(url, directory, args.events, 2)
        queued = throughput(url, directory, args.events, 1, queued=True)
        grown = throughput(url, directory, args.events, 1, rules=10 * RULES)
        rows: list[list[object]] = [
            ["bare XREADGROUP→XADD→XACK loop (ceiling)", bare, "1.00"],
            ["eventbus, 1 router", one, f"{one / bare:.2f}"],
            ["eventbus, 2 routers", two, f"{two / bare:.2f}"],
            ["eventbus, 1 router, through the delivery queues", queued, f"{queued / bare:.2f}"],
            [f"eventbus, 1 router, {10 * RULES:,} rules", grown, f"{grown / bare:.2f}"],
        ]
        print_table(["end to end", "events/s", "ratio to bare"], rows)
        print()
        lat = [[f"{rate:,}/s", *latency(url, directory, rate, args.latency_seconds)]
               for rate in (1000, 5000)]  # fmt: skip
        print_table(["put_events → delivery", "p50 ms", "p95 ms", "p99 ms"], lat)
        print()
        points = rss(url, directory, args.rss_events)
        print_table(["events routed", "router RSS MB"], [[n, f"{mb:.1f}"] for n, mb in points])


if __name__ == "__main__":
    main()
