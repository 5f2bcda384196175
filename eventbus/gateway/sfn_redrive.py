"""Step Functions' operations on one execution's past: RedriveExecution and
DescribeStateMachineForExecution (the definition the execution started with, which it keeps).
"""

from __future__ import annotations

from typing import Any

from eventbus.gateway.awsjson import expect, length_at_most
from eventbus.gateway.sfn_executions import _execution_arn, _executions, _run
from eventbus.gateway.sfn_machines import DEFAULT_LOGGING, DEFAULT_TRACING
from eventbus.gateway.state import Gateway

__all__ = ["describe_state_machine_for_execution", "redrive_execution"]

MAX_CLIENT_TOKEN_CHARS = 64


async def redrive_execution(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    arn = _execution_arn(params)
    token = expect(params, "clientToken", str)
    if token is not None:
        length_at_most("clientToken", token, MAX_CLIENT_TOKEN_CHARS)
    return await _run((await _executions(gateway)).redrive(arn, token))


async def describe_state_machine_for_execution(
    gateway: Gateway, params: dict[str, Any]
) -> dict[str, Any]:
    arn = _execution_arn(params)
    described = await _run((await _executions(gateway)).describe_state_machine_for_execution(arn))
    return {**described, "loggingConfiguration": DEFAULT_LOGGING,
            "tracingConfiguration": DEFAULT_TRACING}
