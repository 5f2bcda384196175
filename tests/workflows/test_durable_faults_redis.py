"""Redis killed with SIGKILL under ``appendfsync always`` while two worker processes run
executions of the fault machine (``fault_rig.py``), and started again on the same port from its
AOF: nothing stored is lost, and every execution ends as a fault-free run does, with a
contiguous history; the task invocations made again are counted and reported.

The normal suite runs 30 executions and one kill; ``make test-full`` 1,000 and five.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from redis_server import RedisServer
from waiting import wait_for

from .fault_rig import (
    FULL,
    FULL_TIMEOUT,
    CountingServer,
    Workers,
    check_executions,
    check_status_events,
    open_executions,
    report,
    start_executions,
    stored_events,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(FULL_TIMEOUT if FULL else 120)]

EXECUTIONS, KILLS = (1000, 5) if FULL else (30, 1)


def test_executions_survive_redis_killed_under_appendfsync_always(
    redis_factory: Callable[..., RedisServer], counting_server: CountingServer,
    worker_processes: Workers, capsys: pytest.CaptureFixture[str],
) -> None:
    began = time.monotonic()
    server = redis_factory(appendonly=True, fsync="always")
    worker_processes.redis_url = server.url
    arns = start_executions(server.url, EXECUTIONS, counting_server.url)
    client = redis.Redis.from_url(server.url, decode_responses=True)
    for _ in range(2):
        worker_processes.spawn()
    # An execution stores about 180 events: kill at evenly spread points of the run.
    total = 180 * EXECUTIONS
    for kill in range(KILLS):
        threshold = total * (kill + 1) // (KILLS + 2)
        wait_for(lambda t=threshold: stored_events(client, arns) > t, "some steps stored",
                 timeout=600)
        before = stored_events(client, arns)
        server.restart(kill=True)
        # appendfsync always: what was answered was on disk, so nothing stored is lost.
        assert stored_events(client, arns) >= before
        assert open_executions(client, arns), "Redis was killed after every execution ended"
    wait_for(lambda: not open_executions(client, arns), "every execution closed",
             timeout=FULL_TIMEOUT)
    events = check_executions(client, arns, counting_server.url)
    check_status_events(client, arns)
    client.close()
    line = report("Redis SIGKILL under appendfsync always", {
        "executions": EXECUTIONS, "events": events, "kills": KILLS,
        "seconds": round(time.monotonic() - began, 1), **counting_server.duplicates()})
    with capsys.disabled():
        print(f"\n{line}")
