"""Retention of closed executions on a real Redis: what expires goes, whole; nothing else does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_server import RunningGateway
from redis.asyncio import Redis
from sfn_gateway import nightly_gateway, refusal, sfn_client

from eventbus import keys
from eventbus.errors import ExecutionDoesNotExist
from eventbus.workflows import store
from eventbus.workflows.executions import Executions
from eventbus.workflows.retention import execution_keys, remove_expired

from .durable import until_closed, worker
from .helpers import machine

DONE = machine({"Done": {"Type": "Pass", "End": True}})
HOLD = machine({"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}})
CALLBACK = machine({"Ask": {"Type": "Task", "Resource": "ask.waitForTaskToken",
                            "TimeoutSeconds": 1, "End": True}})


async def _gone(api: Executions, arn: str, timeout: float = 30.0) -> None:
    """Wait (bounded) until the execution is no more."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await api.describe_execution(arn)
            except ExecutionDoesNotExist:
                return
            await asyncio.sleep(0.02)


async def _keys_of(redis: Redis, arn: str) -> list[bytes]:
    p = store.partition_of(arn)
    return [k.encode() for k in execution_keys(p, arn) if await redis.exists(k)]


async def test_a_closed_execution_is_removed_once_its_retention_passed(redis: Redis) -> None:
    api = Executions(redis, {"done": DONE, "hold": HOLD, "ask": CALLBACK})
    done = (await api.start_execution("done", "{}", name="d"))["executionArn"]
    timed_out = (await api.start_execution("ask", "{}", name="a"))["executionArn"]
    running = (await api.start_execution("hold", "{}", name="h"))["executionArn"]
    async with worker(redis, {"ask": lambda _: None}, retention=0.3, claim_idle=1.0):
        await _gone(api, done)
        await _gone(api, timed_out)
        assert (await api.describe_execution(running))["status"] == "RUNNING"
    for arn in (done, timed_out):
        p = store.partition_of(arn)
        assert await _keys_of(redis, arn) == []  # record, history, replies, waits
        assert await redis.zscore(keys.workflow_index(p), arn) is None
        assert await redis.zscore(keys.workflow_closed(p), arn) is None
        with pytest.raises(ExecutionDoesNotExist):
            await api.get_execution_history(arn)
    assert (await api.list_executions("done"))["executions"] == []
    assert [e["executionArn"] for e in (await api.list_executions("hold"))["executions"]] == \
        [running]
    # As on AWS, a name is free again once its execution has expired.
    again = await api.start_execution("done", "{}", name="d")
    assert again["executionArn"] == done


async def test_the_closed_index_dates_each_close_and_only_expired_ones_go(redis: Redis) -> None:
    api = Executions(redis, {"done": DONE})
    arns = [(await api.start_execution("done", "{}", name=f"e{i}"))["executionArn"]
            for i in range(5)]
    async with worker(redis):  # the default retention: 90 days
        for arn in arns:
            await until_closed(api, arn)
    seconds, _ = await redis.time()
    for arn in arns:
        closed = await redis.zscore(keys.workflow_closed(store.partition_of(arn)), arn)
        assert closed is not None and abs(closed / 1000 - seconds) < 60
    assert await remove_expired(redis, 3600.0) == 0
    # One at a time: a partition with more than a batch goes on in the same call.
    assert await remove_expired(redis, 0.0, batch=1) == 5
    for arn in arns:
        assert await _keys_of(redis, arn) == []


async def test_an_execution_running_again_is_not_removed(redis: Redis) -> None:
    """A redrive makes a closed execution RUNNING again: it only leaves the closed index, and
    its next close indexes it again."""
    api = Executions(redis, {"done": DONE})
    arn = (await api.start_execution("done", "{}", name="back"))["executionArn"]
    async with worker(redis):
        await until_closed(api, arn)
    p = store.partition_of(arn)
    await redis.hset(keys.workflow_execution(p, arn), "status", "RUNNING")
    assert await remove_expired(redis, 0.0) == 0
    assert (await api.describe_execution(arn))["status"] == "RUNNING"
    assert await redis.zscore(keys.workflow_closed(p), arn) is None


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            redis_server: Any) -> Iterator[RunningGateway]:
    with nightly_gateway(tmp_path_factory, redis_server.url) as gw:
        yield gw


def test_over_the_api_an_expired_execution_does_not_exist(gateway: RunningGateway,
                                                         redis_url: str) -> None:
    sfn = sfn_client(gateway.url)
    machine_arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                       if m["name"] == "nightly")
    arn = sfn.start_execution(stateMachineArn=machine_arn, name="old")["executionArn"]

    async def expire() -> None:
        client = Redis.from_url(redis_url)
        api = Executions(client, {"nightly": DONE})
        async with worker(client, retention=0.2):
            await _gone(api, arn)
        await client.aclose()

    asyncio.run(expire())
    assert refusal(sfn.describe_execution, executionArn=arn) == (
        "ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
    assert refusal(sfn.get_execution_history, executionArn=arn)[0] == "ExecutionDoesNotExist"
    assert sfn.list_executions(stateMachineArn=machine_arn)["executions"] == []


def test_the_period_comes_from_the_flag_else_the_setting(monkeypatch: pytest.MonkeyPatch,
                                                         redis_url: str) -> None:
    from typer.testing import CliRunner

    from eventbus.cli import app
    from eventbus.settings import Settings
    from eventbus.workflows import worker as worker_module

    seen: list[Any] = []

    async def run_worker(url: str, options: Any, **_: Any) -> None:
        seen.append(options)

    monkeypatch.setattr(worker_module, "run_worker", run_worker)
    result = CliRunner().invoke(app, ["workflows", "worker", "--redis", redis_url,
                                      "--workflow-retention-days", "0.5"])
    assert result.exit_code == 0, result.output
    assert seen[0].retention == 43_200.0
    monkeypatch.setenv("EVENTBUS_WORKFLOW_RETENTION_DAYS", "7")
    assert Settings.from_env().workflow_retention_days == 7.0
    assert Settings().workflow_retention_days == 90.0
