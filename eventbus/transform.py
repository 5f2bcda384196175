"""What a target receives: the whole event, ``input``, ``input_path`` or ``input_transformer``.

Pure code, no I/O. Everything is checked and compiled once, when rules load; delivering only
calls ``render``::

    compile_target_input(input_transformer={
        "input_paths": {"instance": "$.detail.instance-id", "state": "$.detail.state"},
        "input_template": '{"instance": <instance>, "state": [9, <state>, true]}',
    }).render(event, InputContext(rule_name="example"))
    → '{"instance": "i-0123456789", "state": [9, "RUNNING", true]}'

Substitution follows EventBridge (reference §3.4, AWS-recorded): a template starting with ``{`` is
a JSON template, anything else a string template, delivered as its own text with the
placeholders replaced. In a JSON template a placeholder outside quotes becomes the value as JSON
(a string gains quotes), one inside a quoted string becomes the string's characters; the result
must be valid JSON, else ``render`` raises ``InvalidTransformError`` (AWS drops that delivery). In
a string template values become text, objects and lists losing their quotes
(``{acc_id:0a787ecb-4015,sf_id:baz}``, ``[ACTIVE,INACTIVE]``). A path that selects nothing gives
the empty string (``""`` as a JSON value). Like EventBridge, values are never escaped: a string
holding ``"``, ``\\`` or a control character makes a JSON template's output invalid.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson

from eventbus.errors import InvalidTransformError
from eventbus.jsonpath import MISSING, compile_path
from eventbus.settings import DEFAULT_BUS, rule_arn

__all__ = [
    "MAX_INPUT_CHARS",
    "MAX_TEMPLATE_CHARS",
    "MAX_VARIABLES",
    "NO_INPUT",
    "RESERVED_VARIABLES",
    "InputContext",
    "TargetInput",
    "apply_input_transformer",
    "compile_input_transformer",
    "compile_target_input",
]

# EventBridge's API limits (Target.Input, InputTransformer.InputTemplate / InputPathsMap).
MAX_INPUT_CHARS: Final = 8192
MAX_TEMPLATE_CHARS: Final = 8192
MAX_VARIABLES: Final = 100
MAX_VARIABLE_CHARS: Final = 256

TEMPLATE_FIELD: Final = "input_transformer.input_template"
PATHS_FIELD: Final = "input_transformer.input_paths"


class _NoInput:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_INPUT"


NO_INPUT: Final = _NoInput()
"""``input`` not given (``None`` is a constant: the JSON ``null``)."""


@dataclass(frozen=True, slots=True)
class InputContext:
    """What a delivery knows besides the event: the rule, and for schedules the invocation."""

    rule_name: str = ""
    rule_arn: str = ""
    ingestion_time: str | None = None
    schedule_arn: str | None = None
    scheduled_time: str | None = None
    execution_id: str | None = None
    attempt_number: int | None = None


class TargetInput(Protocol):
    def render(self, event: dict[str, Any], ctx: InputContext) -> str:
        """The payload text for ``event``; ``InvalidTransformError`` when it would be invalid."""
        ...


Getter = Callable[[dict[str, Any], InputContext], Any]


def _or_missing(value: Any) -> Any:
    return MISSING if value is None else value


# <aws.events.event> as AWS renders it: no detail, camelCase detailType, this key order.
_SUMMARY_KEYS: Final = (
    ("id", "id"),
    ("account", "account"),
    ("detailType", "detail-type"),
    ("time", "time"),
    ("source", "source"),
    ("region", "region"),
    ("resources", "resources"),
    ("version", "version"),
)


def _event_summary(event: dict[str, Any], ctx: InputContext) -> dict[str, Any]:
    return {out: event[key] for out, key in _SUMMARY_KEYS if key in event}


_SCHEDULER_VARIABLES: Final[dict[str, Getter]] = {
    "aws.scheduler.schedule-arn": lambda e, c: _or_missing(c.schedule_arn),
    "aws.scheduler.scheduled-time": lambda e, c: _or_missing(c.scheduled_time),
    "aws.scheduler.execution-id": lambda e, c: _or_missing(c.execution_id),
    "aws.scheduler.attempt-number": lambda e, c: _or_missing(c.attempt_number),
}
# Usable only where a JSON value goes: their objects are inserted unescaped.
_JSON_ONLY_VARIABLES: Final[dict[str, Getter]] = {
    "aws.events.event": _event_summary,
    "aws.events.event.json": lambda e, c: e,
}
RESERVED_VARIABLES: Final[dict[str, Getter]] = {
    "aws.events.rule-arn": lambda e, c: c.rule_arn,
    "aws.events.rule-name": lambda e, c: c.rule_name,
    "aws.events.event.ingestion-time": lambda e, c: _or_missing(c.ingestion_time),
    **_JSON_ONLY_VARIABLES,
    **_SCHEDULER_VARIABLES,
}

# Names are InputPathsMap keys or reserved (dotted) names; any other <...> is plain text.
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_\-]+")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCHEDULER_PLACEHOLDER = re.compile(
    r"<(aws\.scheduler\.(?:schedule-arn|scheduled-time|execution-id|attempt-number))>"
)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _as_json_value(value: Any) -> str:
    """A value where a JSON value goes: strings gain quotes (unescaped, as AWS does)."""
    if isinstance(value, str):
        return f'"{value}"'
    return '""' if value is MISSING else _dumps(value)


def _as_string_content(value: Any) -> str:
    """A value inside a JSON template's quoted string: its characters, objects as JSON text."""
    if isinstance(value, str):
        return value
    return "" if value is MISSING else _dumps(value)


