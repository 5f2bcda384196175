"""Schema validation of a parsed state machine: every field in its place, of its type, in its
query language, with AWS's diagnostic texts and locations (JSON-pointer-like paths such as
``/States/Map/ItemProcessor/States/Inner`` and ``/States/Choose/Choices[0]/Next``).

The walk collects every problem rather than stopping at the first, as
ValidateStateMachineDefinition does. What a state may hold is read from schema.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from eventbus.workflows import schema
from eventbus.workflows.choice_rules import check_choice_rule
from eventbus.workflows.diagnostics import SCHEMA, Diagnostic
from eventbus.workflows.handler_rules import check_catchers, check_retriers
from eventbus.workflows.syntax import (
    is_intrinsic_call,
    is_jsonata_expression,
    is_jsonpath,
    is_reference_path,
    is_rfc3339,
)

__all__ = ["check_schema"]

# Variable names are identifiers (Unicode letters, digits and `_`, not starting with a digit).
_VARIABLE_NAME = re.compile(r"[^\W\d]\w*")
_VARIABLE_NAME_LIMIT = 80
_TYPE_NAMES = {dict: "OBJECT", list: "ARRAY", str: "STRING", bool: "BOOLEAN", int: "INTEGER"}


def _fields_list(fields: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(fields) + "]"


class _Walk:
    def __init__(self, machine_type: str) -> None:
        self.found: list[Diagnostic] = []
        self.express = machine_type == "EXPRESS"
        self.machine_language = "JSONPath"

    def fail(self, location: str, message: str) -> None:
        self.found.append(Diagnostic(SCHEMA, message, location))

    # -- containers -------------------------------------------------------------------------

    def machine(self, machine: Mapping[str, Any]) -> None:
        self.require(machine, ("States", "StartAt"), "/")
        for key in machine:
            if key not in schema.MACHINE_FIELDS:
                self.fail("/", f"Field '{key}' is not supported")
        if "QueryLanguage" in machine:
            self.machine_language = _resolve_language(machine["QueryLanguage"])
            self._language_value(machine["QueryLanguage"], "/QueryLanguage")
        if "Version" in machine and machine["Version"] != "1.0":
            self.fail("/Version", "Value should be one of the following: [1.0]")
        if "TimeoutSeconds" in machine:
            timeout = machine["TimeoutSeconds"]
            if isinstance(timeout, bool) or not isinstance(timeout, int):
                self.fail("/TimeoutSeconds", "Expected value of type [INTEGER]")
            elif not 0 <= timeout <= 99999999:
                self.fail(
                    "/TimeoutSeconds",
                    "Minimum value is 0" if timeout < 0 else "Maximum value is 99999999",
                )
        self._states(machine, "")

    def _branch(self, branch: Any, location: str, allowed: frozenset[str]) -> None:
        if not self.expect_type(branch, dict, location):
            return
        self.require(branch, ("States", "StartAt"), location)
        for key in branch:
            if key not in allowed:
                self.fail(location, f"Field '{key}' is not supported")
        self._states(branch, location)

    def _states(self, container: Mapping[str, Any], prefix: str) -> None:
        if "StartAt" in container:
            self.expect_type(container["StartAt"], str, f"{prefix}/StartAt")
        if "States" not in container:
            return
        states = container["States"]
        if not self.expect_type(states, dict, f"{prefix}/States"):
            return
        if not states:
            self.fail(f"{prefix}/States", "Value cannot be empty")
        for name, state in states.items():
            self._state(state, f"{prefix}/States/{name}")

    # -- states -----------------------------------------------------------------------------

    def _state(self, state: Any, location: str) -> None:
        if not self.expect_type(state, dict, location):
            return
        if "Type" not in state:
            self.require(state, ("Type",), location)
            return
        kind = state["Type"]
        if kind not in schema.STATE_TYPES:
            self.fail(
                f"{location}/Type",
                f"The field 'Type' should have one of these values: "
                f"{_fields_list(schema.STATE_TYPES)}",
            )
            return
        language, downgraded = self._state_language(state, location)
        allowed = schema.STATE_FIELDS[kind]
        refused = schema.JSONPATH_ONLY if language == "JSONata" else schema.JSONATA_ONLY
        for key in state:
            if key not in allowed and key not in schema.COMMON_STATE_FIELDS:
                self.fail(location, f"Field '{key}' is not supported")
            elif key in refused and not downgraded:
                self.fail(location, schema.language_field_message(language, key))
        if "QueryLanguage" in state:
            self._language_value(state["QueryLanguage"], f"{location}/QueryLanguage")
        self._state_shape(kind, state, location)
        for key, value in state.items():
            check = _FIELD_CHECKS.get(key)
            if check is not None and key in allowed and key not in refused:
                check(self, key, value, f"{location}/{key}", language)

    def _state_language(self, state: Mapping[str, Any], location: str) -> tuple[str, bool]:
        """The state's query language, and whether it reverts a JSONata machine to JSONPath
        (refused; the fields of the other language are then not reported on top of it)."""
        if "QueryLanguage" not in state:
            # Nested states inherit the machine's language, not their Map's or Parallel's.
            return self.machine_language, False
        declared = state["QueryLanguage"]
        if declared == "JSONPath" and self.machine_language == "JSONata":
            self.fail(
                location,
                "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
            )
            return "JSONPath", True
        return _resolve_language(declared), False

    def _state_shape(self, kind: str, state: Mapping[str, Any], location: str) -> None:
        """Whole-state rules: required fields, Next or End, fields that exclude each other."""
        self.require(state, schema.REQUIRED_FIELDS.get(kind, ()), location)
        if kind in schema.TRANSITION_TYPES:
            ends = state.get("End") is True
            if ends and "Next" in state:
                self.fail(location, "There should only be one of the following fields: [Next, End]")
            elif not ends and "Next" not in state:
                self.fail(
                    location,
                    "This object should have only one of the following fields: [Next, End]",
                )
        if kind == "Map" and "ItemProcessor" not in state and "Iterator" not in state:
            self.fail(
                location,
                "This object should have only one of the following fields: "
                "[ItemProcessor, Iterator]",
            )
        if kind == "Wait":
            timing = ("SecondsPath", "Seconds", "TimestampPath", "Timestamp")
            count = sum(field in state for field in timing)
            if count != 1:
                word = "There should only be" if count else "This object should have only"
                self.fail(location, f"{word} one of the following fields: {_fields_list(timing)}")
        for first, second in schema.EXCLUSIVE_FIELDS:
            if first in state and second in state:
                self.fail(
                    f"{location}/{first}",
                    f"There should only be one of the following fields: [{first}, {second}]",
                )

    # -- field values -----------------------------------------------------------------------

    def expect_type(self, value: Any, kind: type, location: str) -> bool:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.fail(location, f"Expected value of type [{_TYPE_NAMES[kind]}]")
        return ok

    def require(self, obj: Mapping[str, Any], fields: tuple[str, ...], location: str) -> None:
        missing = [field for field in fields if field not in obj]
        if missing:
            self.fail(location, f"These fields are required: {_fields_list(missing)}")

    def _language_value(self, value: Any, location: str) -> None:
        if self.expect_type(value, str, location) and value not in schema.QUERY_LANGUAGES:
            self.fail(location, "Value should be one of the following: [JSONPath, JSONata]")

    def check_template(self, value: Any, location: str) -> None:
        """`.$` keys of a JSONPath payload template hold a path or an intrinsic function call."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.check_template(item, f"{location}[{i}]")
            return
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if not key.endswith(".$"):
                self.check_template(item, f"{location}/{key}")
            elif not (isinstance(item, str) and (is_jsonpath(item) or is_intrinsic_call(item))):
                self.fail(
                    location,
                    f"The value for the field '{key}' must be a valid JSONPath "
                    "or a valid intrinsic function call",
                )

    def check_assign(self, value: Any, location: str, language: str) -> None:
        """An `Assign` object: variable names (a `.$` suffix in JSONPath marks a path), then
        the values as a payload template in JSONPath."""
        if not self.expect_type(value, dict, location):
            return
        for key in value:
            name = key[:-2] if language == "JSONPath" and key.endswith(".$") else key
            if name == "states":
                self.found.append(
                    Diagnostic(
                        "RESERVED_VARIABLE_NAME",
                        "Cannot assign to reserved variable '$states'.",
                        location,
                    )
                )
            elif not _VARIABLE_NAME.fullmatch(name) or len(name) > _VARIABLE_NAME_LIMIT:
                self.found.append(
                    Diagnostic(
                        "INVALID_VARIABLE_NAME",
                        f"Invalid variable name '{name}': the variable name contains "
                        "invalid characters.",
                        location,
                    )
                )
        if language == "JSONPath":
            self.check_template(value, location)

    def check_reference_path(self, key: str, value: Any, location: str) -> None:
        """A path naming one node (ResultPath, ItemsPath); ResultPath may be null."""
        if value is None and key == "ResultPath":
            return
        if not isinstance(value, str) or not is_jsonpath(value):
            self.fail(location, schema.INVALID_PATH)
        elif not is_reference_path(value):
            self.fail(location, schema.NOT_A_REFERENCE_PATH)

    # -- field checks: each takes (key, value, location, language) --------------------------

    def _path(self, key: str, value: Any, location: str, language: str) -> None:
        if value is None and key in ("InputPath", "OutputPath"):
            return
        if (
            key in ("ErrorPath", "CausePath")
            and isinstance(value, str)
            and is_intrinsic_call(value)
        ):
            return
        if not isinstance(value, str) or not is_jsonpath(value):
            self.fail(location, schema.INVALID_PATH)

    def _reference(self, key: str, value: Any, location: str, language: str) -> None:
        self.check_reference_path(key, value, location)

    def _integer(self, key: str, value: Any, location: str, language: str) -> None:
        """A whole number in range; a JSONata state may give an expression instead."""
        if language == "JSONata" and is_jsonata_expression(value):
            return
        percentage = key == "ToleratedFailurePercentage"
        number = isinstance(value, (int, float)) if percentage else isinstance(value, int)
        if isinstance(value, bool) or not number:
            self.fail(location, "Expected value of type [INTEGER]")
            return
        low, high = schema.INTEGER_RANGES[key]
        if value < low:
            self.fail(location, f"Minimum value is {low}")
        elif high is not None and value > high:
            self.fail(location, f"Maximum value is {high}")

    def _assign(self, key: str, value: Any, location: str, language: str) -> None:
        self.check_assign(value, location, language)

    def _template(self, key: str, value: Any, location: str, language: str) -> None:
        if language == "JSONPath":
            self.check_template(value, location)

    def _string(self, key: str, value: Any, location: str, language: str) -> None:
        if not (language == "JSONata" and is_jsonata_expression(value)):
            self.expect_type(value, str, location)

    def _boolean(self, key: str, value: Any, location: str, language: str) -> None:
        self.expect_type(value, bool, location)

    def _timestamp(self, key: str, value: Any, location: str, language: str) -> None:
        if language == "JSONata" and is_jsonata_expression(value):
            return
        if self.expect_type(value, str, location) and not is_rfc3339(value):
            self.fail(location, "String does not match RFC3339 timestamp")

    def _credentials(self, key: str, value: Any, location: str, language: str) -> None:
        if not self.expect_type(value, dict, location):
            return
        if not {"RoleArn", "RoleArn.$"} & value.keys():
            self.fail(location, "The field 'RoleArn' is required but was missing")

    def _resource(self, key: str, value: Any, location: str, language: str) -> None:
        """Any resource string, except integration patterns an EXPRESS machine cannot run and
        APIs an optimized integration does not have."""
        if not self.expect_type(value, str, location):
            return
        refusal = self._express_refusal(value) if self.express else None
        if refusal is not None:
            self.fail(location, refusal)
            return
        parts = value.split(":", 6)
        if len(parts) < 7 or parts[0] != "arn" or parts[2:5] != ["states", "", ""]:
            return
        apis = schema.OPTIMIZED_INTEGRATIONS.get(parts[5])
        if apis is not None and parts[6] not in apis:
            self.fail(
                location,
                f"The resource provided {value} is not recognized. The value is not a valid "
                "resource ARN, or the resource is not available in this region.",
            )

    @staticmethod
    def _express_refusal(resource: str) -> str | None:
        if resource.endswith(".waitForTaskToken"):
            # AWS's text ends with a space here; kept as AWS writes it.
            return "Express state machine does not support '.waitForTaskToken' service integration "
        if resource.endswith((".sync", ".sync:2")):
            return "Express state machine does not support '.sync' service integration"
        if ":activity:" in resource:
            return "Express state machine does not support Activity ARN"
        return None

    def _choices(self, key: str, value: Any, location: str, language: str) -> None:
        if not self.expect_type(value, list, location):
            return
        if not value:
            self.fail(location, "Value cannot be empty")
        for i, rule in enumerate(value):
            check_choice_rule(self, rule, f"{location}[{i}]", language, top=True)

    def _branches(self, key: str, value: Any, location: str, language: str) -> None:
        if not self.expect_type(value, list, location):
            return
        if not value:
            self.fail(location, "Value cannot be empty")
        for i, branch in enumerate(value):
            self._branch(branch, f"{location}[{i}]", schema.BRANCH_FIELDS)

    def _processor(self, key: str, value: Any, location: str, language: str) -> None:
        self._branch(value, location, schema.PROCESSOR_FIELDS)
        config = value.get("ProcessorConfig") if isinstance(value, dict) else None
        where = f"{location}/ProcessorConfig"
        if config is None or not self.expect_type(config, dict, where):
            return
        for field in config:
            if field not in ("Mode", "ExecutionType"):
                self.fail(where, f"Field '{field}' is not supported")
        mode = config.get("Mode", "INLINE")
        if mode not in ("INLINE", "DISTRIBUTED"):
            self.fail(
                f"{where}/Mode", "Value should be one of the following: [INLINE, DISTRIBUTED]"
            )
        elif mode == "INLINE" and "ExecutionType" in config:
            self.fail(where, "Field 'ExecutionType' is not supported")
        elif mode == "DISTRIBUTED":
            if self.express:
                self.fail(
                    f"{where}/Mode",
                    "The field 'Mode' with value 'DISTRIBUTED' is not supported inside "
                    "'EXPRESS' state machines",
                )
            self.require(config, ("ExecutionType",), where)
            if config.get("ExecutionType", "STANDARD") not in ("STANDARD", "EXPRESS"):
                self.fail(
                    f"{where}/ExecutionType",
                    "Value should be one of the following: [STANDARD, EXPRESS]",
                )

    def _retry(self, key: str, value: Any, location: str, language: str) -> None:
        check_retriers(self, value, location)

    def _catch(self, key: str, value: Any, location: str, language: str) -> None:
        check_catchers(self, value, location, language)


