"""Step Functions' callback-task operations: GetActivityTask, SendTaskSuccess, SendTaskFailure
and SendTaskHeartbeat, through :class:`eventbus.workflows.activities.Activities`.

GetActivityTask holds the request for up to 60 seconds, as AWS (clients should read with a
longer timeout, as AWS advises: 65 s). The activity polled must have been created
(CreateActivity), as with AWS; the tasks of an activity are queued whether it has or not.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from eventbus.errors import RequestRejected
from eventbus.gateway.awsjson import ApiError, expect, length_at_most, require
from eventbus.gateway.sfn_resources import parse_arn
from eventbus.gateway.state import Gateway
from eventbus.workflows.activities import Activities
from eventbus.workflows.registry import activities

__all__ = ["get_activity_task", "send_task_failure", "send_task_heartbeat", "send_task_success"]

MAX_OUTPUT_CHARS = 262_144


async def _run(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await call
    except RequestRejected as e:
        raise ApiError(e.code, e.message) from None


def _token(params: dict[str, Any]) -> str:
    token: str = require(params, "taskToken", str)
    length_at_most("taskToken", token, 2048)
    return token


async def get_activity_task(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    name = parse_arn(params, "activityArn", "activity", gateway.settings)
    arn: str = params["activityArn"]
    if name is None or await activities(gateway.redis, gateway.settings.account).get(name) is None:
        raise ApiError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
    worker: str | None = expect(params, "workerName", str)
    if worker is not None:
        length_at_most("workerName", worker, 80)
    return await _run(Activities(gateway.redis).get_activity_task(arn, worker))


async def send_task_success(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    token = _token(params)
    output: str = require(params, "output", str)
    length_at_most("output", output, MAX_OUTPUT_CHARS)
    return await _run(Activities(gateway.redis).send_task_success(token, output))


async def send_task_failure(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    token = _token(params)
    error: str | None = expect(params, "error", str)
    cause: str | None = expect(params, "cause", str)
    if error is not None:
        length_at_most("error", error, 256)
    if cause is not None:
        length_at_most("cause", cause, 32_768)
    return await _run(Activities(gateway.redis).send_task_failure(token, error, cause))


async def send_task_heartbeat(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return await _run(Activities(gateway.redis).send_task_heartbeat(_token(params)))