def _as_text(value: Any) -> str:
    """A value in a string template: objects and lists lose their quotes."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_as_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_as_text(v) for v in value) + "]"
    return "" if value is MISSING else _dumps(value)


class _WholeEvent:
    __slots__ = ()

    def render(self, event: dict[str, Any], ctx: InputContext) -> str:
        return _dumps(event)


@dataclass(frozen=True, slots=True)
class _Constant:
    text: str

    def render(self, event: dict[str, Any], ctx: InputContext) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class _ScheduledConstant:
    """A constant holding Scheduler context attributes, filled in when the context has them."""

    pieces: tuple[str, ...]  # text, name, text, name, ..., text

    def render(self, event: dict[str, Any], ctx: InputContext) -> str:
        out = list(self.pieces)
        for i in range(1, len(out), 2):
            value = _SCHEDULER_VARIABLES[out[i]](event, ctx)
            out[i] = f"<{out[i]}>" if value is MISSING else _as_text(value)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class _PathInput:
    get: Callable[[Any], Any]

    def render(self, event: dict[str, Any], ctx: InputContext) -> str:
        value = self.get(event)
        return "" if value is MISSING else _dumps(value)


@dataclass(frozen=True, slots=True)
class _Template:
    """A compiled template: ``parts`` alternate text and slots the ``slots`` fill."""

    parts: tuple[str, ...]
    getters: tuple[Getter, ...]  # one per variable the template uses
    slots: tuple[tuple[int, int, Callable[[Any], str]], ...]  # (part index, getter index, format)
    is_json: bool

    def render(self, event: dict[str, Any], ctx: InputContext) -> str:
        values = [get(event, ctx) for get in self.getters]
        out = list(self.parts)
        for index, var, fmt in self.slots:
            out[index] = fmt(values[var])
        text = "".join(out)
        # Values go in unescaped, as on AWS, so only parsing tells whether this event's values
        # kept the output JSON; AWS drops such a delivery, the router dead-letters it.
        if self.is_json:
            try:
                orjson.loads(text)
            except orjson.JSONDecodeError as e:
                raise InvalidTransformError(
                    TEMPLATE_FIELD, f"the event's values make the output invalid JSON: {e}"
                ) from None
        return text


def compile_target_input(
    *,
    input: Any = NO_INPUT,
    input_path: str | None = None,
    input_transformer: Mapping[str, Any] | None = None,
    target_id: str | None = None,
) -> TargetInput:
    """Check and compile a target's input settings; at most one of the three may be set."""
    given = (input is not NO_INPUT) + (input_path is not None) + (input_transformer is not None)
    if given > 1:
        raise InvalidTransformError(
            "",
            f"Only one of Input, InputPath, or InputTransformer must be provided{_for(target_id)}.",
        )
    if input is not NO_INPUT:
        return _compile_constant(input)
    if input_path is not None:
        return _PathInput(compile_path(input_path, field="input_path").get)
    if input_transformer is not None:
        paths, template = _transformer_fields(input_transformer)
        return compile_input_transformer(paths, template, target_id=target_id)
    return _WholeEvent()


