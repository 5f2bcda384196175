"""CloudFormation's ``AWS::Events::Rule`` as another spelling of a rule-file rule.

:func:`convert_rule` turns a resource's ``Properties`` into the rule-file spelling, which the
loader then checks as any rule; :func:`cloudformation_loc` turns a field path of that spelling
back into the CloudFormation one, so problems point at what was written. Both read the same
tables, so the two directions cannot drift apart. A target's ``Arn`` is read by
:func:`eventbus.arns.target_of_arn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from eventbus.arns import TargetRef, stream_of_dead_letter_arn, target_of_arn
from eventbus.errors import ArnError, InvalidEventError
from eventbus.events import resolve_bus_name
from eventbus.typos import closest

__all__ = [
    "RESOURCE_TYPE",
    "ConvertedRule",
    "Note",
    "cloudformation_loc",
    "convert_rule",
    "is_cloudformation",
]

Loc = tuple[str | int, ...]

RESOURCE_TYPE: Final = "AWS::Events::Rule"
# CloudFormation property → rule-file field. EventBusName is the rule's bus, not a field.
RULE_PROPERTIES: Final = {
    "Name": "name",
    "Description": "description",
    "EventPattern": "event_pattern",
    "ScheduleExpression": "schedule_expression",
    "State": "state",
    "Targets": "targets",
}
TARGET_PROPERTIES: Final = {
    "Id": "id",
    "Input": "input",
    "InputPath": "input_path",
    "InputTransformer": "input_transformer",
    "RetryPolicy": "retry_policy",
    "DeadLetterConfig": "dead_letter",
}
NESTED_PROPERTIES: Final = {
    "input_transformer": {"InputPathsMap": "input_paths", "InputTemplate": "input_template"},
    "retry_policy": {
        "MaximumRetryAttempts": "maximum_retry_attempts",
        "MaximumEventAgeInSeconds": "maximum_event_age_seconds",
    },
}
# Accepted and left unused, with a warning saying why.
IGNORED: Final = {"RoleArn": "ignored: eventbus delivers without IAM roles"}
_BUS_PROPERTY: Final = "EventBusName"
_ARN: Final = "Arn"
_RULE_NAMES: Final = {**RULE_PROPERTIES, _BUS_PROPERTY: "", **dict.fromkeys(IGNORED, "")}
_TARGET_NAMES: Final = {**TARGET_PROPERTIES, _ARN: "", **dict.fromkeys(IGNORED, "")}


@dataclass(frozen=True, slots=True)
class Note:
    """A problem found while converting; ``loc`` is in CloudFormation spelling, from
    ``Properties``."""

    loc: Loc
    message: str
    warning: bool = False


@dataclass(slots=True)
class ConvertedRule:
    """A rule in rule-file spelling; ``bus`` from ``EventBusName`` (None: the file's bus);
    ``refs``: the targets whose ``Arn`` names another target, by index, for the loader to copy
    that target's settings from; ``no_type``: the targets whose ``Arn`` gave no type (a note
    says why, so the missing ``type`` is not another problem)."""

    rule: dict[str, Any]
    bus: str | None = None
    notes: list[Note] = field(default_factory=list)
    refs: dict[int, TargetRef] = field(default_factory=dict)
    no_type: set[int] = field(default_factory=set)


def is_cloudformation(item: dict[str, Any]) -> bool:
    """Whether a rule item is written with CloudFormation's property names."""
    return any(key in _RULE_NAMES for key in item)


def convert_rule(props: dict[str, Any], logical_id: str | None = None) -> ConvertedRule:
    """``Properties`` of an ``AWS::Events::Rule`` in rule-file spelling; ``Name`` defaults to
    the resource's logical id."""
    converted = ConvertedRule({})
    notes = converted.notes
    _rename(props, RULE_PROPERTIES, list(_RULE_NAMES), (), converted.rule, notes)
    if "name" not in converted.rule and logical_id is not None:
        converted.rule["name"] = logical_id
    bus = props.get(_BUS_PROPERTY)
    if bus is not None:
        try:
            converted.bus = resolve_bus_name(bus)
        except InvalidEventError:
            notes.append(Note((_BUS_PROPERTY,), f"not a bus name or event-bus ARN: {bus!r}"))
    targets = converted.rule.get("targets")
    if isinstance(targets, list):
        converted.rule["targets"] = [
            _target(item, index, converted) if isinstance(item, dict) else item
            for index, item in enumerate(targets)
        ]
    return converted


