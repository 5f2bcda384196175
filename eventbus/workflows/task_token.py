"""Task tokens of callback tasks (pure): what ``$$.Task.Token`` holds for a ``.waitForTaskToken``
task or an activity, and how a token sent back is traced to its execution.

A token is ``base64url([1, execution ARN, attempt id])``: SendTask* finds the execution's
keys from the token alone (its partition is a hash of the ARN: one hash slot, no lookup, and
this module stays free of the store's key layout), and the attempt id is a
random uuid drawn from the execution, so a token is honoured only while that attempt waits
(the store checks it against the execution's waits: a forged one answers TaskDoesNotExist).
"""

from __future__ import annotations

import base64
import binascii

import orjson

from eventbus.errors import InvalidToken

__all__ = ["activity_name", "decode_token", "encode_token", "is_callback"]

_WAIT_SUFFIX = ".waitForTaskToken"


def is_callback(resource: str) -> bool:
    """Does a Task state with this resource wait for SendTaskSuccess/Failure?"""
    return resource.endswith(_WAIT_SUFFIX) or activity_name(resource) is not None


def activity_name(resource: str) -> str | None:
    """NAME of ``arn:aws:states:<region>:<account>:activity:NAME``, else None."""
    parts = resource.split(":")
    if len(parts) == 7 and parts[:3] == ["arn", "aws", "states"] and parts[5] == "activity" \
            and parts[6]:
        return parts[6]
    return None


def encode_token(execution_arn: str, attempt: str) -> str:
    raw = orjson.dumps([1, execution_arn, attempt])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    """(execution ARN, attempt id) of a token; InvalidToken when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, arn, attempt = orjson.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidToken("Invalid Token: the task token is malformed") from None
    if version != 1 or not isinstance(arn, str) or not isinstance(attempt, str):
        raise InvalidToken("Invalid Token: the task token is malformed")
    return arn, attempt
