"""``eventbus workflows start`` of EXPRESS machines: ``--sync`` runs it in the command's
process; without it, it is queued for the workers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from eventbus import keys

from .helpers import machine
from .test_cli_executions import cli

DOUBLE = machine({"Double": {"Type": "Task", "Resource": "double", "End": True}})
FAIL = machine({"No": {"Type": "Fail", "Error": "Nope", "Cause": "refused"}})
PREFIX = "arn:aws:states:local:000000000000:express"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "double.express.asl.json").write_text(DOUBLE)
    (tmp_path / "workflows" / "no.express.asl.json").write_text(FAIL)
    (tmp_path / "workflows" / "standard.asl.json").write_text(FAIL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVENTBUS_REDIS_URL", redis_url)
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2]))  # for --tasks tests.workflows...
    return tmp_path


def test_sync_runs_it_here_with_the_given_tasks(project: Path) -> None:
    answer = cli("workflows", "start", "double", "--sync", "--input", '{"n": 21}',
                 "--name", "d1", "--tasks", "tests.workflows.durable_tasks:TASKS")
    assert answer["status"] == "SUCCEEDED"
    assert answer["executionArn"].startswith(f"{PREFIX}:double:d1:")
    assert orjson.loads(answer["output"]) == {"n": 21, "double": 42}
    assert answer["billingDetails"]["billedMemoryUsedInMB"] == 64


def test_a_failed_sync_execution_prints_its_error_and_exits_1(project: Path) -> None:
    done = cli("workflows", "start", "no", "--sync", code=1)
    answer = orjson.loads(done.stdout)
    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "Nope", "refused")


def test_sync_of_a_standard_machine_is_refused(project: Path) -> None:
    done = cli("workflows", "start", "standard", "--sync", code=2)
    assert "This operation is not supported by this type of state machine" in done.output


def test_an_express_machine_started_without_sync_is_queued(project: Path,
                                                         redis_url: str) -> None:
    answer = cli("workflows", "start", "double", "--input", '{"n": 1}')
    assert answer["executionArn"].startswith(f"{PREFIX}:double:")
    client = redis.Redis.from_url(redis_url)
    try:
        queued = [fields for p in range(keys.WORKFLOW_PARTITIONS)
                  for _, fields in client.xrange(keys.workflow_work(p))]
    finally:
        client.close()
    assert [(f[b"kind"], f[b"arn"].decode()) for f in queued] == [
        (b"express", answer["executionArn"])]
