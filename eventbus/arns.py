"""ARNs of targets: how eventbus writes them, and what a target ARN means when read back.

Pure functions, shared by the gateway (which shows ARNs: ListTargetsByRule, DeadLetterConfig)
and the rule loader (which reads CloudFormation's ``Targets[].Arn``):

* ``arn:aws:events:<region>:<account>:event-bus/<name>`` (another bus) → a ``bus`` target;
* ``arn:eventbus:<type>:<region>:<account>:<bus>/<rule>/<target-id>`` (a target of ours, as
  ListTargetsByRule shows it) → a reference to that target, whose settings the loader copies;
* ``arn:eventbus:redis_stream:<stream>`` (as DeadLetterConfig shows it) → a ``redis_stream``
  target writing to ``<stream>``;
* anything else (SQS, Lambda, an API destination, ...) → :class:`~eventbus.errors.ArnError`
  naming the target to write instead.

The resource part after ``arn:eventbus:<type>:<region>:<account>:`` is dispatched on its shape,
so a new form (e.g. ``target/<id>?<field>=<value>&...`` carrying the settings) is one more
branch of :func:`_ours`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from eventbus.errors import ArnError

__all__ = [
    "TargetRef",
    "TargetSettings",
    "dead_letter_arn",
    "stream_of_dead_letter_arn",
    "target_arn",
    "target_of_arn",
]

_NAME: Final = r"[.\-_A-Za-z0-9]+"
_OURS: Final = re.compile(r"arn:eventbus:(?P<type>[\w.\-]+):(?P<rest>.+)", re.DOTALL)
_REFERENCE: Final = re.compile(
    rf"(?P<region>[\w-]*):(?P<account>[0-9]*):(?P<bus>{_NAME})/(?P<rule>{_NAME})/(?P<id>{_NAME})"
)
_BUS: Final = re.compile(rf"arn:aws[\w-]*:events:[\w-]*:[0-9]*:event-bus/(?P<name>{_NAME})")
_FOREIGN: Final = re.compile(r"arn:[\w-]+:(?P<service>[\w-]+):[^:]*:[^:]*:(?P<resource>.*)")

_STREAM_TYPE: Final = "redis_stream"
_EVENTBUS_SPELLING: Final = "in eventbus spelling (`type:` and its fields, see docs/targets.md)"
# What to write instead of an AWS service's ARN, by service (and resource prefix for events).
_INSTEAD: Final = {
    "sqs": f"a `redis_list` or `redis_stream` target: `Arn: arn:eventbus:{_STREAM_TYPE}:<stream>`,"
    f" or `type: redis_list` with `list:` {_EVENTBUS_SPELLING}",
    "kinesis": f"a `redis_stream` target: `Arn: arn:eventbus:{_STREAM_TYPE}:<stream>`",
    "firehose": f"a `redis_stream` target: `Arn: arn:eventbus:{_STREAM_TYPE}:<stream>`",
    "lambda": "a `python` target (`function: module:function`) or an `http` target (`url:`) "
    + _EVENTBUS_SPELLING,
    "states": "a `python` target or an `http` target " + _EVENTBUS_SPELLING,
    "sns": "an `http` target (`url:`) " + _EVENTBUS_SPELLING + ", or a `bus` target",
    "api-destination": "an `http` target (`url:`, `method:`) " + _EVENTBUS_SPELLING,
}


@dataclass(frozen=True, slots=True)
class TargetRef:
    """An existing target of ours, named by bus, rule and target id."""

    type: str
    bus: str
    rule: str
    target_id: str


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """A target given whole by its ARN: its type and its own settings."""

    type: str
    settings: dict[str, Any] = field(default_factory=dict)


def target_arn(type_name: str, region: str, account: str, bus: str, rule: str, target: str) -> str:
    """The ARN ListTargetsByRule shows for target ``target`` of ``rule`` on ``bus``."""
    return f"arn:eventbus:{type_name}:{region}:{account}:{bus}/{rule}/{target}"


def dead_letter_arn(stream: str) -> str:
    """The ARN of a dead-letter stream, as DeadLetterConfig shows it."""
    return f"arn:eventbus:{_STREAM_TYPE}:{stream}"


def target_of_arn(arn: str) -> TargetRef | TargetSettings:
    """What a target ``Arn`` delivers to; ``ArnError`` saying what to write instead."""
    bus = _BUS.fullmatch(arn)
    if bus is not None:
        return TargetSettings("bus", {"bus_name": bus["name"]})
    ours = _OURS.fullmatch(arn)
    if ours is not None:
        return _ours(ours["type"], ours["rest"])
    raise ArnError(f"{arn!r} is not a target eventbus can deliver to; write {_instead(arn)}")


def stream_of_dead_letter_arn(arn: str) -> str:
    """The stream a ``DeadLetterConfig.Arn`` names; ``ArnError`` for anything but a stream."""
    ours = _OURS.fullmatch(arn)
    if ours is not None and ours["type"] == _STREAM_TYPE:
        return ours["rest"]
    raise ArnError(
        f"{arn!r} is not a dead-letter stream; write `Arn: {dead_letter_arn('<stream>')}`"
    )


def _ours(type_name: str, rest: str) -> TargetRef | TargetSettings:
    reference = _REFERENCE.fullmatch(rest)
    if reference is not None:
        return TargetRef(type_name, reference["bus"], reference["rule"], reference["id"])
    if type_name == _STREAM_TYPE:
        return TargetSettings(_STREAM_TYPE, {"stream": rest})
    raise ArnError(
        f"'arn:eventbus:{type_name}:{rest}' names no target: use the ARN ListTargetsByRule shows"
        f" (arn:eventbus:<type>:<region>:<account>:<bus>/<rule>/<target-id>)"
    )


def _instead(arn: str) -> str:
    foreign = _FOREIGN.fullmatch(arn)
    service = foreign["service"] if foreign else ""
    if service == "events" and foreign and foreign["resource"].startswith("api-destination/"):
        service = "api-destination"
    default = (
        f"the target {_EVENTBUS_SPELLING}, or an event-bus ARN, or an `arn:eventbus:` ARN "
        "as ListTargetsByRule shows it"
    )
    return _INSTEAD.get(service, default)
