"""``eventbus run`` also runs executions, and a rule reacts to their status changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from redis.asyncio import Redis

from eventbus.targets.memory import forget, recorded
from eventbus.worker import Router, RouterOptions
from eventbus.workflows.executions import Executions

from .durable import until_closed
from .helpers import machine

RULES = """bus: default
rules:
  - name: on-success
    event_pattern:
      source: [aws.states]
      detail-type: [Step Functions Execution Status Change]
      detail: {status: [SUCCEEDED]}
    targets:
      - id: seen
        type: memory
        name: workflow-succeeded
"""


async def test_a_router_runs_executions_and_its_rules_see_their_status_changes(
    redis: Redis, tmp_path: Path
) -> None:
    forget("workflow-succeeded")
    (tmp_path / "rules.yaml").write_text(RULES)
    options = RouterOptions(claim_idle=0.5, block_ms=20, workflows=True)
    router = Router(redis, tmp_path, options)
    await router.start()
    task = asyncio.create_task(router.run())
    try:
        api = Executions(redis, {"hello": machine({"Hi": {"Type": "Pass", "End": True}})})
        started = await api.start_execution("hello", '{"who": "world"}', name="greeting")
        assert (await until_closed(api, started["executionArn"]))["status"] == "SUCCEEDED"
        async with asyncio.timeout(30):
            while not recorded("workflow-succeeded"):
                await asyncio.sleep(0.02)
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
    [delivery] = recorded("workflow-succeeded")
    event = orjson.loads(delivery.payload)
    assert event["detail"]["executionArn"] == started["executionArn"]
    assert event["detail"]["output"] == '{"who":"world"}'


async def test_without_workflows_a_router_leaves_executions_alone(
    redis: Redis, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    router = Router(redis, tmp_path, RouterOptions(block_ms=20))
    assert router.workflow_worker is None
