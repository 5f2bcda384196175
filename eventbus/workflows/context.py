"""The context object (``$$`` in JSONPath, ``$states.context`` in JSONata), pure.

Its shape depends on the state machine type and on how the execution was started, as AWS
builds it: an EXPRESS execution's id is an ``express:`` ARN, and ``RedriveCount`` appears only
for executions that can be redriven (those started with ``StartExecution``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["ExecutionInfo", "iso_time", "state_context"]

ACCOUNT = "123456789012"
REGION = "us-east-1"


def iso_time(moment: datetime) -> str:
    """AWS's timestamp text: UTC with milliseconds, e.g. ``2024-05-01T12:00:00.000Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """What an execution's context object says about the execution and its state machine."""

    name: str
    state_machine_name: str
    start_time: datetime
    input: Any
    state_machine_type: str = "STANDARD"
    invocation: str = "StartExecution"
    role_arn: str | None = f"arn:aws:iam::{ACCOUNT}:role/eventbus-workflows"
    execution_uuid: str | None = "00000000-0000-0000-0000-000000000000"
    # Of the ARNs: the durable engine passes its settings' (the core reads no settings).
    region: str = REGION
    account: str = ACCOUNT
    # A durable execution runs a DISTRIBUTED Map's iterations as child executions (a Map Run
    # task); run_local runs them inside, each with a history of its own.
    child_map_runs: bool = False

    @property
    def state_machine_arn(self) -> str:
        return f"{self._arn_prefix}stateMachine:{self.state_machine_name}"

    @property
    def execution_arn(self) -> str:
        if self.state_machine_type == "EXPRESS":
            arn = f"{self._arn_prefix}express:{self.state_machine_name}:{self.name}"
            return f"{arn}:{self.execution_uuid}" if self.execution_uuid else arn
        return f"{self._arn_prefix}execution:{self.state_machine_name}:{self.name}"

    @property
    def _arn_prefix(self) -> str:
        return f"arn:aws:states:{self.region}:{self.account}:"

    def execution_context(self) -> dict[str, Any]:
        execution: dict[str, Any] = {
            "Id": self.execution_arn,
            "Input": self.input,
            "StartTime": iso_time(self.start_time),
            "Name": self.name,
            "RoleArn": self.role_arn,
        }
        if self.invocation == "StartExecution":
            execution["RedriveCount"] = 0
        return execution


def state_context(
    info: ExecutionInfo,
    state_name: str,
    entered_time: datetime | str,
    *,
    retry_count: int | None = None,
    task_token: str | None = None,
    map_item: tuple[int, Any] | None = None,
    execution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The context object a state sees while it runs.

    ``entered_time`` may be given as its ISO text and ``execution`` as the execution's part,
    already built: both are the same for many states.
    """
    entered = entered_time if isinstance(entered_time, str) else iso_time(entered_time)
    state: dict[str, Any] = {"Name": state_name, "EnteredTime": entered}
    if retry_count is not None:
        state["RetryCount"] = retry_count
    ctx: dict[str, Any] = {
        "Execution": execution if execution is not None else info.execution_context(),
        "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
        "State": state,
    }
    if task_token is not None:
        ctx["Task"] = {"Token": task_token}
    if map_item is not None:
        ctx["Map"] = {"Item": {"Index": map_item[0], "Value": map_item[1]}}
    return ctx
