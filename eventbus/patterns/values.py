"""How an event's leaf value is keyed, so one dict lookup compares it with a pattern's value.

Strings key as themselves and numbers as their float64 (see ``numbers``). ``true``, ``false``
and ``null`` get tokens of their own, because Python's ``True == 1 == 1.0`` would otherwise let
the boolean match the number. The key's type therefore carries the JSON type: an operator that
only applies to strings tests ``type(key) is str``, a numeric one ``type(key) is float``.
"""

from __future__ import annotations

from eventbus.patterns.numbers import number_key

__all__ = ["FALSE", "NULL", "TRUE", "Key", "Token", "leaf_key"]


class Token:
    """A JSON literal (or an opaque non-JSON value) that equals only itself."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


TRUE = Token("true")
FALSE = Token("false")
NULL = Token("null")

Key = str | float | int | Token


def leaf_key(value: object) -> Key:
    """The key of one scalar event value."""
    if isinstance(value, str):
        return value
    if value is None:
        return NULL
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if isinstance(value, (int, float)):
        return number_key(value)
    # A dict event may hold values JSON cannot (dates, bytes): they match no pattern value.
    return Token(repr(value))
