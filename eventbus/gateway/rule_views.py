"""Read-only views of the loaded rule files: ListRules, DescribeRule, ListTargetsByRule,
ListRuleNamesByTarget, ListEventBuses, DescribeEventBus and ListTagsForResource.

Rules live in YAML, so these answer from the :class:`~eventbus.config.RuleSet` the gateway
loaded, in EventBridge's response shapes. The buses are those the rule files name, and
``default`` always. Targets are not AWS resources; their ``Arn`` is
``arn:eventbus:<type>:<region>:<account>:<bus>/<rule>/<target id>``. Rule files hold no tags, so
every rule and bus has none.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from eventbus.arns import dead_letter_arn, target_arn
from eventbus.config import BusRules, LoadedRule, LoadedTarget, RuleSet
from eventbus.errors import InvalidEventError
from eventbus.events import resolve_bus_name
from eventbus.gateway.awsjson import (
    ApiError,
    expect,
    length_at_least,
    length_at_most,
    require,
    value_between,
)
from eventbus.settings import DEFAULT_BUS, Settings, bus_arn

__all__ = [
    "MAX_PAGE",
    "describe_event_bus",
    "describe_rule",
    "list_event_buses",
    "list_rule_names_by_target",
    "list_rules",
    "list_tags_for_resource",
    "list_targets_by_rule",
]

MAX_PAGE = 100


def _bus(rules: RuleSet, params: dict[str, Any], param: str = "EventBusName") -> BusRules:
    name = expect(params, param, str, DEFAULT_BUS)
    try:
        bus = resolve_bus_name(name)
    except InvalidEventError as e:
        raise ApiError("ValidationException", e.message) from None
    if bus in rules.buses:
        return rules.buses[bus]
    if bus == DEFAULT_BUS:
        return BusRules(DEFAULT_BUS)
    raise _no_bus(bus)


def _no_bus(bus: str) -> ApiError:
    return ApiError("ResourceNotFoundException", f"Event bus {bus} does not exist.")


def _bus_names(rules: RuleSet) -> list[str]:
    return sorted({DEFAULT_BUS, *rules.buses})


def _answer(key: str, items: Sequence[Any], token: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {key: list(items)}
    if token is not None:
        answer["NextToken"] = token
    return answer


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
    return _answer("Rules", [_rule_shape(bus.rules[name]) for name in page], token)


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


def _target_arn(rule: LoadedRule, target: LoadedTarget, settings: Settings) -> str:
    region, account = settings.region, settings.account
    return target_arn(target.type, region, account, rule.bus, rule.name, target.id)


def _dead_letter_config(stream: str) -> dict[str, str]:
    return {"Arn": dead_letter_arn(stream)}


def _target_shape(rule: LoadedRule, target: LoadedTarget, settings: Settings) -> dict[str, Any]:
    spec = target.spec
    shape: dict[str, Any] = {"Id": target.id, "Arn": _target_arn(rule, target, settings)}
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
        shape["DeadLetterConfig"] = _dead_letter_config(target.dead_letter_stream)
    return shape


def list_targets_by_rule(
    rules: RuleSet, params: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    rule = _rule(rules, params, "Rule")
    page, token = _page(rule.targets, params)
    return _answer("Targets", [_target_shape(rule, t, settings) for t in page], token)


def list_rule_names_by_target(
    rules: RuleSet, params: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """The rules of a bus with a target of that ``Arn`` (as ListTargetsByRule shows it)."""
    arn = _arn_param(params, "TargetArn")
    bus = _bus(rules, params)
    names = sorted(
        name
        for name, rule in bus.rules.items()
        if any(_target_arn(rule, target, settings) == arn for target in rule.targets)
    )
    page, token = _page(names, params)
    return _answer("RuleNames", page, token)


def _bus_shape(name: str, settings: Settings) -> dict[str, Any]:
    return {"Name": name, "Arn": bus_arn(name, settings)}


def list_event_buses(rules: RuleSet, params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    prefix = expect(params, "NamePrefix", str, "")
    if "NamePrefix" in params:
        length_at_least("NamePrefix", prefix, 1)
    names = [name for name in _bus_names(rules) if name.startswith(prefix)]
    page, token = _page(names, params)
    return _answer("EventBuses", [_bus_shape(name, settings) for name in page], token)


def describe_event_bus(
    rules: RuleSet, params: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    bus = _bus(rules, params, "Name")
    shape = _bus_shape(bus.name, settings)
    if bus.config.dead_letter is not None:
        shape["DeadLetterConfig"] = _dead_letter_config(bus.config.dead_letter.stream)
    return shape


def list_tags_for_resource(
    rules: RuleSet, params: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """No tags (rule files have none) for a rule or bus ARN ListRules or ListEventBuses shows;
    ``ResourceNotFoundException`` in EventBridge's words for any other."""
    arn = _arn_param(params, "ResourceARN")
    buses = _bus_names(rules)
    known = {bus_arn(name, settings) for name in buses}
    known.update(rule.arn for bus in rules.buses.values() for rule in bus.rules.values())
    if arn in known:
        return {"Tags": []}
    raise _not_found(arn, settings)


def _not_found(arn: str, settings: Settings) -> ApiError:
    prefix = f"arn:aws:events:{settings.region}:{settings.account}:"
    kind, _, path = arn.removeprefix(prefix).partition("/")
    if arn.startswith(prefix) and kind == "event-bus" and path:
        return _no_bus(path)
    if arn.startswith(prefix) and kind == "rule" and path:
        bus, _, name = path.rpartition("/")
        return ApiError(
            "ResourceNotFoundException",
            f"Rule {name} does not exist on EventBus {bus or DEFAULT_BUS}.",
        )
    return ApiError("ResourceNotFoundException", f"Resource {arn} does not exist.")


def _arn_param(params: dict[str, Any], name: str) -> str:
    arn: str = require(params, name, str)
    length_at_least(name, arn, 1)
    length_at_most(name, arn, 1600)
    return arn
