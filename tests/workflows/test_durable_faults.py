"""Workers as real processes, one killed with SIGKILL every 2 s and started again, while
executions of a 10-state machine (Pass, Choice, Wait, HTTP tasks failing 30% of the time with
Retry and Catch, a Map of 20, a Parallel of 3) run: every execution ends as a fault-free run
does, with a contiguous history; the task invocations made again are counted and reported.

The normal suite runs 30 executions; ``make test-full`` (``EVENTBUS_TEST_FULL=1``) 1,000.
"""

from __future__ import annotations

import time

import pytest
import redis
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

EXECUTIONS = 1000 if FULL else 30
KILL_EVERY = 2.0  # seconds between kills of the victim worker


def test_executions_survive_a_worker_killed_every_two_seconds(
    redis_url: str, counting_server: CountingServer, worker_processes: Workers,
    capsys: pytest.CaptureFixture[str],
) -> None:
    began = time.monotonic()
    worker_processes.redis_url = redis_url
    arns = start_executions(redis_url, EXECUTIONS, counting_server.url)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    victim, _survivor = worker_processes.spawn(), worker_processes.spawn()
    # The first kill once some steps are stored, so that it lands mid-run even on a fast machine.
    wait_for(lambda: stored_events(client, arns) > 4 * EXECUTIONS, "some steps stored")
    kills = 0
    while open_executions(client, arns):
        Workers.kill(victim)
        kills += 1
        victim = worker_processes.spawn()
        deadline = time.monotonic() + KILL_EVERY
        while time.monotonic() < deadline and open_executions(client, arns):
            time.sleep(0.1)
    events = check_executions(client, arns, counting_server.url)
    check_status_events(client, arns)
    client.close()
    line = report("worker SIGKILL every 2 s", {
        "executions": EXECUTIONS, "events": events, "kills": kills,
        "seconds": round(time.monotonic() - began, 1), **counting_server.duplicates()})
    with capsys.disabled():
        print(f"\n{line}")
    assert kills >= 1