def _rename(
    source: dict[str, Any],
    names: dict[str, str],
    known: Sequence[str],
    loc: Loc,
    into: dict[str, Any],
    notes: list[Note],
) -> None:
    """``source``'s properties under their rule-file names, into ``into``; the unknown ones
    noted (with the nearest known name), the ignored ones warned about."""
    for key, value in source.items():
        if key in names:
            into[names[key]] = value
        elif key in IGNORED:
            notes.append(Note((*loc, key), IGNORED[key], warning=True))
        elif key not in known:
            guess = closest(str(key), known)
            hint = f"; did you mean `{guess}`?" if guess else f"; known: {', '.join(known)}"
            notes.append(Note((*loc, key), f"unknown CloudFormation property{hint}"))


def _target(item: dict[str, Any], index: int, converted: ConvertedRule) -> dict[str, Any]:
    loc: Loc = ("Targets", index)
    notes = converted.notes
    target: dict[str, Any] = {}
    _rename(item, TARGET_PROPERTIES, list(_TARGET_NAMES), loc, target, notes)
    for name, names in NESTED_PROPERTIES.items():
        if isinstance(target.get(name), dict):
            nested: dict[str, Any] = {}
            _rename(target[name], names, list(names), (*loc, _cfn(name)), nested, notes)
            target[name] = nested
    if isinstance(target.get("input"), str):
        try:
            target["input"] = orjson.loads(target["input"])
        except orjson.JSONDecodeError as e:
            notes.append(Note((*loc, "Input"), f"Input must be JSON text ({e})"))
    if "dead_letter" in target:
        target["dead_letter"] = _dead_letter(target["dead_letter"], loc, notes)
    arn = item.get(_ARN)
    converted.no_type.add(index)  # until the Arn gives one
    if arn is None:
        notes.append(Note(loc, "required property `Arn` is missing"))
    elif not isinstance(arn, str):
        notes.append(Note((*loc, _ARN), "Arn must be text"))
    else:
        try:
            found = target_of_arn(arn)
        except ArnError as e:
            notes.append(Note((*loc, _ARN), str(e)))
        else:
            target["type"] = found.type
            converted.no_type.discard(index)
            if isinstance(found, TargetRef):
                converted.refs[index] = found
            else:
                target.update(found.settings)
    return target


def _dead_letter(config: Any, loc: Loc, notes: list[Note]) -> Any:
    where = (*loc, "DeadLetterConfig")
    if not isinstance(config, dict) or not isinstance(config.get(_ARN), str):
        notes.append(Note(where, "DeadLetterConfig must be {Arn: <dead-letter stream ARN>}"))
        return None
    for key in config:
        if key != _ARN:
            notes.append(Note((*where, key), "unknown CloudFormation property; known: Arn"))
    try:
        return {"stream": stream_of_dead_letter_arn(config[_ARN])}
    except ArnError as e:
        notes.append(Note((*where, _ARN), str(e)))
        return None


def _cfn(name: str) -> str:
    return {v: k for k, v in TARGET_PROPERTIES.items()}[name]


def cloudformation_loc(loc: Loc) -> Loc:
    """A rule-file field path (from the rule) in CloudFormation spelling: ``("targets", 0,
    "retry_policy", "maximum_retry_attempts")`` → ``("Targets", 0, "RetryPolicy",
    "MaximumRetryAttempts")``; a target's type and own settings come from its ``Arn``."""
    if not loc:
        return loc
    head, rest = loc[0], loc[1:]
    if head != "targets":
        rule_names = {v: k for k, v in RULE_PROPERTIES.items()}
        return (rule_names.get(str(head), head), *rest)
    if not rest or not isinstance(rest[0], int):
        return ("Targets", *rest)
    index, fields = rest[0], rest[1:]
    if not fields:
        return ("Targets", index)
    name, sub = fields[0], fields[1:]
    target_names = {v: k for k, v in TARGET_PROPERTIES.items()}
    if name not in target_names:
        return ("Targets", index, _ARN)
    out: Loc = ("Targets", index, target_names[str(name)])
    if name in NESTED_PROPERTIES and sub:
        nested = {v: k for k, v in NESTED_PROPERTIES[str(name)].items()}
        return (*out, nested.get(str(sub[0]), sub[0]), *sub[1:])
    if name == "dead_letter":
        return (*out, _ARN)
    # Input is JSON text in CloudFormation: a path inside it has no line of its own.
    return out if name == "input" else (*out, *sub)
