"""Step Functions' activity operations: CreateActivity, DescribeActivity, DeleteActivity and
ListActivities, kept in Redis (``eventbus.workflows.registry``).

An activity is a name that workers poll for tasks (GetActivityTask) and a Task state names by
its ARN, ``arn:aws:states:<region>:<account>:activity:<name>``.
"""

from __future__ import annotations

import time
from typing import Any

from eventbus.gateway.awsjson import ApiError, length_at_most, require
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
from eventbus.workflows.registry import StoredActivity, activities

__all__ = ["create_activity", "delete_activity", "describe_activity", "list_activities"]


def _shape(activity: StoredActivity, settings: Settings) -> dict[str, Any]:
    return {
        "activityArn": resource_arn("activity", activity.name, settings),
        "name": activity.name,
        "creationDate": dated(activity.creation_ms),
    }


async def create_activity(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    """Idempotent, as AWS's: creating a name that exists answers the activity already there."""
    name: str = require(params, "name", str)
    length_at_most("name", name, MAX_NAME_CHARS)
    check_name(name)
    record = StoredActivity(name, time.time_ns() // 1_000_000)
    current = await activities(gateway.redis, gateway.settings.account).create(record)
    shape = _shape(current or record, gateway.settings)
    return {"activityArn": shape["activityArn"], "creationDate": shape["creationDate"]}


async def describe_activity(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    name = parse_arn(params, "activityArn", "activity", gateway.settings)
    found = None
    if name is not None:
        found = await activities(gateway.redis, gateway.settings.account).get(name)
    if found is None:
        raise ApiError(
            "ActivityDoesNotExist", f"Activity Does Not Exist: '{params['activityArn']}'"
        )
    return _shape(found, gateway.settings)


async def delete_activity(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    """Deleting an activity that does not exist succeeds, as AWS's does."""
    name = parse_arn(params, "activityArn", "activity", gateway.settings)
    if name is not None:
        await activities(gateway.redis, gateway.settings.account).delete(name)
    return {}


async def list_activities(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    found = await activities(gateway.redis, gateway.settings.account).all()
    found.sort(key=lambda a: a.name)
    chosen, token = page(found, params, lambda a: a.name)
    answer: dict[str, Any] = {"activities": [_shape(a, gateway.settings) for a in chosen]}
    if token is not None:
        answer["nextToken"] = token
    return answer
