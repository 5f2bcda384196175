"""Fault tests: routers as real processes on real redis-servers, killed, restarted, starved.

Each test is bounded in time; the figures (duplicates, redeliveries) are printed for the report
(run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from waiting import wait_for

from eventbus.client import EventBusClient
from eventbus.errors import BusError, TargetError
from eventbus.targets.base import DeliveryContext

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parent
BUS_CONFIG = """bus: default
bus_config:
  retry_backoff_base_seconds: 0.05
  retry_backoff_cap_seconds: 0.3
rules:
"""


# --- target functions the router processes call (through the `python` target) ----------------


def _flag_up() -> bool:
    return Path(os.environ["EB_FAULT_FLAG"]).exists()


async def flaky(payload: str, ctx: DeliveryContext) -> dict[str, Any]:
    """Fails (retryably) while the flag file exists, then records the delivery."""
    r = ctx.extra["redis"]
    await r.incr("calls")
    if _flag_up():
        raise TargetError("the target is down", code="DOWN")
    await r.xadd("flaky-out", {"event-id": ctx.event_id, "attempt": ctx.attempt})
    return {"ok": True}


async def raising(payload: str, ctx: DeliveryContext) -> None:
    raise ValueError("a bug in the target")


async def slow(payload: str, ctx: DeliveryContext) -> None:
    await asyncio.sleep(1.0)
    await ctx.extra["redis"].xadd("slow-out", {"event-id": ctx.event_id})


# --- helpers ------------------------------------------------------------------------------------


def _with_tests_importable() -> dict[str, str]:
    """The environment for a CLI process that loads rules naming `test_faults:...` functions
    (python targets are imported when rules load)."""
    return {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


class RouterProcess:
    """``python -m eventbus run`` as a child process."""

    def __init__(self, rules: Path, url: str, log: Path, *extra: str) -> None:
        self.args = [sys.executable, "-m", "eventbus", "run", "--rules", str(rules),
                     "--redis", url, "--claim-idle", "1", *extra]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RouterProcess:
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                self.args, stderr=err, stdout=subprocess.DEVNULL, env=_with_tests_importable()
            )
        return self

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.signal(signal.SIGTERM)


@pytest.fixture
def routers(tmp_path: Path) -> Iterator[Callable[..., RouterProcess]]:
    started: list[RouterProcess] = []

    def make(rules: Path, url: str, *extra: str) -> RouterProcess:
        proc = RouterProcess(rules, url, tmp_path / f"router{len(started)}.log", *extra).start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        if proc.proc and proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(10)


def write_rules(tmp_path: Path, targets: str) -> Path:
    path = tmp_path / "rules"
    path.mkdir(exist_ok=True)
    rule = f"""  - name: orders
    event_pattern: {{source: [shop]}}
    targets:
{targets}"""
    (path / "rules.yaml").write_text(BUS_CONFIG + rule)
    return path


def publish(url: str, n: int, *, batch: int = 500) -> list[str]:
    ids: list[str] = []
    with EventBusClient.from_url(url) as client:
        for start in range(0, n, batch):
            entries = [
                {"Source": "shop", "DetailType": "t", "Detail": orjson.dumps({"n": i}).decode()}
                for i in range(start, min(n, start + batch))
            ]
            result = client.put_events(entries)
            assert result["FailedEntryCount"] == 0
            ids += [e["EventId"] for e in result["Entries"]]
    return ids


def event_ids(r: redis.Redis, stream: str) -> list[str]:
    return [f[b"event-id"].decode() for _, f in r.xrange(stream)]


def distinct(r: redis.Redis, stream: str, n: int) -> bool:
    return r.xlen(stream) >= n and len(set(event_ids(r, stream))) >= n


# --- the tests ----------------------------------------------------------------------------------


# A stream target on the bus's Redis is delivered while routing; naming its Redis by URL sends
# its deliveries through the queue and lane, the path of every other target. Both are faulted.
PATHS = pytest.mark.parametrize("path", ["inline", "queued"])


def stream_target(target_id: str, stream: str, path: str, url: str) -> str:
    via = f", redis_url: '{url}'" if path == "queued" else ""
    return f"      - {{id: {target_id}, type: redis_stream, stream: {stream}{via}}}"


@PATHS
def test_a_router_killed_midway_and_restarted_delivers_every_event(
    tmp_path: Path, redis_factory: Any, routers: Callable[..., RouterProcess], path: str
) -> None:
    server = redis_factory()
    r = redis.Redis.from_url(server.url)
    rules = write_rules(tmp_path, stream_target("out", "out", path, server.url))
    ids = publish(server.url, 20_000)
    first = routers(rules, server.url)
    wait_for(lambda: r.xlen("out") >= 5_000, "a quarter delivered")
    assert first.signal(signal.SIGKILL) == -signal.SIGKILL
    at_kill = r.xlen("out")
    routers(rules, server.url)
    wait_for(lambda: distinct(r, "out", 20_000), "all 20,000 events delivered")
    got = event_ids(r, "out")
    duplicates = len(got) - len(set(got))
    print(f"\n{path}: SIGKILL at {at_kill} deliveries; {len(set(got))} distinct events, "
          f"{duplicates} duplicates")  # fmt: skip
    assert set(got) == set(ids)


def test_a_target_down_for_a_while_gets_everything_once_it_recovers(
    tmp_path: Path, redis_factory: Any, routers: Callable[..., RouterProcess], monkeypatch: Any
) -> None:
    flag = tmp_path / "down"
    flag.touch()
    monkeypatch.setenv("EB_FAULT_FLAG", str(flag))
    server = redis_factory()
    r = redis.Redis.from_url(server.url)
    flaky_target = "      - {id: flaky, type: python, function: 'test_faults:flaky'}"
    rules = write_rules(tmp_path, flaky_target)
    routers(rules, server.url)
    ids = publish(server.url, 200)
    wait_for(lambda: int(r.get("calls") or 0) >= 400, "the target failing")
    flag.unlink()
    wait_for(lambda: distinct(r, "flaky-out", 200), "all 200 delivered after recovery")
    assert set(event_ids(r, "flaky-out")) == set(ids)
    assert r.xlen("eb:{default}:dlq") == 0
    print(f"\n{int(r.get('calls') or 0)} attempts for 200 deliveries, none dead-lettered")


def test_a_slow_target_does_not_slow_another_target(
    tmp_path: Path, redis_factory: Any, routers: Callable[..., RouterProcess]
) -> None:
    server = redis_factory()
    r = redis.Redis.from_url(server.url)
    rules = write_rules(
        tmp_path,
        "      - {id: slow, type: python, function: 'test_faults:slow'}\n"
        "      - {id: fast, type: redis_stream, stream: fast-out}",
    )
    routers(rules, server.url, "--concurrency", "8")
    publish(server.url, 200)
    wait_for(lambda: r.xlen("fast-out") >= 200, "the fast target's 200 deliveries")
    slow_done = r.xlen("slow-out")
    print(f"\nfast target: 200 delivered while the slow one had {slow_done}")
    assert slow_done < 200


def test_an_always_failing_target_dead_letters_everything_and_redrive_delivers_it(
    tmp_path: Path, redis_factory: Any, routers: Callable[..., RouterProcess], monkeypatch: Any
) -> None:
    flag = tmp_path / "down"
    flag.touch()
    monkeypatch.setenv("EB_FAULT_FLAG", str(flag))
    server = redis_factory()
    r = redis.Redis.from_url(server.url)
    rules = write_rules(
        tmp_path,
        "      - {id: flaky, type: python, function: 'test_faults:flaky',"
        " retry_policy: {maximum_retry_attempts: 2}, dead_letter: {stream: flaky-dead}}\n"
        "      - {id: good, type: redis_stream, stream: good-out}",
    )
    routers(rules, server.url)
    ids = publish(server.url, 100)
    wait_for(lambda: r.xlen("flaky-dead") >= 100, "100 dead letters")
    letters = [{k.decode(): v.decode() for k, v in f.items()} for _, f in r.xrange("flaky-dead")]
    outcomes = {(x["error-code"], x["attempts"], x["exhausted-retry-condition"]) for x in letters}
    assert outcomes == {("DOWN", "3", "MaximumRetryAttempts")}
    assert {orjson.loads(x["event"])["id"] for x in letters} == set(ids)
    flag.unlink()
    done = subprocess.run(
        [sys.executable, "-m", "eventbus", "dlq", "redrive", "--rules", str(rules),
         "--redis", server.url], capture_output=True, text=True, timeout=60,
        env=_with_tests_importable(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {"requeued": 100, "kept": 0}
    wait_for(lambda: distinct(r, "flaky-out", 100), "the redriven deliveries")
    assert r.xlen("flaky-dead") == 0
    assert sorted(event_ids(r, "good-out")) == sorted(ids)  # nothing twice to the other target


def _publish_through(url: str, n: int, restart: Callable[[], None]) -> list[str]:
    """Publish ``n`` events one batch at a time, restarting Redis midway; only the events
    put_events acknowledged are returned (a batch refused while Redis is down is not)."""
    acked: list[str] = []
    client = EventBusClient.from_url(url)
    for i in range(n // 100):
        if i == n // 200:
            restart()
        try:
            entries = [{"Source": "shop", "DetailType": "t", "Detail": "{}"}] * 100
            result = client.put_events(entries)
            acked += [e["EventId"] for e in result["Entries"] if "EventId" in e]
        except BusError:
            pass
    client.close()
    return acked


@pytest.mark.parametrize(("fsync", "kill"), [("everysec", False), ("always", True)])
def test_no_acknowledged_event_is_lost_when_redis_restarts(
    tmp_path: Path, redis_factory: Any, routers: Callable[..., RouterProcess], fsync: str,
    kill: bool,
) -> None:  # fmt: skip
    server = redis_factory(appendonly=True, fsync=fsync)
    rules = write_rules(tmp_path, "      - {id: out, type: redis_stream, stream: out}")
    routers(rules, server.url)
    r = redis.Redis.from_url(server.url)
    acked = publish(server.url, 1)
    wait_for(lambda: r.xlen("out") == 1, "the router running")
    acked += _publish_through(server.url, 4000, lambda: server.restart(kill=kill))
    wait_for(lambda: set(acked) <= set(event_ids(r, "out")), "every acknowledged event delivered")
    how = "SIGKILL under appendfsync always" if kill else "SHUTDOWN"
    print(f"\nRedis restarted ({how}): {len(acked)} acknowledged events, all delivered")


@PATHS
def test_two_routers_deliver_each_event_to_each_target_exactly_once(
    tmp_path: Path, redis_factory: Any, routers: Callable[..., RouterProcess], path: str
) -> None:
    server = redis_factory()
    r = redis.Redis.from_url(server.url)
    targets = [stream_target(t, f"{t}-out", path, server.url) for t in ("a", "b")]
    rules = write_rules(tmp_path, "\n".join(targets))
    routers(rules, server.url)
    routers(rules, server.url)
    ids = publish(server.url, 5000)
    for stream in ("a-out", "b-out"):
        wait_for(lambda s=stream: distinct(r, s, 5000), f"{stream} complete")  # type: ignore[misc]
    time.sleep(1.5)  # past --claim-idle: a wrongful claim would show up as a duplicate
    for stream in ("a-out", "b-out"):
        assert sorted(event_ids(r, stream)) == sorted(ids)


def test_bad_input_is_reported_and_never_stops_the_router(
    tmp_path: Path, redis_factory: Any, routers: Callable[..., RouterProcess]
) -> None:
    server = redis_factory()
    r = redis.Redis.from_url(server.url)
    rules = write_rules(
        tmp_path,
        "      - {id: out, type: redis_stream, stream: out}\n"
        "      - {id: bad, type: python, function: 'test_faults:raising',"
        " retry_policy: {maximum_retry_attempts: 0}}",
    )
    router = routers(rules, server.url)
    publish(server.url, 1)
    wait_for(lambda: r.xlen("out") == 1, "the first event")
    r.xadd("eb:{default#0}:events", {"event": "not json"})
    r.xadd("eb:{default#0}:events", {"event": orjson.dumps({"id": "x", "pad": "x" * 1_100_000})})
    publish(server.url, 1)
    wait_for(lambda: r.xlen("out") == 2, "the event after the bad ones")
    wait_for(lambda: r.xlen("eb:{default}:dlq") == 4, "two rejected entries, two failed calls")
    codes = sorted(f[b"error-code"].decode() for _, f in r.xrange("eb:{default}:dlq"))
    assert codes[:2] == ["EVENT_TOO_LARGE", "MALFORMED_EVENT"]
    assert router.proc is not None and router.proc.poll() is None
    assert router.signal(signal.SIGTERM) == 0
    logged = [orjson.loads(line) for line in router.log.read_text().splitlines()
              if line.startswith("{")]  # fmt: skip
    assert {"MALFORMED_EVENT", "EVENT_TOO_LARGE"} <= {x.get("code") for x in logged}
