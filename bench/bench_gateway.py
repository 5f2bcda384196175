"""PutEvents over HTTP through one gateway process, SigV4 on, against the bare Python client.

Run: ``.venv/bin/python bench/bench_gateway.py [--seconds 5] [--connections 4]``.

It starts a private redis-server and ``eventbus serve`` (one process) on free loopback ports,
then a load generator in another process: threads over keep-alive ``http.client`` connections,
each request signed with the minimal SigV4 signer (``eventbus.sigv4.sign_request``), as an AWS
SDK would sign it. Rows:

- closed loop, batches of 1 and 10: requests/s, entries/s, p50/p99 latency;
- open loop at a fixed 1,000 requests/s of one entry: p50/p99, measured from each request's
  scheduled send time, so a stall cannot hide queued requests (no coordinated omission);
- baseline: ``EventBusClient.put_events`` straight to Redis, batches of 1 and 10, in this process.

Targets: >= 5,000 entries/s with batches of 10; p99 < 20 ms at 1,000 requests/s. It never
asserts: record the figures in bench/README.md with the machine and date.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import platform
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from eventbus.client import EventBusClient
from eventbus.sigv4 import sign_request

KEY_ID, SECRET, REGION = "AKIDBENCH", "bench-secret", "us-east-1"
ENTRY = {
    "Source": "shop.orders",
    "DetailType": "OrderPlaced",
    "Detail": orjson.dumps({
        "order": {"id": "o-123", "total": 99.5, "currency": "EUR"},
        "customer": {"id": "c-42", "tier": "gold"},
    }).decode(),
}  # fmt: skip
HEADERS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents"}


# ---- processes under test ----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    binary = shutil.which("redis-server") or "redis-server"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def start_gateway(rules: Path, redis_url: str) -> tuple[subprocess.Popen[str], str]:
    env = os.environ | {"EVENTBUS_ACCESS_KEY_ID": KEY_ID, "EVENTBUS_SECRET_ACCESS_KEY": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "serve", "--rules", str(rules), "--redis", redis_url,
         "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if "gateway on" in line:
            return process, line.split("gateway on ")[1].split()[0]
    raise RuntimeError("eventbus serve exited before listening")


# ---- the load generator (runs in its own process) ----


def _signed(url: str, batch: int) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"Entries": [ENTRY] * batch})
    return body, sign_request("POST", url, HEADERS, body, key_id=KEY_ID, secret=SECRET,
                              region=REGION)  # fmt: skip


def _post(conn: http.client.HTTPConnection, url: str, batch: int) -> None:
    body, headers = _signed(url, batch)
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200 or b'"FailedEntryCount":0' not in answer:
        raise RuntimeError(f"gateway answered {response.status}: {answer[:200]!r}")


def _closed_worker(url: str, batch: int, until: float, out: list[float]) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    while (start := time.perf_counter()) < until:
        _post(conn, url, batch)
        out.append(time.perf_counter() - start)
    conn.close()


def _open_worker(url: str, interval: float, first: float, until: float, out: list[float]) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    scheduled = first
    while scheduled < until:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        _post(conn, url, 1)
        out.append(time.perf_counter() - scheduled)
        scheduled += interval
    conn.close()


def _run_threads(targets: list[tuple[Any, tuple[Any, ...]]]) -> None:
    threads = [threading.Thread(target=fn, args=args) for fn, args in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def load(job: dict[str, Any], results: multiprocessing.Queue[dict[str, Any]]) -> None:
    """One measurement, in the load generator process: latencies in seconds, wall time."""
    url, seconds, connections = job["url"], job["seconds"], job["connections"]
    # Warm the connections and the gateway's caches before timing.
    _closed_worker(url, job.get("batch", 1), time.perf_counter() + 0.5, [])
    lists: list[list[float]] = [[] for _ in range(connections)]
    start = time.perf_counter()
    until = start + seconds
    if job["mode"] == "closed":
        _run_threads([(_closed_worker, (url, job["batch"], until, out)) for out in lists])
    else:
        interval = connections / job["rate"]
        _run_threads([
            (_open_worker, (url, interval, start + i * interval / connections, until, out))
            for i, out in enumerate(lists)
        ])  # fmt: skip
    wall = time.perf_counter() - start
    results.put({"latencies": [x for out in lists for x in out], "wall": wall})


def measure(job: dict[str, Any]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    process = context.Process(target=load, args=(job, results))
    process.start()
    try:
        result = results.get(timeout=job["seconds"] + 120)
    except queue.Empty:
        raise RuntimeError("the load generator produced no result") from None
    process.join()
    return result


# ---- the baseline and the table ----


def baseline(redis_url: str, batch: int, seconds: float) -> float:
    """Entries/s of the bare Python client (one connection, one thread) on the same Redis."""
    with EventBusClient.from_url(redis_url) as client:
        entries = [ENTRY] * batch
        client.put_events(entries)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            client.put_events(entries)
            done += batch
        return done / (time.perf_counter() - start)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def _row(name: str, batch: int, result: dict[str, Any]) -> list[str]:
    latencies, wall = result["latencies"], result["wall"]
    requests = len(latencies) / wall
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    return [name, str(batch), f"{requests:,.0f}", f"{requests * batch:,.0f}", f"{p50:.2f}",
            f"{p99:.2f}"]  # fmt: skip


def _print_table(rows: list[list[str]]) -> None:
    header = ["mode", "batch", "requests/s", "entries/s", "p50 ms", "p99 ms"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop requests/s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_process, redis_url = start_redis(Path(tmp))
        rules = Path(tmp) / "rules.yaml"
        rules.write_text("bus: default\nrules: []\n")
        gateway, url = start_gateway(rules, redis_url)
        try:
            job = {"url": url, "seconds": args.seconds, "connections": args.connections}
            rows = [
                _row(f"gateway closed x{args.connections}", batch,
                     measure(job | {"mode": "closed", "batch": batch}))
                for batch in (1, 10)
            ]  # fmt: skip
            rows.append(_row(f"gateway open {args.rate:,.0f} req/s", 1,
                             measure(job | {"mode": "open", "rate": args.rate})))  # fmt: skip
            for batch in (1, 10):
                rate = baseline(redis_url, batch, args.seconds)
                rows.append(["python client (baseline)", str(batch), f"{rate / batch:,.0f}",
                             f"{rate:,.0f}", "-", "-"])  # fmt: skip
        finally:
            gateway.terminate()
            gateway.wait(20)
            redis_process.terminate()
            redis_process.wait(20)
    machine = platform.processor() or platform.machine()
    print(f"{machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}, SigV4 on, "
          "load generator in another process")  # fmt: skip
    _print_table(rows)


if __name__ == "__main__":
    main()
