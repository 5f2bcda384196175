"""docker-compose.yml: this machine has no Docker engine, so the file is parsed and each eventbus
service's command is run with ``--help`` through the project's own ``eventbus``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent
EVENTBUS = Path(sys.executable).parent / "eventbus"


def services() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def eventbus_services() -> list[str]:
    return sorted(n for n, s in services().items() if s.get("command", [""])[0] == "eventbus")


def test_redis_persists_with_aof() -> None:
    command = services()["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] in ("always", "everysec")
    assert any(v.endswith(":/data") for v in services()["redis"]["volumes"])


def test_routers_and_a_producer_use_the_compose_redis() -> None:
    commands = {name: services()[name]["command"] for name in eventbus_services()}
    kinds = sorted(command[1] for command in commands.values())
    assert kinds == ["put", "run"]
    for command in commands.values():
        assert command[command.index("--redis") + 1].startswith("redis://redis:6379")
    assert services()["router"]["deploy"]["replicas"] >= 1


def test_the_producer_publishes_a_file_of_the_repository() -> None:
    command = services()["producer"]["command"]
    in_image = command[command.index("--file") + 1]
    assert (ROOT / in_image.removeprefix("/app/")).is_file()


@pytest.mark.parametrize("service", eventbus_services())
def test_each_eventbus_command_parses(service: str) -> None:
    command = services()[service]["command"]
    done = subprocess.run(
        [str(EVENTBUS), *command[1:], "--help"], capture_output=True, text=True, timeout=60
    )
    if done.returncode == 2 and "No such command" in done.stderr:
        pytest.skip(f"`eventbus {command[1]}` is not implemented yet")
    assert done.returncode == 0, done.stderr
    assert f"Usage: eventbus {command[1]}" in done.stdout
