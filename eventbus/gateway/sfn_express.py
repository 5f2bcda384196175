"""Step Functions' operations that depend on the machine's type: StartSyncExecution (EXPRESS
machines only, run to its end in the gateway's process), StartExecution (an EXPRESS machine's
is queued for the workflow workers, a STANDARD one's is durable) and ListExecutions (EXPRESS
machines keep no executions to list, as on AWS).

DescribeExecution, GetExecutionHistory and StopExecution need nothing here: an Express
execution's ARN (``...:express:<machine>:<name>:<id>``) is refused by their ARN check with
AWS's ``InvalidArn`` (``Resource type not valid in this context: express``).

Synchronous executions call their tasks through one
:class:`~eventbus.workflows.tasks.TaskResolver` per gateway (``gateway.workflow_tasks``, built on
first use, closed with the gateway), on the gateway's Redis and publisher and the connections of
its rules.
"""

from __future__ import annotations

from typing import Any

from eventbus.errors import StateMachineTypeNotSupported
from eventbus.gateway import sfn_executions
from eventbus.gateway.awsjson import ApiError, expect, length_at_most, one_of
from eventbus.gateway.sfn_executions import MAX_INPUT_CHARS, _machine, _run
from eventbus.gateway.state import Gateway
from eventbus.targets.base import TargetServices
from eventbus.workflows.express import INCLUDED_DATA, ExpressExecutions
from eventbus.workflows.registry import machines
from eventbus.workflows.tasks import TaskResolver

__all__ = ["list_executions", "start_execution", "start_sync_execution"]

# Parsed definitions of the Express machines started here, by version (SHA-256 of the text).
_PARSED: dict[str, dict[str, Any]] = {}
_PARSED_LIMIT = 256
MAX_TRACE_HEADER_CHARS = 256


async def _machine_of(gateway: Gateway, name: str) -> tuple[str, str] | None:
    """The (type, definition) of ``name``: a file's hides an API-created one."""
    in_file = gateway.catalog.get(name)
    if in_file is not None:
        return in_file.type, in_file.text
    stored = await machines(gateway.redis, gateway.settings.account).get(name)
    return None if stored is None else (stored.type, stored.definition)


def _tasks(gateway: Gateway) -> TaskResolver:
    tasks = gateway.workflow_tasks
    if tasks is None:
        services = TargetServices(redis=gateway.redis, publish=gateway.client.put_events)
        tasks = gateway.workflow_tasks = TaskResolver(services,
                                                      connections=gateway.rules.connections)
    else:  # the rules may have been reloaded; only changed connections are rebuilt
        tasks.integrations.set_connections(gateway.rules.connections)
    return tasks


async def _express(gateway: Gateway, name: str, *,
                   sync: bool) -> tuple[ExpressExecutions, bool]:
    """The Express API for ``name``, and whether ``name`` is an EXPRESS machine."""
    found = await _machine_of(gateway, name)
    if len(_PARSED) > _PARSED_LIMIT:
        _PARSED.clear()
    express = ExpressExecutions(gateway.redis, {} if found is None else {name: found},
                                _tasks(gateway) if sync else None, parsed=_PARSED,
                                settings=gateway.settings)
    return express, found is not None and found[0] == "EXPRESS"


def _input(params: dict[str, Any]) -> str:
    text: str = expect(params, "input", str, "{}")
    length_at_most("input", text, MAX_INPUT_CHARS)
    return text


async def start_sync_execution(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    machine = _machine(gateway, params)
    text = _input(params)
    included: str = expect(params, "includedData", str, "ALL_DATA")
    one_of("includedData", included, INCLUDED_DATA)
    trace: str | None = expect(params, "traceHeader", str)
    if trace is not None:
        length_at_most("traceHeader", trace, MAX_TRACE_HEADER_CHARS)
    express, _ = await _express(gateway, machine, sync=True)
    return await _run(express.start_sync_execution(
        machine, text, expect(params, "name", str), included_data=included, trace_header=trace))


async def start_execution(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    machine = _machine(gateway, params)
    express, is_express = await _express(gateway, machine, sync=False)
    if not is_express:
        return await sfn_executions.start_execution(gateway, params)
    return await _run(express.start_execution(machine, _input(params),
                                              expect(params, "name", str)))


async def list_executions(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    found = await _machine_of(gateway, _machine(gateway, params))
    if found is not None and found[0] == "EXPRESS":
        error = StateMachineTypeNotSupported()
        raise ApiError(error.code, error.message)
    return await sfn_executions.list_executions(gateway, params)
