"""The EventBridge actions the gateway answers, by name.

PutEvents publishes through the same client code as the Python client, so validation and
per-entry results are identical. Write actions (PutRule, PutTargets, ...) answer
``OperationDisabledException``: rules live in files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from eventbus.errors import (
    BusError,
    InvalidEventError,
    InvalidPatternError,
    MatchBudgetExceededError,
)
from eventbus.events import check_test_event
from eventbus.gateway import rule_views
from eventbus.gateway.awsjson import ApiError, length_at_least, length_at_most, require
from eventbus.gateway.state import Gateway

__all__ = ["ACTIONS", "WRITE_ACTIONS", "Action", "call", "run_handler"]

Action = Callable[[Gateway, dict[str, Any]], Awaitable[dict[str, Any]]]

log = logging.getLogger("eventbus.gateway")

# EventBridge's mutating operations: here rules, buses and the rest are configured in files.
WRITE_ACTIONS = frozenset({
    "ActivateEventSource", "CancelReplay", "CreateApiDestination", "CreateArchive",
    "CreateConnection", "CreateEndpoint", "CreateEventBus", "CreatePartnerEventSource",
    "DeactivateEventSource", "DeauthorizeConnection", "DeleteApiDestination", "DeleteArchive",
    "DeleteConnection", "DeleteEndpoint", "DeleteEventBus", "DeletePartnerEventSource",
    "DeleteRule", "DisableRule", "EnableRule", "PutPartnerEvents", "PutPermission", "PutRule",
    "PutTargets", "RemovePermission", "RemoveTargets", "StartReplay", "TagResource",
    "UntagResource", "UpdateApiDestination", "UpdateArchive", "UpdateConnection",
    "UpdateEndpoint", "UpdateEventBus",
})  # fmt: skip
_INTERNAL_FAILURE = {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Service Failure"}


async def put_events(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    entries = require(params, "Entries", list)
    length_at_least("Entries", entries, 1)
    length_at_most("Entries", entries, gateway.max_entries)
    try:
        result = await gateway.client.put_events(entries)
    except BusError:
        # Redis is away: every entry failed in a way worth retrying, as EventBridge reports it.
        result = {"FailedEntryCount": len(entries), "Entries": [_INTERNAL_FAILURE] * len(entries)}
    metrics = gateway.metrics
    metrics.count("PutEventsApproximateCallCount")
    metrics.count("PutEventsEntriesCount", len(entries))
    if result["FailedEntryCount"]:
        metrics.count("PutEventsFailedEntriesCount", result["FailedEntryCount"])
    metrics.observe("PutEventsLatency", (time.perf_counter() - started) * 1000)
    return result


async def test_event_pattern(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    from eventbus.patterns import compile_pattern

    pattern = require(params, "EventPattern", str)
    length_at_most("EventPattern", pattern, gateway.settings.max_pattern_chars)
    event_text = require(params, "Event", str)
    try:
        compiled = compile_pattern(pattern)
    except InvalidPatternError as e:
        raise ApiError(
            "InvalidEventPatternException", f"Event pattern is not valid. Reason: {e.reason}"
        ) from None
    try:
        event = check_test_event(orjson.loads(event_text))
    except (orjson.JSONDecodeError, InvalidEventError):
        raise ApiError("ValidationException", "Parameter Event is not valid.") from None
    try:
        return {"Result": compiled.matches(event, gateway.settings.match_budget)}
    except MatchBudgetExceededError as e:
        raise ApiError("ValidationException", f"Parameter Event is not valid: {e}") from None


async def list_rules(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return rule_views.list_rules(gateway.rules, params)


async def describe_rule(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return rule_views.describe_rule(gateway.rules, params)


async def list_targets_by_rule(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return rule_views.list_targets_by_rule(gateway.rules, params, gateway.settings)


async def list_rule_names_by_target(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return rule_views.list_rule_names_by_target(gateway.rules, params, gateway.settings)


async def list_event_buses(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return rule_views.list_event_buses(gateway.rules, params, gateway.settings)


async def describe_event_bus(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return rule_views.describe_event_bus(gateway.rules, params, gateway.settings)


async def list_tags_for_resource(gateway: Gateway, params: dict[str, Any]) -> dict[str, Any]:
    return rule_views.list_tags_for_resource(gateway.rules, params, gateway.settings)


ACTIONS: dict[str, Action] = {
    "PutEvents": put_events,
    "TestEventPattern": test_event_pattern,
    "ListRules": list_rules,
    "DescribeRule": describe_rule,
    "ListTargetsByRule": list_targets_by_rule,
    "ListRuleNamesByTarget": list_rule_names_by_target,
    "ListEventBuses": list_event_buses,
    "DescribeEventBus": describe_event_bus,
    "ListTagsForResource": list_tags_for_resource,
}


async def run_handler(
    handler: Action, gateway: Gateway, action: str, params: dict[str, Any], api: str
) -> dict[str, Any]:
    """``handler``'s answer; ``ValidationException`` when it fails on what it was sent."""
    try:
        return await handler(gateway, params)
    except (ApiError, BusError):
        raise
    except Exception as e:
        # Besides Redis (BusError), an action computes only on its parameters and what the
        # gateway loaded: a failure is the request's, and answering 500 would have SDKs resend it.
        log.exception("%s failed on its parameters", action)
        raise ApiError(
            "ValidationException",
            f"{action} could not process the request ({type(e).__name__}); check its "
            f"parameters against the {api} API.",
        ) from None


async def call(gateway: Gateway, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``action``; ``ApiError`` for an action that is disabled or unknown, or that fails on
    what it was sent (never a 500 for client input)."""
    handler = ACTIONS.get(action)
    if handler is not None:
        return await run_handler(handler, gateway, action, params, "EventBridge")
    if action in WRITE_ACTIONS:
        raise ApiError(
            "OperationDisabledException",
            f"{action} is disabled: rules live in rule files (YAML). Edit the files the gateway "
            "and routers load with --rules, then restart them.",
        )
    raise ApiError("UnknownOperationException", f"Operation AWSEvents.{action} is not supported.")