_FieldCheck = Callable[[_Walk, str, Any, str, str], None]

# Which check each state field's value gets; fields not listed take any JSON value.
_FIELD_CHECKS: dict[str, _FieldCheck] = {
    **dict.fromkeys(schema.JSONPATH_STRING_FIELDS, _Walk._path),
    **dict.fromkeys(schema.REFERENCE_PATH_FIELDS, _Walk._reference),
    **dict.fromkeys(schema.INTEGER_RANGES, _Walk._integer),
    **dict.fromkeys(schema.PAYLOAD_TEMPLATES, _Walk._template),
    **dict.fromkeys(("Next", "Default", "Label", "Error", "Cause"), _Walk._string),
    "Assign": _Walk._assign,
    "End": _Walk._boolean,
    "Timestamp": _Walk._timestamp,
    "Credentials": _Walk._credentials,
    "Resource": _Walk._resource,
    "Choices": _Walk._choices,
    "Branches": _Walk._branches,
    "ItemProcessor": _Walk._processor,
    "Iterator": _Walk._processor,
    "Retry": _Walk._retry,
    "Catch": _Walk._catch,
}


def _resolve_language(value: Any) -> str:
    """A state is JSONPath only when it says exactly `JSONPath`; any other value is JSONata."""
    return "JSONPath" if value == "JSONPath" else "JSONata"


def check_schema(machine: Mapping[str, Any], machine_type: str) -> list[Diagnostic]:
    """Every schema problem of a parsed definition (a JSON object), in AWS's order."""
    walk = _Walk(machine_type)
    walk.machine(machine)
    return walk.found
