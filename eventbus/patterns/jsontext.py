"""Pattern JSON text -> Python values, keeping every key of an object in order.

A pattern given as text may repeat a key; EventBridge validates every occurrence but keeps the
last, so objects come back as ``Pairs`` (a list of ``(key, value)``) and the parser decides.
Syntax errors are worded as Jackson (the parser behind EventBridge) words the common ones.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

__all__ = ["JsonTextError", "Pairs", "load_pattern_text"]


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its ``(key, value)`` pairs, duplicates included, in document order."""


class JsonTextError(ValueError):
    """Text that is not JSON; the message reads like Jackson's."""


_EXPECTING_VALUE = (
    "was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
)
_TOKEN = re.compile(r"[^\s\[\]{}:,\"']+")


def _refuse_constant(name: str) -> NoReturn:
    raise JsonTextError(
        f"Non-standard token '{name}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
    )


def load_pattern_text(text: str) -> Any:
    """Parse ``text``: objects become ``Pairs``, NaN and Infinity are refused."""
    try:
        return json.loads(text, object_pairs_hook=Pairs, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise JsonTextError(_jackson_message(e)) from None


def _unexpected(ch: str) -> str:
    return f"Unexpected character ('{ch}' (code {ord(ch)}))"


def _jackson_message(e: json.JSONDecodeError) -> str:
    text, pos = e.doc, e.pos
    if not text.strip():
        return "No content to map due to end-of-input"
    if pos >= len(text.rstrip()):
        return "Unexpected end-of-input: expected close marker for OBJECT"
    ch = text[pos]
    if e.msg == "Expecting value":
        token = _TOKEN.match(text, pos)
        if token and (ch.isalnum() or ch in "_-+."):
            return f"Unrecognized token '{token.group()}': {_EXPECTING_VALUE}"
        return f"{_unexpected(ch)}: expected a value"
    if e.msg.startswith("Expecting property name"):
        return f"{_unexpected(ch)}: was expecting double-quote to start field name"
    if e.msg == "Expecting ':' delimiter":
        return f"{_unexpected(ch)}: was expecting a colon to separate field name and value"
    if e.msg == "Expecting ',' delimiter":
        return f"{_unexpected(ch)}: was expecting comma to separate entries"
    if e.msg == "Extra data":
        return f"{_unexpected(ch)}: expected end of input"
    return f"{_unexpected(ch)}: {e.msg}"
