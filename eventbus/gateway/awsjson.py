"""The AWS JSON protocol as EventBridge (1.1) and Step Functions (1.0) speak it (pure).

A call is ``POST /`` with ``X-Amz-Target: <prefix>.<Action>`` (``AWSEvents.`` or
``AWSStepFunctions.``), the service's ``Content-Type`` (``application/x-amz-json-1.1`` or
``-1.0``) and a JSON object body, signed (SigV4) for the service's signing name (``events`` or
``states``); the answer is a JSON object, or an error ``{"__type": "<Code>", "message":
"<text>"}`` with an HTTP 4xx status, which AWS SDKs raise as ``ClientError`` with
``Error.Code`` = ``__type``::

    read_call("application/x-amz-json-1.1", "AWSEvents.ListRules", b'{"NamePrefix": "o"}')
    → (EVENTS, "ListRules", {"NamePrefix": "o"})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from eventbus.errors import EventBusError

__all__ = [
    "CONTENT_TYPE",
    "EVENTS",
    "SERVICES",
    "STATES",
    "TARGET_PREFIX",
    "ApiError",
    "Service",
    "error_body",
    "expect",
    "length_at_least",
    "length_at_most",
    "one_of",
    "read_call",
    "require",
    "service_of",
    "value_between",
]

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "AWSEvents."


@dataclass(frozen=True, slots=True)
class Service:
    """One AWS JSON API the gateway answers: how its calls are named, typed and signed."""

    target_prefix: str
    content_type: str
    signing_name: str


EVENTS = Service(TARGET_PREFIX, CONTENT_TYPE, "events")
STATES = Service("AWSStepFunctions.", "application/x-amz-json-1.0", "states")
SERVICES = (EVENTS, STATES)


def service_of(target: str) -> Service:
    """The service an ``X-Amz-Target`` calls; EventBridge for anything else, so a malformed
    target is refused by :func:`read_call` in EventBridge's words."""
    return next((s for s in SERVICES if target.startswith(s.target_prefix)), EVENTS)


class ApiError(EventBusError):
    """An error answer: ``code`` becomes ``__type``; ``status`` is the HTTP status (400 unless
    said otherwise)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}")


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"__type": code, "message": message})


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def read_call(
    content_type: str, target: str, body: bytes
) -> tuple[Service, str, dict[str, Any]]:
    """(service, action, parameters) of a call; ``ApiError`` as AWS answers a malformed one."""
    service = service_of(target)
    if _media_type(content_type) != service.content_type:
        raise ApiError(
            "SerializationException",
            f"Content-Type must be {service.content_type}, not {content_type or 'absent'!r}.",
        )
    action = target.removeprefix(service.target_prefix)
    if not target.startswith(service.target_prefix) or not action:
        raise ApiError(
            "UnknownOperationException",
            f"X-Amz-Target {target!r} does not name an operation; expected AWSEvents.<Action> "
            "or AWSStepFunctions.<Operation>.",
        )
    if not body.strip():
        return service, action, {}
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ApiError("SerializationException", f"The body is not valid JSON: {e}") from None
    if not isinstance(params, dict):
        raise ApiError("SerializationException", "The request body must be a JSON object.")
    return service, action, params


def _validation(value: str, member: str, constraint: str) -> ApiError:
    # AWS's wording for a member breaking its model constraint (member names are camelCase).
    return ApiError(
        "ValidationException",
        f"1 validation error detected: Value {value} at '{member}' failed to satisfy "
        f"constraint: {constraint}",
    )


def _member(name: str) -> str:
    return name[:1].lower() + name[1:]


def require(params: dict[str, Any], name: str, kind: type) -> Any:
    """``params[name]``, which must be present and of ``kind``."""
    value = params.get(name)
    if value is None:
        raise _validation("null", _member(name), "Member must not be null")
    return expect(params, name, kind)


def expect(params: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    """``params[name]`` when present (then of ``kind``: else ``SerializationException``)."""
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(
            "SerializationException", f"{name} must be a {_KIND_NAMES.get(kind, kind.__name__)}."
        )
    return value


_KIND_NAMES = {str: "string", int: "number", list: "list", dict: "structure", bool: "boolean"}


# How much of a refused value a message echoes: eleven 1 MiB entries must not come back as a
# 2-million-character message.
SHOWN_VALUE_CHARS = 200


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value if len(value) <= SHOWN_VALUE_CHARS else value[: SHOWN_VALUE_CHARS - 1] + "…"
    text = orjson.dumps(value).decode()
    # A list or object keeps its closing bracket, as AWS's rendering of a list does.
    if len(text) <= SHOWN_VALUE_CHARS:
        return text
    return text[: SHOWN_VALUE_CHARS - 2] + "…" + text[-1]


def length_at_most(name: str, value: Any, limit: int) -> None:
    if len(value) > limit:
        raise _validation(
            f"'{_shown(value)}'",
            _member(name),
            f"Member must have length less than or equal to {limit}",
        )


def length_at_least(name: str, value: Any, limit: int) -> None:
    if len(value) < limit:
        shown = orjson.dumps(value).decode() if not isinstance(value, str) else value
        raise _validation(
            f"'{shown}'", _member(name), f"Member must have length greater than or equal to {limit}"
        )


def one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _validation(
            f"'{_shown(value)}'",
            _member(name),
            f"Member must satisfy enum value set: [{', '.join(choices)}]",
        )


def value_between(name: str, value: int, low: int, high: int) -> None:
    if value < low:
        raise _validation(
            f"'{value}'", _member(name), f"Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise _validation(
            f"'{value}'", _member(name), f"Member must have value less than or equal to {high}"
        )
