"""A Redis outage under a running router is said once, summarised, and its end said once."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from redis_server import RedisServer
from waiting import wait_for

from eventbus.outage import OutageLog

RULES = """bus: default
rules:
  - name: orders
    event_pattern: {source: [shop]}
    targets:
      - {id: out, type: redis_stream, stream: out}
      - {id: audit, type: log}
"""


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_an_outage_is_one_warning_then_a_summary_per_interval_then_its_end() -> None:
    logger, records, now = logging.getLogger("test.outage"), Records(), [0.0]
    logger.addHandler(records)
    outage = OutageLog(logger, interval=30, clock=lambda: now[0])
    for _ in range(300):  # three loops failing ten times a second for ten seconds
        outage.failed("reading the bus", ConnectionError("refused"))
        now[0] += 0.1 / 3
    assert records.messages == ["Redis unavailable; retrying"]
    now[0] = 31.0
    outage.failed("moving retries", ConnectionError("refused"))
    outage.ok()
    outage.ok()
    assert records.messages == ["Redis unavailable; retrying", "Redis still unavailable; retrying",
                                "Redis available again"]  # fmt: skip


def _warnings(log: Path) -> list[str]:
    lines = [orjson.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    return [x["message"] for x in lines if x["level"] == "warning"]


def test_a_router_says_once_that_redis_is_down_and_once_that_it_is_back(
    tmp_path: Path, redis_factory: Callable[..., RedisServer]
) -> None:
    server = redis_factory(appendonly=True)  # comes back with its groups
    (tmp_path / "rules.yaml").write_text(RULES)
    log = tmp_path / "router.log"
    with log.open("wb") as err:
        args = ["run", "--rules", str(tmp_path / "rules.yaml"), "--redis", server.url]
        proc = subprocess.Popen([sys.executable, "-m", "eventbus", *args], stderr=err)
    try:
        wait_for(lambda: "gateway off" in log.read_text(), "the router started")
        server.shutdown()
        # Two seconds without Redis: before, every loop warned on every retry (about 20 lines).
        time.sleep(2)
        down = _warnings(log)
        server.start()
        wait_for(lambda: "Redis available again" in _warnings(log), "the router saw Redis back")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert down == ["Redis unavailable; retrying"]
    assert _warnings(log) == ["Redis unavailable; retrying", "Redis available again"]