def compile_input_transformer(
    input_paths: Mapping[str, str] | None, input_template: str, *, target_id: str | None = None
) -> TargetInput:
    """Check an InputPathsMap and InputTemplate and compile them into one renderer."""
    getters = _compile_paths(input_paths if input_paths is not None else {})
    _check_template_text(input_template)
    if input_template.lstrip().startswith("{"):
        return _compile_json_template(input_template, getters, target_id)
    return _compile_string_template(input_template, getters, target_id)


def apply_input_transformer(
    event: dict[str, Any],
    input_paths: dict[str, str],
    input_template: str,
    *,
    rule_name: str = "",
    rule_arn: str = "",
    ingestion_time: str | None = None,
) -> str:
    """The payload EventBridge delivers for ``event``; compiles on every call.

    Without ``rule_arn``, a ``rule_name`` gets its default-bus ARN from the settings.
    """
    arn = rule_arn or (_default_rule_arn(rule_name) if rule_name else "")
    ctx = InputContext(rule_name=rule_name, rule_arn=arn, ingestion_time=ingestion_time)
    return compile_input_transformer(input_paths, input_template).render(event, ctx)


def _default_rule_arn(rule_name: str) -> str:
    return rule_arn(DEFAULT_BUS, rule_name)


def _for(target_id: str | None) -> str:
    return f" for target {target_id}" if target_id else ""


def _transformer_fields(spec: Any) -> tuple[Any, Any]:
    """``input_paths`` and ``input_template``, whose types the compile step checks."""
    # Rule files hand over a mapping; a model with the same attribute names works as well.
    if not isinstance(spec, Mapping):
        return getattr(spec, "input_paths", None), getattr(spec, "input_template", None)
    unknown = set(spec) - {"input_paths", "input_template"}
    if unknown:
        raise InvalidTransformError(
            "input_transformer",
            f"unknown field(s) {', '.join(sorted(unknown))}; expected input_paths, input_template",
        )
    if "input_template" not in spec:
        raise InvalidTransformError(TEMPLATE_FIELD, "input_template is required")
    return spec.get("input_paths"), spec["input_template"]


def _compile_constant(value: Any) -> TargetInput:
    try:
        text = _dumps(value)
    except TypeError as e:
        raise InvalidTransformError("input", f"input is not a JSON value: {e}") from None
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidTransformError(
            "input", f"input is {len(text)} characters as JSON; at most {MAX_INPUT_CHARS} allowed"
        )
    pieces = tuple(_SCHEDULER_PLACEHOLDER.split(text))
    return _Constant(text) if len(pieces) == 1 else _ScheduledConstant(pieces)


def _compile_paths(input_paths: Any) -> dict[str, Getter]:
    if not isinstance(input_paths, Mapping):
        raise InvalidTransformError(PATHS_FIELD, "must be a map of variable name to JSON path")
    if len(input_paths) > MAX_VARIABLES:
        raise InvalidTransformError(
            PATHS_FIELD, f"{len(input_paths)} variables defined; at most {MAX_VARIABLES} allowed"
        )
    getters: dict[str, Getter] = {}
    for key, text in input_paths.items():
        _check_variable_name(key)
        getters[key] = _path_getter(compile_path(text, field=f"{PATHS_FIELD}.{key}").get)
    return getters


def _path_getter(get: Callable[[Any], Any]) -> Getter:
    def getter(event: dict[str, Any], ctx: InputContext) -> Any:
        return get(event)

    return getter


