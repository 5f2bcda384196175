"""``eventbus workflows start / list / describe / history / stop / redrive / graph
--execution`` against a real Redis, with a real worker running the executions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from eventbus.cli import app
from eventbus.workflows.executions import Executions

from .durable import assert_contiguous, until_closed, worker
from .helpers import machine

GREET = machine({
    "Greet": {"Type": "Pass", "Parameters": {"hello.$": "$.who"}, "Next": "Done"},
    "Done": {"Type": "Succeed"},
})
HOLD = machine({"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}})
PREFIX = "arn:aws:states:local:000000000000:execution"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "greet.asl.json").write_text(GREET)
    (tmp_path / "workflows" / "hold.asl.json").write_text(HOLD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVENTBUS_REDIS_URL", redis_url)
    return tmp_path


def cli(*args: str, code: int = 0) -> Any:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == code, done.output
    return orjson.loads(done.stdout) if code == 0 and done.stdout.lstrip()[:1] in "{[" else done


def run_to_end(redis_url: str, arn: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        redis = Redis.from_url(redis_url)
        try:
            async with worker(redis):
                return await until_closed(Executions(redis, {}), arn)
        finally:
            await redis.aclose()

    return asyncio.run(run())


def test_start_then_describe_history_list_and_graph_an_execution(
    project: Path, redis_url: str
) -> None:
    started = cli("workflows", "start", "greet", "--input", '{"who": "ada"}', "--name", "one")
    arn = f"{PREFIX}:greet:one"
    assert started["executionArn"] == arn
    assert run_to_end(redis_url, arn)["status"] == "SUCCEEDED"
    described = cli("workflows", "describe", "greet:one")
    assert described["status"] == "SUCCEEDED"
    assert orjson.loads(described["output"]) == {"hello": "ada"}
    events = cli("workflows", "history", arn)["events"]
    assert_contiguous(events)
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    newest_first = cli("workflows", "history", arn, "--reverse")["events"]
    assert [e["id"] for e in newest_first] == [e["id"] for e in reversed(events)]
    listed = cli("workflows", "list", "--status", "SUCCEEDED")["executions"]
    assert [e["executionArn"] for e in listed] == [arn]
    drawn = CliRunner().invoke(app, ["workflows", "graph", "greet", "--execution", "one",
                                     "--ascii", "--no-color"])
    assert drawn.exit_code == 0, drawn.output
    assert "Greet" in drawn.stdout and "Done" in drawn.stdout


def test_list_filters_by_state_machine_and_status_and_stop_aborts(
    project: Path, redis_url: str
) -> None:
    cli("workflows", "start", "greet", "--name", "g")
    cli("workflows", "start", "hold", "--name", "h")
    running = cli("workflows", "list", "--status", "RUNNING")["executions"]
    assert sorted(e["name"] for e in running) == ["g", "h"]
    assert [e["name"] for e in cli("workflows", "list", "--state-machine", "hold")
            ["executions"]] == ["h"]
    cli("workflows", "stop", "hold:h", "--error", "Halt", "--cause", "by hand")
    ended = run_to_end(redis_url, f"{PREFIX}:hold:h")
    assert (ended["status"], ended["error"], ended["cause"]) == ("ABORTED", "Halt", "by hand")


def test_stop_aborts_at_once_and_redrive_runs_the_execution_again(project: Path) -> None:
    cli("workflows", "start", "hold", "--name", "r")
    cli("workflows", "stop", "hold:r")
    assert cli("workflows", "describe", "hold:r")["status"] == "ABORTED"  # no worker runs
    redriven = cli("workflows", "redrive", "hold:r", "--client-token", "once")
    assert cli("workflows", "redrive", "hold:r", "--client-token", "once") == redriven
    described = cli("workflows", "describe", "hold:r")
    assert (described["status"], described["redriveCount"]) == ("RUNNING", 1)
    assert described["redriveDate"] == redriven["redriveDate"]
    events = cli("workflows", "history", "hold:r")["events"]
    assert [e["type"] for e in events][-3:] == [
        "ExecutionAborted", "ExecutionRedriven", "WaitStateEntered"]
    refused = cli("workflows", "redrive", "hold:r", code=1)
    assert "Execution is RUNNING and cannot be redriven" in refused.stderr


def test_unknown_executions_and_machines_are_clear_errors(project: Path) -> None:
    for command in (["describe", "greet:nope"], ["history", "greet:nope"],
                    ["stop", f"{PREFIX}:greet:nope"], ["redrive", "greet:nope"],
                    ["graph", "greet", "--execution", "nope"]):
        refused = cli("workflows", *command, code=1)
        assert f"Execution Does Not Exist: '{PREFIX}:greet:nope'" in refused.stderr
    assert "State Machine Does Not Exist" in cli("workflows", "start", "nope", code=1).stderr
    assert "MACHINE:NAME" in cli("workflows", "describe", "just-a-name", code=2).stderr
    assert "--status" in cli("workflows", "list", "--status", "DONE", code=2).stderr
    assert "Invalid execution input" in cli("workflows", "start", "greet", "--input", "{",
                                           code=2).stderr


def test_starting_the_same_name_after_it_ended_answers_execution_already_exists(
    project: Path, redis_url: str
) -> None:
    cli("workflows", "start", "greet", "--name", "once")
    run_to_end(redis_url, f"{PREFIX}:greet:once")
    again = cli("workflows", "start", "greet", "--name", "once", code=1)
    assert "Execution Already Exists" in again.stderr


def test_start_finds_a_machine_created_over_the_api(project: Path, redis_url: str) -> None:
    from eventbus.settings import get_settings
    from eventbus.workflows.registry import StoredMachine, machines

    async def create() -> None:
        redis = Redis.from_url(redis_url)
        try:
            record = StoredMachine("api-made", "STANDARD", GREET, "arn:aws:iam::1:role/r", 1, "r1")
            await machines(redis, get_settings().account).create(record)
        finally:
            await redis.aclose()

    asyncio.run(create())
    cli("workflows", "start", "api-made", "--input", '{"who": "bo"}', "--name", "x")
    done = run_to_end(redis_url, f"{PREFIX}:api-made:x")
    assert orjson.loads(done["output"]) == {"hello": "bo"}


def test_graph_of_an_execution_draws_the_definition_it_started_with(
    project: Path, redis_url: str
) -> None:
    cli("workflows", "start", "greet", "--input", '{"who": "ada"}', "--name", "before")
    run_to_end(redis_url, f"{PREFIX}:greet:before")
    renamed = GREET.replace('"Greet"', '"Welcome"')
    (project / "workflows" / "greet.asl.json").write_text(renamed)
    drawn = CliRunner().invoke(app, ["workflows", "graph", "greet", "--execution", "before",
                                     "--ascii", "--no-color"])
    assert drawn.exit_code == 0, drawn.output
    assert "ok Greet" in drawn.stdout and "Welcome" not in drawn.stdout
    # A machine created over the API has no file: its executions are drawn all the same.
    (project / "workflows" / "greet.asl.json").unlink()
    drawn = CliRunner().invoke(app, ["workflows", "graph", "greet", "--execution", "before",
                                     "--ascii", "--no-color"])
    assert drawn.exit_code == 0, drawn.output
    assert "ok Done" in drawn.stdout
