"""``eventbus serve`` serves the machines of the workflow files over the Step Functions API and
follows the files as it follows the rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
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
