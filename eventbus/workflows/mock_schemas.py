"""TestState's check of a mocked result against the integration's response shape (pure).

AWS validates ``mock.result`` against the service API's response model, as
``fieldValidationMode`` says: STRICT (the default) checks types and required fields, PRESENT
only the types of the fields present, NONE nothing. Fields the model does not know are
accepted. The models below cover the common integrations; a resource not listed is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventbus.errors import RequestRejected

__all__ = ["check_mock_result"]


@dataclass(frozen=True)
class Shape:
    """One field's model: ``kind`` is string, number, boolean, array, object or any."""

    kind: str
    fields: Mapping[str, Shape] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    item: Shape | None = None
    enum: frozenset[str] = frozenset()
    min_len: int | None = None
    min: float | None = None
    max: float | None = None


STRING = Shape("string")
NUMBER = Shape("number")
ANY = Shape("any")


def _obj(required: tuple[str, ...] = (), **fields: Shape) -> Shape:
    return Shape("object", fields=fields, required=frozenset(required))


_CAPACITY = _obj(TableName=STRING, CapacityUnits=NUMBER, ReadCapacityUnits=NUMBER,
                 WriteCapacityUnits=NUMBER)
_STORAGE_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"})

_MODELS: dict[str, Shape] = {
    "arn:aws:states:::events:putEvents": _obj(
        FailedEntryCount=NUMBER,
        Entries=Shape("array", item=_obj(EventId=STRING, ErrorCode=STRING, ErrorMessage=STRING))),
    "arn:aws:states:::states:startExecution": _obj(
        ("ExecutionArn", "StartDate"), ExecutionArn=STRING, StartDate=STRING),
    "arn:aws:states:::lambda:invoke": _obj(
        StatusCode=NUMBER, FunctionError=STRING, LogResult=STRING, Payload=ANY,
        ExecutedVersion=STRING),
    "arn:aws:states:::dynamodb:putItem": _obj(
        Attributes=Shape("object"), ConsumedCapacity=_CAPACITY),
    "arn:aws:states:::dynamodb:getItem": _obj(Item=Shape("object"), ConsumedCapacity=_CAPACITY),
    "arn:aws:states:::sqs:sendMessage": _obj(
        MD5OfMessageBody=STRING, MD5OfMessageAttributes=STRING, MessageId=STRING,
        SequenceNumber=STRING),
    "arn:aws:states:::sns:publish": _obj(MessageId=STRING, SequenceNumber=STRING),
    "arn:aws:states:::aws-sdk:s3:getObject": _obj(
        ContentLength=NUMBER, ContentType=STRING, ETag=STRING, Body=ANY,
        StorageClass=Shape("string", enum=_STORAGE_CLASSES)),
    "arn:aws:states:::aws-sdk:kms:encrypt": _obj(
        CiphertextBlob=Shape("string", min_len=1), KeyId=STRING, EncryptionAlgorithm=STRING),
    "arn:aws:states:::aws-sdk:lambda:getFunction": _obj(
        Configuration=_obj(FunctionName=STRING, FunctionArn=STRING,
                           MemorySize=Shape("number", min=128, max=10240),
                           Timeout=Shape("number", min=1))),
}

_ARTICLES = {"array": "an array", "object": "an object"}


def check_mock_result(resource: str, result: Any, mode: str = "STRICT") -> None:
    """Raise RequestRejected (ValidationException) when ``result`` breaks the model."""
    model = _MODELS.get(resource)
    if model is None or mode == "NONE":
        return
    problem = _check(model, result, "", strict=mode != "PRESENT")
    if problem is not None:
        raise RequestRejected(f"Mock result schema validation error: {problem}")


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return kind == "any" or isinstance(value, {"string": str, "boolean": bool, "array": list,
                                                "object": dict}[kind])


def _check(shape: Shape, value: Any, name: str, *, strict: bool) -> str | None:  # noqa: C901
    if not _type_ok(shape.kind, value):
        return f"Field '{name}' must be {_ARTICLES.get(shape.kind, 'a ' + shape.kind)}"
    if shape.enum and value not in shape.enum:
        return f"Field '{name}' is not an expected value"
    if shape.min_len is not None and len(value) < shape.min_len:
        return f"Field '{name}' is smaller than the minimum length"
    if shape.min is not None and value < shape.min:
        return f"Field '{name}' is less than the minimum value"
    if shape.max is not None and value > shape.max:
        return f"Field '{name}' exceeds the maximum value"
    if shape.kind == "array" and shape.item is not None:
        for item in value:
            problem = _check(shape.item, item, name, strict=strict)
            if problem is not None:
                return problem
    if shape.kind == "object":
        if strict:
            for key in sorted(shape.required):
                if key not in value:
                    return f"Required field '{key}' is missing"
        for key, sub in shape.fields.items():
            if key in value:
                problem = _check(sub, value[key], key, strict=strict)
                if problem is not None:
                    return problem
    return None
