"""A real gateway serving the Step Functions API, and boto3's ``stepfunctions`` client for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from gateway_server import KEY_ID, REGION, SECRET, RunningGateway, running_gateway

ROLE = "arn:aws:iam::000000000000:role/workflows"
PASS = orjson.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}).decode()


@dataclass(frozen=True)
class FileMachine:
    name: str
    type: str
    text: str
    version: str
    source: str


class Files:
    """Workflow files as the gateway reads them (the file catalog's interface)."""

    def __init__(self, *machines: FileMachine) -> None:
        self.machines = {m.name: m for m in machines}

    def get(self, name: str) -> FileMachine | None:
        return self.machines.get(name)

    def __iter__(self) -> Iterator[FileMachine]:
        return iter(self.machines.values())


@contextmanager
def sfn_gateway(tmp: Path, redis_url: str, workflow_file: Path) -> Iterator[RunningGateway]:
    """A gateway with no rules and one workflow file's machine, ``nightly``."""
    files = Files(FileMachine("nightly", "STANDARD", PASS, "v1", str(workflow_file)))
    with running_gateway(tmp, redis_url, catalog=files) as gw:
        yield gw


@contextmanager
def nightly_gateway(factory: pytest.TempPathFactory, redis_url: str) -> Iterator[RunningGateway]:
    """``sfn_gateway`` with its workflow file written in a directory of its own."""
    workflow_file = factory.mktemp("workflows") / "nightly.asl.json"
    workflow_file.write_text(PASS)
    with sfn_gateway(factory.mktemp("rules"), redis_url, workflow_file) as gw:
        yield gw


def sfn_client(url: str, *, validate: bool = True) -> Any:
    """boto3's client; ``validate=False`` sends what it is given, for the checks boto3 would
    make itself."""
    return boto3.client(
        "stepfunctions", endpoint_url=url, region_name=REGION, aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        # TestState's endpoint is `sync-<host>` to AWS; an IP address takes no such prefix.
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate,
                      inject_host_prefix=False),
    )  # fmt: skip


def refusal(call: Any, **params: Any) -> tuple[str, str]:
    """The (code, message) ``call`` answers with."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def create(sfn: Any, name: str, definition: str = PASS, **extra: Any) -> str:
    arn: str = sfn.create_state_machine(
        name=name, definition=definition, roleArn=ROLE, **extra
    )["stateMachineArn"]
    return arn
