"""Step Functions' state machine operations: CreateStateMachine, DescribeStateMachine,
UpdateStateMachine, DeleteStateMachine, ListStateMachines and ValidateStateMachineDefinition.

Two sources, one namespace: the machines of the workflow files (``gateway.catalog``, read-only
here: an update or delete answers ``ValidationException`` naming the file) and those created
over the API (``eventbus.workflows.registry``, in Redis). A file's machine hides an API-created
one of the same name. Every definition is checked as AWS checks it
(:func:`~eventbus.workflows.validate_definition`) before it is stored.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from eventbus.errors import InvalidDefinition
from eventbus.gateway.awsjson import (
    ApiError,
    expect,
    length_at_most,
    one_of,
    require,
    value_between,
)
from eventbus.gateway.sfn_resources import (
    MAX_NAME_CHARS,
    check_name,
    dated,
    page,
    parse_arn,
    resource_arn,
)
from eventbus.gateway.state import Gateway
from eventbus.settings import Settings
from eventbus.workflows import validate_definition
from eventbus.workflows.definition import MACHINE_TYPES
from eventbus.workflows.registry import FileMachine, StoredMachine, machines

__all__ = [
    "create_state_machine",
    "delete_state_machine",
    "describe_state_machine",
    "list_state_machines",
    "update_state_machine",
    "validate_state_machine_definition",
]

MAX_DEFINITION_CHARS = 1_048_576
MAX_ROLE_ARN_CHARS = 256
# ValidateStateMachineDefinition returns at most 100 diagnostics (maxResults 0..100, 0 = 100).
MAX_DIAGNOSTICS = 100
DEFAULT_LOGGING = {"level": "OFF", "includeExecutionData": False}
DEFAULT_TRACING = {"enabled": False}
# How often an update re-reads a machine that another update changed under it.
UPDATE_ATTEMPTS = 10


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _role_arn(settings: Settings) -> str:
    """The role file machines report: they run under the bus's own rights."""
    return f"arn:aws:iam::{settings.account}:role/eventbus-workflows"


def _definition(params: dict[str, Any], machine_type: str) -> str:
    text: str = require(params, "definition", str)
    length_at_most("definition", text, MAX_DEFINITION_CHARS)
    try:
        validate_definition(text, machine_type)
    except InvalidDefinition as e:
        raise ApiError("InvalidDefinition", e.message) from None
    return text


def _checked_role(params: dict[str, Any], required: bool) -> str | None:
    role: str | None = (
        require(params, "roleArn", str) if required else expect(params, "roleArn", str)
    )
    if role is None:
        return None
    length_at_most("roleArn", role, MAX_ROLE_ARN_CHARS)
    if len(role.split(":")) < 6 or not role.startswith("arn:"):
        raise ApiError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {role}'")
    return role


def _configuration(params: dict[str, Any], name: str, default: dict[str, Any]) -> dict[str, Any]:
    given: dict[str, Any] = expect(params, name, dict, {})
    return default | given


def _no_versions(params: dict[str, Any]) -> None:
    if expect(params, "publish", bool, False):
        raise ApiError(
            "ValidationException",
            "publish: state machine versions are not supported here; leave publish false.",
        )


def _file_managed(machine: FileMachine, operation: str) -> ApiError:
    return ApiError(
        "ValidationException",
        f"{operation} cannot change state machine '{machine.name}': it is managed by its file "
        f"{machine.source}. Edit or remove the file instead; eventbus reloads it.",
    )


def _does_not_exist(arn: str) -> ApiError:
    return ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def _file_created(machine: FileMachine) -> float:
    """A file has no creation date: the time it was last written stands for one."""
    try:
        return os.stat(machine.source).st_mtime
    except OSError:
        return 0.0


def _file_shape(machine: FileMachine, settings: Settings) -> dict[str, Any]:
    created = _file_created(machine)
    return {
        "stateMachineArn": resource_arn("stateMachine", machine.name, settings),
        "name": machine.name, "status": "ACTIVE", "definition": machine.text,
        "roleArn": _role_arn(settings), "type": machine.type, "creationDate": created,
        "loggingConfiguration": DEFAULT_LOGGING, "tracingConfiguration": DEFAULT_TRACING,
        "revisionId": machine.version,
    }  # fmt: skip


def _stored_shape(machine: StoredMachine, settings: Settings) -> dict[str, Any]:
    return {
        "stateMachineArn": resource_arn("stateMachine", machine.name, settings),
        "name": machine.name, "status": "ACTIVE", "definition": machine.definition,
        "roleArn": machine.role_arn, "type": machine.type,
        "creationDate": dated(machine.creation_ms), "loggingConfiguration": machine.logging,
        "tracingConfiguration": machine.tracing, "revisionId": machine.revision_id,
    }  # fmt: skip


