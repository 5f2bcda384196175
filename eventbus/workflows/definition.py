"""Parsing and validating a state machine definition as Step Functions does at
CreateStateMachine and ValidateStateMachineDefinition.

``validate_definition`` raises ``InvalidDefinition`` whose ``message`` is CreateStateMachine's
text (``Invalid State Machine Definition: 'CODE: message at location, ...'``) and whose
``diagnostics`` are ValidateStateMachineDefinition's list. Schema problems are reported first;
the graph (targets, reachability, a terminal state) is checked only once the schema holds, as
AWS does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from eventbus.errors import InvalidDefinition
from eventbus.workflows.diagnostics import SCHEMA, Diagnostic
from eventbus.workflows.transitions import check_transitions
from eventbus.workflows.validation import check_schema

__all__ = ["MACHINE_TYPES", "parse_definition", "validate_definition"]

MACHINE_TYPES = ("STANDARD", "EXPRESS")
INVALID_JSON = "INVALID_JSON_DESCRIPTION"
_NOT_AN_OBJECT = "Definition must be a valid JSON object"
# Jackson, the parser AWS uses, quotes at most this much of the text in its messages.
_SOURCE_LIMIT = 500
_EXPECTED_VALUE = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"


def _invalid(diagnostics: list[Diagnostic]) -> InvalidDefinition:
    # AWS prints a missing location as Java does: `null`.
    parts = ", ".join(f"{d.code}: {d.message} at {d.location or 'null'}" for d in diagnostics)
    return InvalidDefinition(
        f"Invalid State Machine Definition: '{parts}'",
        [d.as_dict() for d in diagnostics],
    )


def parse_definition(text: str) -> dict[str, Any]:
    """The definition as a JSON object; raises ``InvalidDefinition`` with AWS's text otherwise."""
    if not text.strip():
        raise _invalid([Diagnostic(SCHEMA, _NOT_AN_OBJECT, None)])
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = _parse_slowly(text)
    if not isinstance(value, dict):
        raise _invalid([Diagnostic(SCHEMA, _NOT_AN_OBJECT, None)])
    return value


def _parse_slowly(text: str) -> Any:
    """The standard library's parser, for what orjson refuses but JSON allows (integers beyond
    64 bits); its error position feeds the Jackson-style message."""

    def no_constants(name: str) -> Any:
        raise json.JSONDecodeError(f"Unrecognized token '{name}'", text, text.index(name))

    try:
        return json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as e:
        message, source = _jackson_message(text, e.pos, e.msg)
        raise _invalid([Diagnostic(INVALID_JSON, f"{message}\n at {source}", source)]) from None
    except RecursionError:
        message = "Document nesting depth exceeds the maximum allowed"
        raise _invalid([Diagnostic(INVALID_JSON, message, None)]) from None


def _source(text: str, end: int) -> str:
    """Jackson's `[Source: ...]` text for the position just before index ``end``."""
    shown = text[:_SOURCE_LIMIT]
    if len(text) > _SOURCE_LIMIT:
        shown += f'"[truncated {len(text) - _SOURCE_LIMIT} chars]'
    else:
        shown += '"'
    line = text.count("\n", 0, end) + 1
    column = end - (text.rfind("\n", 0, end) + 1) + 1
    return f'[Source: (String)"{shown}; line: {line}, column: {column}]'


def _open_containers(text: str, pos: int) -> list[tuple[str, int]]:
    """The objects and arrays still open at ``pos``: (`{` or `[`, index), outermost first."""
    stack: list[tuple[str, int]] = []
    in_string = escaped = False
    for i, char in enumerate(text[:pos]):
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append((char, i))
        elif char in "}]" and stack:
            stack.pop()
    return stack


def _jackson_message(text: str, pos: int, reason: str) -> tuple[str, str]:
    """Jackson's wording for the syntax error at ``pos``: (message, ``[Source: ...]`` text)."""
    open_now = _open_containers(text, pos)
    kind = "Object" if open_now and open_now[-1][0] == "{" else "Array"
    if pos >= len(text.rstrip()):
        source = _source(text, len(text))
        if not open_now:
            return "No content to map due to end-of-input", source
        start = _source(text, open_now[-1][1])
        return (
            f"Unexpected end-of-input: expected close marker for {kind} (start marker at {start})",
            source,
        )
    if reason.startswith("Unterminated string"):
        return "Unexpected end-of-input: was expecting closing quote for a String value", _source(
            text, len(text)
        )
    char = text[pos]
    if reason.startswith("Invalid control character"):
        return (
            f"Illegal unquoted character ((CTRL-CHAR, code {ord(char)})): has to be escaped "
            "using backslash to be included in string value",
            _source(text, pos + 1),
        )
    word = re.match(r"[A-Za-z0-9_$]+", text[pos:])
    if word is not None and not word.group()[0].isdigit() and "property name" not in reason:
        source = _source(text, pos + len(word.group()))
        return f"Unrecognized token '{word.group()}': was expecting {_EXPECTED_VALUE}", source
    if "property name" in reason:
        expected = "was expecting double-quote to start field name"
    elif "':' delimiter" in reason:
        expected = "was expecting a colon to separate field name and value"
    elif "',' delimiter" in reason:
        expected = f"was expecting comma to separate {kind} entries"
    else:
        expected = f"expected a valid value {_EXPECTED_VALUE}"
    return f"Unexpected character ('{char}' (code {ord(char)})): {expected}", _source(text, pos + 1)


def validate_definition(definition: str, state_machine_type: str = "STANDARD") -> None:
    """Raise ``InvalidDefinition`` listing every problem Step Functions finds in ``definition``.

    ``state_machine_type`` is ``STANDARD`` or ``EXPRESS``: EXPRESS machines refuse
    ``.sync`` and ``.waitForTaskToken`` integrations, activities and distributed Maps.
    """
    if state_machine_type not in MACHINE_TYPES:
        raise ValueError(
            f"state machine type must be STANDARD or EXPRESS, not {state_machine_type!r}"
        )
    machine = parse_definition(definition)
    diagnostics = check_schema(machine, state_machine_type)
    if not diagnostics:
        diagnostics = check_transitions(machine)
    if diagnostics:
        raise _invalid(diagnostics)
