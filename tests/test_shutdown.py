"""Shutdown under load: two ``eventbus run`` processes on many rules, events flowing, each
stopped with SIGTERM, both exit (bounded waits, not timing assertions) and every event published
is delivered at least once.

The fast suite runs it at 200 rules; ``make test-full`` (``EVENTBUS_TEST_FULL=1``) at 10,000,
the size at which a router once ignored SIGTERM for minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis

from eventbus import EventBusClient

FULL = os.environ.get("EVENTBUS_TEST_FULL") == "1"
RULES_PER_FILE = 1000  # a rule file's size is bounded (docs/rules.md)
# Bounds on waits that normally take seconds: a loaded machine gets room, a hang still fails.
START_DEADLINE = 300.0
EXIT_DEADLINE = 120.0
DRAIN_DEADLINE = 300.0


def write_rules(directory: Path, rules: int, redis_url: str) -> None:
    """``rules`` rules, rule ``i`` matching source ``app.<i>``, each writing to stream ``out``:
    even rules while routing (the bus's Redis), odd ones through their delivery queue and lane
    (the target names its Redis), so a stop finds deliveries both recorded and in flight."""
    for first in range(0, rules, RULES_PER_FILE):
        text = "\n".join(
            f"  - name: r{i}\n    event_pattern: {{source: [app.{i}]}}\n"
            f"    targets: [{{id: out, type: redis_stream, stream: out"
            f"{'' if i % 2 == 0 else f', redis_url: {redis_url!r}'}}}]"
            for i in range(first, min(first + RULES_PER_FILE, rules))
        )
        (directory / f"rules-{first:06d}.yaml").write_text(f"bus: default\nrules:\n{text}\n")


@contextmanager
def router(rules: Path, redis_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``eventbus run`` as its own process (killed at the end if still running); what it says
    on standard error goes to ``log``. The routers share a rule cache beside the rules."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBUS_")}
    env["EVENTBUS_RULE_CACHE_DIR"] = str(rules.parent / "cache")
    args = [sys.executable, "-m", "eventbus", "run", "--rules", str(rules), "--redis", redis_url,
            "--claim-idle", "1"]  # fmt: skip
    with log.open("wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_started(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the router says it runs (its start-up line), bounded."""
    deadline = time.monotonic() + START_DEADLINE
    while b"eventbus: " not in log.read_bytes():
        assert proc.poll() is None, f"the router exited: {log.read_text()}"
        assert time.monotonic() < deadline, "the router never started"
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit status once it exits (bounded: a router ignoring it fails)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a router ignored SIGTERM for {EXIT_DEADLINE:g} s")


class Producer(threading.Thread):
    """Publishes batches of events across every rule until stopped; ``ids`` are their ids."""

    def __init__(self, redis_url: str, rules: int) -> None:
        super().__init__(daemon=True)
        self.redis_url, self.rules = redis_url, rules
        self.ids: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        with EventBusClient.from_url(self.redis_url) as client:
            while not self.halt.is_set():
                batch = [{"Source": f"app.{(n + k) * 7919 % self.rules}", "DetailType": "t",
                          "Detail": "{}"} for k in range(50)]  # fmt: skip
                result = client.put_events(batch)
                self.ids += [entry["EventId"] for entry in result["Entries"]]
                n += len(batch)
                time.sleep(0.02)  # about 2,500 events/s: a steady flow, not a flood

    def published(self, more_than: int) -> None:
        """Until more than ``more_than`` events are published, bounded."""
        deadline = time.monotonic() + START_DEADLINE
        while len(self.ids) <= more_than:
            assert self.is_alive() and time.monotonic() < deadline, "the producer stalled"
            time.sleep(0.02)


class Delivered:
    """The event ids written to stream ``out`` so far, read on from where the last look ended."""

    def __init__(self, client: redis.Redis) -> None:
        self.client, self.after, self.ids = client, "-", set[str]()

    def look(self) -> set[str]:
        while entries := self.client.xrange("out", min=self.after, count=10_000):
            self.ids.update(fields[b"event-id"].decode() for _, fields in entries)
            self.after = "(" + entries[-1][0].decode()
        return self.ids


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "rules",
    [
        200,
        pytest.param(10_000, marks=pytest.mark.skipif(not FULL, reason="make test-full only")),
    ],
)
def test_two_routers_stopped_under_load_exit_and_lose_nothing(
    redis_url: str, tmp_path: Path, rules: int
) -> None:
    # Given two routers on many rules, events flowing through both
    directory = tmp_path / "rules"
    directory.mkdir()
    write_rules(directory, rules, redis_url)
    client = redis.Redis.from_url(redis_url)
    producer = Producer(redis_url, rules)
    with ExitStack() as stack:
        logs = [tmp_path / f"router{i}.log" for i in range(3)]
        first, second = (stack.enter_context(router(directory, redis_url, log))
                         for log in logs[:2])  # fmt: skip
        producer.start()
        for proc, log in ((first, logs[0]), (second, logs[1])):
            wait_started(proc, log)
        producer.published(len(producer.ids) + 1000)
        # When each gets SIGTERM while events keep coming
        assert stop(first) == 0
        producer.published(len(producer.ids) + 1000)
        assert stop(second) == 0
        producer.halt.set()
        producer.join()
        # Then both have exited, and what they left (pending, queued, unread) is delivered by
        # the next router: every event published is delivered at least once
        third = stack.enter_context(router(directory, redis_url, logs[2]))
        seen = Delivered(client)
        deadline = time.monotonic() + DRAIN_DEADLINE
        missing = set(producer.ids) - seen.look()
        while missing and time.monotonic() < deadline:
            assert third.poll() is None, f"the router exited: {logs[2].read_text()}"
            time.sleep(0.2)
            missing -= seen.look()
        assert not missing, f"{len(missing)} of {len(producer.ids)} events never delivered"
        assert stop(third) == 0