async def create_state_machine(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    """Idempotent as AWS's: the same name, definition, type and configurations answer the
    machine already there; anything else under a taken name is StateMachineAlreadyExists."""
    name: str = require(params, "name", str)
    length_at_most("name", name, MAX_NAME_CHARS)
    machine_type: str = expect(params, "type", str, "STANDARD")
    one_of("type", machine_type, MACHINE_TYPES)
    _no_versions(params)
    check_name(name)
    role = _checked_role(params, required=True)
    assert role is not None
    record = StoredMachine(
        name=name, type=machine_type, definition=_definition(params, machine_type),
        role_arn=role, creation_ms=_now_ms(), revision_id=str(uuid.uuid4()),
        logging=_configuration(params, "loggingConfiguration", DEFAULT_LOGGING),
        tracing=_configuration(params, "tracingConfiguration", DEFAULT_TRACING),
    )  # fmt: skip
    arn = resource_arn("stateMachine", name, gateway.settings)
    in_file = gateway.catalog.get(name)
    if in_file is not None:
        raise ApiError(
            "StateMachineAlreadyExists",
            f"State Machine Already Exists: '{arn}' (defined by the file {in_file.source})",
        )
    current = await machines(gateway.redis, gateway.settings.account).create(record)
    if current is not None:
        same = (current.definition, current.type, current.logging, current.tracing) == (
            record.definition, record.type, record.logging, record.tracing)  # fmt: skip
        if not same:
            raise ApiError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
        record = current
    return {"stateMachineArn": arn, "creationDate": dated(record.creation_ms)}


async def describe_state_machine(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    name = parse_arn(params, "stateMachineArn", "stateMachine", gateway.settings)
    if name is not None:
        in_file = gateway.catalog.get(name)
        if in_file is not None:
            return _file_shape(in_file, gateway.settings)
        stored = await machines(gateway.redis, gateway.settings.account).get(name)
        if stored is not None:
            return _stored_shape(stored, gateway.settings)
    raise _does_not_exist(params["stateMachineArn"])


async def update_state_machine(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    name = parse_arn(params, "stateMachineArn", "stateMachine", gateway.settings)
    arn: str = params["stateMachineArn"]
    _no_versions(params)
    changes = ("definition", "roleArn", "loggingConfiguration", "tracingConfiguration")
    if all(params.get(member) is None for member in changes):
        raise ApiError(
            "MissingRequiredParameter",
            "Either the definition, the role ARN, the LoggingConfiguration or the "
            "TracingConfiguration must be specified",
        )
    role = _checked_role(params, required=False)
    if name is None:
        raise _does_not_exist(arn)
    in_file = gateway.catalog.get(name)
    if in_file is not None:
        raise _file_managed(in_file, "UpdateStateMachine")
    registry = machines(gateway.redis, gateway.settings.account)
    for _ in range(UPDATE_ATTEMPTS):
        current = await registry.get(name)
        if current is None:
            raise _does_not_exist(arn)
        updated = StoredMachine(
            name=name, type=current.type,
            definition=(
                _definition(params, current.type) if params.get("definition") is not None
                else current.definition
            ),
            role_arn=role or current.role_arn, creation_ms=current.creation_ms,
            revision_id=str(uuid.uuid4()), update_ms=_now_ms(),
            logging=current.logging | expect(params, "loggingConfiguration", dict, {}),
            tracing=current.tracing | expect(params, "tracingConfiguration", dict, {}),
        )  # fmt: skip
        stored = await registry.replace(current.revision_id, updated)
        if stored is None:
            raise _does_not_exist(arn)
        if stored:
            assert updated.update_ms is not None
            return {"updateDate": dated(updated.update_ms), "revisionId": updated.revision_id}
    raise ApiError(
        "ConflictException",
        f"State machine '{name}' is being updated by other calls; try again.",
    )


async def delete_state_machine(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    """Deleting a machine that does not exist succeeds, as AWS's does."""
    name = parse_arn(params, "stateMachineArn", "stateMachine", gateway.settings)
    if name is not None:
        in_file = gateway.catalog.get(name)
        if in_file is not None:
            raise _file_managed(in_file, "DeleteStateMachine")
        await machines(gateway.redis, gateway.settings.account).delete(name)
    return {}


async def list_state_machines(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    """Every machine, files' and API-created, by name."""
    settings = gateway.settings
    found: dict[str, tuple[str, float]] = {
        m.name: (m.type, dated(m.creation_ms))
        for m in await machines(gateway.redis, settings.account).all()
    }
    for in_file in gateway.catalog:
        found[in_file.name] = (in_file.type, _file_created(in_file))
    chosen, token = page(sorted(found), params, str)
    answer: dict[str, Any] = {
        "stateMachines": [
            {"stateMachineArn": resource_arn("stateMachine", name, settings), "name": name,
             "type": found[name][0], "creationDate": found[name][1]}
            for name in chosen
        ]
    }  # fmt: skip
    if token is not None:
        answer["nextToken"] = token
    return answer


async def validate_state_machine_definition(
    gateway: Gateway, params: dict[str, Any]
) -> dict[str, Any]:
    """OK, or FAIL with every problem as a diagnostic (severity ERROR; no check here warns),
    at most ``maxResults`` of them, ``truncated`` when there were more."""
    text: str = require(params, "definition", str)
    length_at_most("definition", text, MAX_DEFINITION_CHARS)
    machine_type: str = expect(params, "type", str, "STANDARD")
    one_of("type", machine_type, MACHINE_TYPES)
    one_of("severity", expect(params, "severity", str, "ERROR"), ("ERROR", "WARNING"))
    limit: int = expect(params, "maxResults", int, 0)
    value_between("maxResults", limit, 0, MAX_DIAGNOSTICS)
    limit = limit or MAX_DIAGNOSTICS
    try:
        validate_definition(text, machine_type)
    except InvalidDefinition as e:
        diagnostics = [{"severity": "ERROR", **d} for d in e.diagnostics]
        return {
            "result": "FAIL",
            "diagnostics": diagnostics[:limit],
            "truncated": len(diagnostics) > limit,
        }
    return {"result": "OK", "diagnostics": [], "truncated": False}
