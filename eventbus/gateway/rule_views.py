"""ListRules, DescribeRule and ListTargetsByRule: read-only views of the loaded rule files.

Rules live in YAML, so these answer from the :class:`~eventbus.config.RuleSet` the gateway
loaded, in EventBridge's response shapes. Targets are not AWS resources; their ``Arn`` is
``arn:eventbus:<type>:<region>:<account>:<bus>/<rule>/<target id>``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from eventbus.config import BusRules, LoadedRule, LoadedTarget, RuleSet
from eventbus.errors import InvalidEventError
from eventbus.events import resolve_bus_name
from eventbus.gateway.awsjson import ApiError, expect, length_at_least, require, value_between
from eventbus.settings import DEFAULT_BUS, Settings

__all__ = ["MAX_PAGE", "describe_rule", "list_rules", "list_targets_by_rule"]

MAX_PAGE = 100


def _bus(rules: RuleSet, params: dict[str, Any]) -> BusRules:
    name = expect(params, "EventBusName", str, DEFAULT_BUS)
    try:
        bus = resolve_bus_name(name)
    except InvalidEventError as e:
        raise ApiError("ValidationException", e.message) from None
    if bus in rules.buses:
        return rules.buses[bus]
    if bus == DEFAULT_BUS:
        return BusRules(DEFAULT_BUS)
    raise ApiError("ResourceNotFoundException", f"Event bus {bus} does not exist.")


def _page(items: Sequence[Any], params: dict[str, Any]) -> tuple[Sequence[Any], str | None]:
    """One page of ``items`` after ``NextToken``, at most ``Limit`` long, and the next token."""
    limit = expect(params, "Limit", int, MAX_PAGE)
    value_between("Limit", limit, 1, MAX_PAGE)
    token = expect(params, "NextToken", str)
    start = 0 if token is None else _offset(token)
    end = start + limit
    return items[start:end], _token(end) if end < len(items) else None


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def _offset(token: str) -> int:
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise ApiError("ValidationException", "The NextToken provided is not valid.")
    return offset


def _pattern_text(pattern: Any) -> str:
    return pattern if isinstance(pattern, str) else orjson.dumps(pattern).decode()


def _rule_shape(rule: LoadedRule) -> dict[str, Any]:
    model = rule.model
    shape: dict[str, Any] = {"Name": rule.name, "Arn": rule.arn}
    if model.event_pattern is not None:
        shape["EventPattern"] = _pattern_text(model.event_pattern)
    shape["State"] = model.state
    if model.description is not None:
        shape["Description"] = model.description
    if model.schedule_expression is not None:
        shape["ScheduleExpression"] = model.schedule_expression
    shape["EventBusName"] = rule.bus
    return shape


def list_rules(rules: RuleSet, params: dict[str, Any]) -> dict[str, Any]:
    bus = _bus(rules, params)
    prefix = expect(params, "NamePrefix", str, "")
    if "NamePrefix" in params:
        length_at_least("NamePrefix", prefix, 1)
    names = sorted(name for name in bus.rules if name.startswith(prefix))
    page, token = _page(names, params)
    answer: dict[str, Any] = {"Rules": [_rule_shape(bus.rules[name]) for name in page]}
    if token is not None:
        answer["NextToken"] = token
    return answer


def _rule(rules: RuleSet, params: dict[str, Any], name_param: str) -> LoadedRule:
    bus = _bus(rules, params)
    name = require(params, name_param, str)
    if name not in bus.rules:
        raise ApiError(
            "ResourceNotFoundException", f"Rule {name} does not exist on EventBus {bus.name}."
        )
    return bus.rules[name]


def describe_rule(rules: RuleSet, params: dict[str, Any]) -> dict[str, Any]:
    return {**_rule_shape(_rule(rules, params, "Name")), "CreatedBy": "eventbus"}


def _target_shape(rule: LoadedRule, target: LoadedTarget, settings: Settings) -> dict[str, Any]:
    spec = target.spec
    where = f"{settings.region}:{settings.account}:{rule.bus}/{rule.name}/{target.id}"
    shape: dict[str, Any] = {"Id": target.id, "Arn": f"arn:eventbus:{target.type}:{where}"}
    if spec.has_input:
        shape["Input"] = orjson.dumps(spec.input).decode()
    if spec.input_path is not None:
        shape["InputPath"] = spec.input_path
    if spec.input_transformer is not None:
        shape["InputTransformer"] = {
            "InputPathsMap": dict(spec.input_transformer.input_paths),
            "InputTemplate": spec.input_transformer.input_template,
        }
    shape["RetryPolicy"] = {
        "MaximumRetryAttempts": target.retry.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": target.retry.maximum_event_age_seconds,
    }
    if target.dead_letter_stream is not None:
        stream = target.dead_letter_stream
        shape["DeadLetterConfig"] = {"Arn": f"arn:eventbus:redis_stream:{stream}"}
    return shape


def list_targets_by_rule(
    rules: RuleSet, params: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    rule = _rule(rules, params, "Rule")
    page, token = _page(rule.targets, params)
    answer: dict[str, Any] = {"Targets": [_target_shape(rule, t, settings) for t in page]}
    if token is not None:
        answer["NextToken"] = token
    return answer
