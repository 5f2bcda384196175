"""What the Step Functions API names and pages, checked as AWS checks it (pure).

ARNs are ``arn:aws:states:<region>:<account>:stateMachine:<name>`` and
``...:activity:<name>``; a name has 1 to 80 characters, none of them whitespace, brackets,
wildcards, ``" # % \\ ^ | ~ ` $ & , ; : /`` or a control character. A list is paged by an opaque
token naming the last item of the previous page, so a page never repeats or skips an item when
others are added or deleted between calls.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from eventbus.gateway.awsjson import ApiError, expect, length_at_most, require, value_between
from eventbus.settings import Settings
from eventbus.workflows.catalog import MAX_NAME_CHARS, name_problem

__all__ = [
    "MAX_NAME_CHARS",
    "check_name",
    "dated",
    "page",
    "parse_arn",
    "resource_arn",
]

MAX_ARN_CHARS = 256
# ListStateMachines and ListActivities: maxResults 0..1000, 0 meaning the default page of 100.
MAX_PAGE = 1000
DEFAULT_PAGE = 100

T = TypeVar("T")


def check_name(name: str) -> None:
    """``InvalidName`` for a name CreateStateMachine or CreateActivity refuses."""
    if name_problem(name) is not None:
        raise ApiError("InvalidName", f"Invalid Name: '{name}'")


def resource_arn(kind: str, name: str, settings: Settings) -> str:
    """The ARN of the ``kind`` (``stateMachine``, ``activity``) called ``name``."""
    return f"arn:aws:states:{settings.region}:{settings.account}:{kind}:{name}"


def parse_arn(params: dict[str, Any], member: str, kind: str, settings: Settings) -> str | None:
    """The name in the ARN ``params[member]`` of a ``kind`` resource: ``InvalidArn`` when it is
    not such an ARN, None when it is one of another region or account (where nothing is)."""
    arn: str = require(params, member, str)
    length_at_most(member, arn, MAX_ARN_CHARS)
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "states":
        raise ApiError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {arn}'")
    if parts[5] != kind:
        raise ApiError(
            "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {parts[5]}'"
        )
    if len(parts) != 7 or not parts[6]:
        raise ApiError("InvalidArn", f"Invalid Arn: 'Invalid resource name: {arn}'")
    if (parts[3], parts[4]) != (settings.region, settings.account):
        return None
    return parts[6]


def dated(ms: int) -> float:
    """Epoch milliseconds as AWS JSON's timestamp: epoch seconds."""
    return ms / 1000


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": name})).decode()


def _after(token: str) -> str:
    try:
        value = orjson.loads(base64.b64decode(token.encode(), altchars=b"-_", validate=True))
    except (binascii.Error, orjson.JSONDecodeError):
        value = None
    after = value.get("after") if isinstance(value, dict) else None
    if not isinstance(after, str):
        raise ApiError("InvalidToken", f"Invalid Token: '{token}'")
    return after


def page(
    items: Sequence[T], params: dict[str, Any], name_of: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by name) after ``nextToken``, at most ``maxResults``
    long, and the token of the next page (None on the last)."""
    size = expect(params, "maxResults", int, 0)
    value_between("maxResults", size, 0, MAX_PAGE)
    size = size or DEFAULT_PAGE
    token = expect(params, "nextToken", str)
    rest = list(items)
    if token is not None:
        length_at_most("nextToken", token, 1024)
        after = _after(token)
        rest = [item for item in rest if name_of(item) > after]
    chosen = rest[:size]
    return chosen, _token(name_of(chosen[-1])) if len(rest) > size else None