def _check_variable_name(key: Any) -> None:
    field = f"{PATHS_FIELD}.{key}"
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_VARIABLE_CHARS:
        raise InvalidTransformError(
            field, f"a variable name is a string of 1 to {MAX_VARIABLE_CHARS} characters"
        )
    if key in RESERVED_VARIABLES:
        raise InvalidTransformError(field, f"{key} is a reserved variable and cannot be redefined")
    if key.startswith("AWS"):
        raise InvalidTransformError(field, "variable names must not start with 'AWS'")
    if not _VARIABLE_NAME.fullmatch(key):
        raise InvalidTransformError(
            field, f"variable name {key!r} must match [A-Za-z0-9_\\-]+ (letters, digits, _ and -)"
        )


def _check_template_text(template: Any) -> None:
    if not isinstance(template, str) or not template:
        raise InvalidTransformError(TEMPLATE_FIELD, "input_template must be a non-empty string")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidTransformError(
            TEMPLATE_FIELD,
            f"input_template is {len(template)} characters; at most {MAX_TEMPLATE_CHARS} allowed",
        )


def _lookup(name: str, getters: dict[str, Getter], target_id: str | None) -> Getter:
    getter = getters.get(name) or RESERVED_VARIABLES.get(name)
    if getter is None:
        raise InvalidTransformError(
            TEMPLATE_FIELD, f"InputTemplate{_for(target_id)} contains invalid placeholder {name}."
        )
    return getter


def _json_only_misplaced(name: str, where: str) -> InvalidTransformError:
    return InvalidTransformError(
        TEMPLATE_FIELD, f"<{name}> can only be used as a JSON value, not {where}"
    )


def _compile_string_template(
    template: str, getters: dict[str, Getter], target_id: str | None
) -> TargetInput:
    def format_for(name: str, start: int) -> Callable[[Any], str]:
        if name in _JSON_ONLY_VARIABLES:
            raise _json_only_misplaced(name, "in a string template")
        return _as_text

    return _build(template, getters, target_id, format_for, is_json=False)


def _compile_json_template(
    template: str, getters: dict[str, Getter], target_id: str | None
) -> TargetInput:
    spans = [m.span() for m in _JSON_STRING.finditer(template)]
    starts = [start for start, _ in spans]

    def in_string(pos: int) -> bool:
        i = bisect.bisect_right(starts, pos) - 1
        return i >= 0 and pos < spans[i][1]

    def format_for(name: str, start: int) -> Callable[[Any], str]:
        if not in_string(start):
            return _as_json_value
        if name in _JSON_ONLY_VARIABLES:
            raise _json_only_misplaced(name, "inside a quoted string")
        return _as_string_content

    compiled = _build(template, getters, target_id, format_for, is_json=True)
    _check_json_shape(compiled)
    return compiled


def _build(
    template: str,
    getters: dict[str, Getter],
    target_id: str | None,
    format_for: Callable[[str, int], Callable[[Any], str]],
    *,
    is_json: bool,
) -> _Template:
    parts: list[str] = []
    used: dict[str, int] = {}  # variable name → index of its getter
    ordered: list[Getter] = []
    slots: list[tuple[int, int, Callable[[Any], str]]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        name = m.group(1)
        if name not in used:
            used[name] = len(ordered)
            ordered.append(_lookup(name, getters, target_id))
        parts += [template[pos : m.start()], m.group(0)]
        slots.append((len(parts) - 1, used[name], format_for(name, m.start())))
        pos = m.end()
    parts.append(template[pos:])
    return _Template(tuple(parts), tuple(ordered), tuple(slots), is_json)


def _check_json_shape(compiled: _Template) -> None:
    """Refuse a JSON template that no values could make valid.

    Every placeholder outside quotes stands for one JSON value whatever the event holds, so a
    number stands in for it; inside quotes the empty string does. A placeholder used as an
    object key (which AWS forbids) fails here too, since a number is not a key.
    """
    dummy = list(compiled.parts)
    for index, _, fmt in compiled.slots:
        dummy[index] = "0" if fmt is _as_json_value else ""
    try:
        orjson.loads("".join(dummy))
    except orjson.JSONDecodeError as e:
        raise InvalidTransformError(
            TEMPLATE_FIELD, f"InputTemplate starts with '{{' but is not valid JSON: {e}"
        ) from None
