"""``eventbus serve`` and ``eventbus run --http`` serve the machines of the workflow files over
the Step Functions API, follow the files as they follow the rules, and run what is started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis_server import free_port
from sfn_gateway import PASS, sfn_client
from waiting import wait_for


def _names(sfn: object) -> list[str]:
    return [m["name"] for m in sfn.list_state_machines()["stateMachines"]]  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
def test_serve_lists_the_workflow_files_and_follows_them(redis_url: str, tmp_path: Path) -> None:
    # Given `eventbus serve` over rules/ with a workflows/ directory beside it
    (tmp_path / "rules").mkdir()
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "nightly.asl.json").write_text(PASS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBUS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "serve", "--port", "0", "--no-auth",
         "--rules", str(tmp_path / "rules"), "--redis", redis_url],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = ""
        while "gateway on" not in line:
            line = process.stderr.readline()
            assert line, "eventbus serve exited"
        sfn = sfn_client(line.split("gateway on ")[1].split()[0])
        # Then its machine is listed
        assert _names(sfn) == ["nightly"]
        # When a workflow file is added (renamed into place: never seen half written)
        (workflows / "hourly.part").write_text(PASS)
        (workflows / "hourly.part").rename(workflows / "hourly.asl.json")
        # Then it is listed too, without a restart
        wait_for(lambda: _names(sfn) == ["hourly", "nightly"], "the new workflow file")
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.timeout(90)
def test_an_execution_started_over_the_api_runs_on_the_router(
    redis_url: str, tmp_path: Path
) -> None:
    # Given `eventbus run --http` over rules/ and a workflows/ directory beside it
    (tmp_path / "rules").mkdir()
    (tmp_path / "workflows").mkdir()
    definition = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 7, "End": true}}}'
    (tmp_path / "workflows" / "demo.asl.json").write_text(definition)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBUS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "run", "--rules", str(tmp_path / "rules"),
         "--redis", redis_url, "--http", str(port), "--no-auth"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        sfn = sfn_client(f"http://127.0.0.1:{port}")
        machines = wait_for(lambda: _listed(sfn), "the gateway listening")
        # When an execution of the file's machine is started over the API
        arn = sfn.start_execution(stateMachineArn=machines[0]["stateMachineArn"])["executionArn"]
        # Then the router's workflow worker runs it to its end
        done = wait_for(lambda: _closed(sfn, arn), "the execution to end")
        assert (done["status"], done["output"]) == ("SUCCEEDED", "7")
        events = sfn.get_execution_history(executionArn=arn)["events"]
        assert events[0]["type"] == "ExecutionStarted"
        assert events[-1]["type"] == "ExecutionSucceeded"
    finally:
        process.terminate()
        process.wait(30)


def _listed(sfn: object) -> list[dict[str, object]] | None:
    try:
        return sfn.list_state_machines()["stateMachines"]  # type: ignore[attr-defined,no-any-return]
    except Exception:  # not listening yet
        return None


def _closed(sfn: object, arn: str) -> dict[str, object] | None:
    described = sfn.describe_execution(executionArn=arn)  # type: ignore[attr-defined]
    return None if described["status"] == "RUNNING" else described  # type: ignore[no-any-return]
