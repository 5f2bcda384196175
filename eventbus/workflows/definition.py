"""Parsing and validating a state machine definition (pure)."""

from __future__ import annotations

from typing import Any

from eventbus.errors import InvalidDefinition
from eventbus.workflows import jsontext

__all__ = ["parse_definition", "validate_definition"]


def parse_definition(text: str) -> dict[str, Any]:
    try:
        parsed = jsontext.loads(text)
    except ValueError as err:
        raise InvalidDefinition(
            "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: "
            "Definition is not valid JSON'"
        ) from err
    if not isinstance(parsed, dict):
        raise InvalidDefinition("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED'")
    return parsed


def validate_definition(definition: str, state_machine_type: str = "STANDARD") -> None:
    parsed = parse_definition(definition)
    problems = []
    if "StartAt" not in parsed:
        problems.append({"code": "SCHEMA_VALIDATION_FAILED",
                         "message": "These fields are required: [StartAt]", "location": "/"})
    if "States" not in parsed:
        problems.append({"code": "SCHEMA_VALIDATION_FAILED",
                         "message": "These fields are required: [States]", "location": "/"})
    if problems:
        text = ", ".join(f"{p['message']} at {p['location']}" for p in problems)
        raise InvalidDefinition(
            f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {text}'", problems
        )
