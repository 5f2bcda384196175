"""Step Functions' API on the gateway (AWS JSON 1.0, ``X-Amz-Target: AWSStepFunctions.<Op>``,
SigV4 service ``states``): the operations by name, and AWS's error codes for what they raise.

State machines (``sfn_machines``) and activities (``sfn_activities``) live in Redis or in
workflow files; ValidateStateMachineDefinition and TestState need only the pure core;
executions (``sfn_executions``, ``sfn_redrive``) run on the durable store, Express ones
(``sfn_express``) in memory.
"""

from __future__ import annotations

from typing import Any

from eventbus.errors import InvalidDefinition, RequestRejected
from eventbus.gateway import (
    sfn_activities,
    sfn_executions,
    sfn_express,
    sfn_machines,
    sfn_redrive,
    sfn_tasks,
)
from eventbus.gateway.actions import Action, run_handler
from eventbus.gateway.awsjson import ApiError, expect, length_at_most, one_of, require
from eventbus.gateway.state import Gateway
from eventbus.workflows import test_state as run_test_state

__all__ = ["OPERATIONS", "call"]


async def test_state(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    """One state run once, with the request's mocks, as AWS's TestState runs it."""
    definition = require(params, "definition", str)
    length_at_most("definition", definition, sfn_machines.MAX_DEFINITION_CHARS)
    one_of("inspectionLevel", expect(params, "inspectionLevel", str, "INFO"),
           ("INFO", "DEBUG", "TRACE"))  # fmt: skip
    try:
        return run_test_state(params)
    except InvalidDefinition as e:
        raise ApiError("InvalidDefinition", e.message) from None
    except RequestRejected as e:
        raise ApiError(e.code, e.message) from None


OPERATIONS: dict[str, Action] = {
    "CreateStateMachine": sfn_machines.create_state_machine,
    "DescribeStateMachine": sfn_machines.describe_state_machine,
    "UpdateStateMachine": sfn_machines.update_state_machine,
    "DeleteStateMachine": sfn_machines.delete_state_machine,
    "ListStateMachines": sfn_machines.list_state_machines,
    "ValidateStateMachineDefinition": sfn_machines.validate_state_machine_definition,
    "CreateActivity": sfn_activities.create_activity,
    "DescribeActivity": sfn_activities.describe_activity,
    "DeleteActivity": sfn_activities.delete_activity,
    "ListActivities": sfn_activities.list_activities,
    "TestState": test_state,
    "StartExecution": sfn_express.start_execution,
    "StartSyncExecution": sfn_express.start_sync_execution,
    "DescribeExecution": sfn_executions.describe_execution,
    "ListExecutions": sfn_express.list_executions,
    "GetExecutionHistory": sfn_executions.get_execution_history,
    "StopExecution": sfn_executions.stop_execution,
    "RedriveExecution": sfn_redrive.redrive_execution,
    "DescribeStateMachineForExecution": sfn_redrive.describe_state_machine_for_execution,
    "GetActivityTask": sfn_tasks.get_activity_task,
    "SendTaskSuccess": sfn_tasks.send_task_success,
    "SendTaskFailure": sfn_tasks.send_task_failure,
    "SendTaskHeartbeat": sfn_tasks.send_task_heartbeat,
}


async def call(gateway: Gateway, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``operation``; ``ApiError`` with AWS's code for what it refuses, and
    ``UnknownOperationException`` for an operation Step Functions does not have."""
    handler = OPERATIONS.get(operation)
    if handler is not None:
        return await run_handler(handler, gateway, operation, params, "Step Functions")
    raise ApiError(
        "UnknownOperationException", f"Operation AWSStepFunctions.{operation} is not supported."
    )
