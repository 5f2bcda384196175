"""`eventbus status` and `eventbus tail` on real Redis servers with a real router."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from redis_server import free_port
from waiting import wait_for

from eventbus.client import EventBusClient

pytest_plugins = ["server_versions"]

RULES = """bus: default
bus_config:
  retry_backoff_base_seconds: 0.05
  retry_backoff_cap_seconds: 0.2
rules:
  - name: orders
    event_pattern: {{source: [shop]}}
    targets:
      - {{id: out, type: redis_stream, stream: out}}
      - {{id: api, type: http, url: "http://127.0.0.1:{port}/nowhere",
          retry_policy: {{maximum_retry_attempts: 1, maximum_event_age_seconds: 60}}}}
  - name: nightly
    schedule_expression: cron(0 2 * * ? *)
    timezone: Europe/Berlin
    targets:
      - {{id: out, type: redis_stream, stream: nightly}}
"""


def eventbus(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eventbus", *args], capture_output=True,
                          text=True, timeout=60, **kw)  # fmt: skip


def put(url: str, n: int = 1) -> None:
    with EventBusClient.from_url(url) as client:
        entries = [{"Source": "shop", "DetailType": "OrderPlaced", "Detail": f'{{"n": {i}}}'}
                   for i in range(n)]  # fmt: skip
        assert client.put_events(entries)["FailedEntryCount"] == 0


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(port=free_port()))  # nothing listens there: the target fails
    return path


@pytest.fixture
def router(rules: Path, any_redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "eventbus", "run", "--rules", str(rules),
                             "--redis", any_redis_url, "--consumer", "router-1"],
                            stderr=subprocess.DEVNULL)  # fmt: skip
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def status(rules: Path, url: str) -> dict[str, Any]:
    done = eventbus("status", "--rules", str(rules), "--redis", url, "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


def target(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in report["targets"] if t["rule"] == "orders" and t["target"] == name)


def test_status_shows_buses_targets_schedules_and_routers(
    rules: Path, any_redis_url: str, router: subprocess.Popen[bytes]
) -> None:
    url = any_redis_url
    wait_for(lambda: redis.Redis.from_url(url).exists("eb:routers"), "the router started")
    put(url)
    # The last success and error come from the routers' once-a-second metrics flush.
    report = wait_for(lambda: (r := status(rules, url)) and target(r, "out")["last_success"]
                      and target(r, "api")["last_error"] and r, "outcomes flushed")  # fmt: skip
    [bus] = report["buses"]
    assert bus["name"] == "default" and bus["routers"] == ["router-1"]
    assert bus["backlog"] == 0
    old_redis = report["redis_version"].startswith("6.")
    assert bus["estimate"] is old_redis
    assert target(report, "out")["last_error"] is None
    assert "Connect" in target(report, "api")["last_error"]["error"]
    [schedule] = report["schedules"]
    assert schedule["rule"] == "nightly" and schedule["next_firing"].endswith(("+01:00", "+02:00"))
    assert [(r["name"], r["alive"]) for r in report["routers"]] == [("router-1", True)]

    text = eventbus("status", "--rules", str(rules), "--redis", url)
    assert text.returncode == 0
    assert "Routers: 1 alive" in text.stdout
    assert "default/orders/api" in text.stdout and "default/nightly" in text.stdout

    # With the router stopped, new events wait: the backlog counts them.
    router.send_signal(signal.SIGTERM)
    router.wait(30)
    put(url, 3)
    [bus] = status(rules, url)["buses"]
    assert (bus["backlog"], bus["unread"], bus["in_progress"]) == (3, 3, 0)


def test_status_without_rule_files_still_shows_the_buses(tmp_path: Path, redis_url: str) -> None:
    put(redis_url, 2)  # publishing registers nothing: a bus is known once a router ran it
    redis.Redis.from_url(redis_url).sadd("eb:buses", "default")
    done = eventbus("status", "--rules", str(tmp_path / "none"), "--redis", redis_url, "--json")
    assert done.returncode == 0
    assert "rules not read" in done.stderr
    [bus] = orjson.loads(done.stdout)["buses"]
    assert bus["backlog"] == 2


def test_status_runs_on_the_embedded_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EVENTBUS_REDIS_URL"}
    try:
        done = eventbus("status", "--rules", str(tmp_path), cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert "(embedded, data in" in done.stderr and "Routers: 0 alive" in done.stdout
    finally:
        eventbus("embedded", "stop", cwd=tmp_path, env=env)


def test_tail_prints_a_streams_latest_entries_as_json_lines(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    for i in range(5):
        r.xadd("out", {"payload": f'{{"n": {i}}}'})
    done = eventbus("tail", "out", "-n", "2", "--redis", redis_url)
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(x) for x in done.stdout.splitlines()]
    assert [x["payload"] for x in lines] == ['{"n": 3}', '{"n": 4}']
    assert lines[0]["stream"] == "out" and "-" in lines[0]["id"]


def test_tail_bus_prints_the_events_of_every_partition(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).hset("eb:bus:{shop}:config", "partitions", 2)
    put_on = [{"EventBusName": "shop", "Source": "shop", "DetailType": "T",
               "Detail": f'{{"n": {i}}}'} for i in range(4)]  # fmt: skip
    with EventBusClient.from_url(redis_url) as client:
        client.put_events(put_on)
    done = eventbus("tail", "--bus", "shop", "--redis", redis_url)
    lines = [orjson.loads(x) for x in done.stdout.splitlines()]
    assert sorted(x["event"]["detail"]["n"] for x in lines) == [0, 1, 2, 3]
    assert {x["stream"] for x in lines} <= {"eb:{shop#0}:events", "eb:{shop#1}:events"}


def test_tail_follow_prints_new_entries(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.xadd("out", {"n": "old"})
    args = ["tail", "out", "--follow", "-n", "1", "--redis", redis_url]
    proc = subprocess.Popen([sys.executable, "-m", "eventbus", *args], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert orjson.loads(proc.stdout.readline())["n"] == "old"
        r.xadd("out", {"n": "new"})
        assert orjson.loads(proc.stdout.readline())["n"] == "new"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0


def test_tail_refuses_a_key_that_is_not_a_stream(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).set("plain", "x")
    done = eventbus("tail", "plain", "--redis", redis_url)
    assert done.returncode == 2 and "not a stream" in done.stderr
    assert eventbus("tail", "--redis", redis_url).returncode == 2


def test_tail_follow_with_max_entries_waits_for_them_then_exits(redis_url: str) -> None:
    args = ["tail", "out", "--follow", "--max-entries", "2", "--redis", redis_url]
    proc = subprocess.Popen([sys.executable, "-m", "eventbus", *args], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    r = redis.Redis.from_url(redis_url)
    for n in range(3):
        r.xadd("out", {"n": str(n)})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert [orjson.loads(x)["n"] for x in out.splitlines()] == ["0", "1"]
