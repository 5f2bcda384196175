"""Step Functions' execution operations on the durable store: StartExecution,
DescribeExecution, ListExecutions, GetExecutionHistory and StopExecution.

They run through :class:`eventbus.workflows.executions.Executions`, given the definitions of
every machine the API knows (the workflow files' and those created over the API, a file's
hiding an API-created one of the same name, as everywhere in the API).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventbus.errors import InvalidDefinition, InvalidExecutionInput, RequestRejected
from eventbus.gateway.awsjson import (
    ApiError,
    expect,
    length_at_most,
    one_of,
    require,
    value_between,
)
from eventbus.gateway.sfn_resources import MAX_PAGE, parse_arn
from eventbus.gateway.state import Gateway
from eventbus.workflows.executions import STATUSES, Executions
from eventbus.workflows.registry import machines

__all__ = [
    "describe_execution",
    "get_execution_history",
    "list_executions",
    "start_execution",
    "stop_execution",
]

MAX_INPUT_CHARS = 262_144


async def _executions(gateway: Gateway) -> Executions:
    definitions = {m.name: m.definition for m in
                   await machines(gateway.redis, gateway.settings.account).all()}
    definitions |= {m.name: m.text for m in gateway.catalog}
    return Executions(gateway.redis, definitions, gateway.settings)


def _wire(value: Any) -> Any:
    """boto3-style values (datetimes) as AWS JSON sends them (epoch seconds)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


async def _run(call: Any) -> dict[str, Any]:
    try:
        return _wire(await call)  # type: ignore[no-any-return]
    except InvalidExecutionInput as e:
        raise ApiError("InvalidExecutionInput", str(e)) from None
    except InvalidDefinition as e:
        raise ApiError("InvalidDefinition", e.message) from None
    except RequestRejected as e:
        raise ApiError(e.code, e.message) from None


def _machine(gateway: Gateway, params: dict[str, Any]) -> str:
    name = parse_arn(params, "stateMachineArn", "stateMachine", gateway.settings)
    if name is None:
        arn = params["stateMachineArn"]
        raise ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
    return name


def _execution_arn(params: dict[str, Any]) -> str:
    arn: str = require(params, "executionArn", str)
    length_at_most("executionArn", arn, 256)
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "states":
        raise ApiError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {arn}'")
    if parts[5] != "execution":
        raise ApiError(
            "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {parts[5]}'"
        )
    return arn


async def start_execution(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    machine = _machine(gateway, params)
    text: str = expect(params, "input", str, "{}")
    length_at_most("input", text, MAX_INPUT_CHARS)
    name = expect(params, "name", str)
    executions = await _executions(gateway)
    return await _run(executions.start_execution(machine, text, name))


def _page_size(params: dict[str, Any]) -> int:
    """``maxResults``, refused as the API's model refuses it (0 to 1000, 0 meaning 100)."""
    size: int = expect(params, "maxResults", int, 0)
    value_between("maxResults", size, 0, MAX_PAGE)
    return size


async def describe_execution(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    arn = _execution_arn(params)
    return await _run((await _executions(gateway)).describe_execution(arn))


async def get_execution_history(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    size = _page_size(params)  # the model's checks come first, as on AWS
    arn = _execution_arn(params)
    executions = await _executions(gateway)
    return await _run(executions.get_execution_history(
        arn, max_results=size,
        reverse_order=expect(params, "reverseOrder", bool, False),
        next_token=expect(params, "nextToken", str),
        include_execution_data=expect(params, "includeExecutionData", bool, True),
    ))  # fmt: skip


async def list_executions(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    status, size = expect(params, "statusFilter", str), _page_size(params)
    if status is not None:
        one_of("statusFilter", status, STATUSES)
    machine = _machine(gateway, params)
    executions = await _executions(gateway)
    return await _run(executions.list_executions(
        machine, status_filter=status, max_results=size,
        next_token=expect(params, "nextToken", str),
        redrive_filter=expect(params, "redriveFilter", str),
    ))  # fmt: skip


async def stop_execution(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    arn = _execution_arn(params)
    executions = await _executions(gateway)
    return await _run(executions.stop_execution(
        arn, error=expect(params, "error", str), cause=expect(params, "cause", str)))
