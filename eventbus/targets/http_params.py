"""The parts of an HTTP request taken from the rule and the event: URL path wildcards, query
parameters and header values (EventBridge's ``HttpParameters`` for API destinations).

A value is either a constant, or a JSON path into the **original** event when the whole value is
one (``$.detail.id``), as EventBridge allows for these parameters. Paths are compiled when the
target is built; a path that selects nothing in an event fails that delivery for good, since no
retry can make the event hold the value::

    url: https://api.example.com/orders/*/items/*
    path_parameters: [$.detail.order_id, "all"]
    → https://api.example.com/orders/o%2F42/items/all       (for detail.order_id = "o/42")

A header value must be text HTTP can carry: Latin-1 without control characters other than tab
(RFC 9110 §5.5). One read from an event that is not (CR, LF, NUL, an emoji...) fails the delivery
for good with ``INVALID_HEADER_VALUE`` before anything is sent: a retry would build the same value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Final
from urllib.parse import quote

import orjson
from pydantic import AfterValidator

from eventbus.errors import TargetRejected
from eventbus.jsonpath import MISSING, compile_path

__all__ = [
    "HeaderValue",
    "RequestParts",
    "compile_value",
    "header_value",
    "header_values",
    "is_path",
]

Value = Callable[[Mapping[str, Any]], str]
# Anything but tab, visible ASCII, space and the rest of Latin-1 (obs-text).
_NOT_HEADER_TEXT: Final = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def is_path(value: str) -> bool:
    return value.startswith("$.")


def compile_value(value: str, field: str) -> Value:
    """A constant, or a function reading the JSON path ``value`` from an event (as text: strings
    as they are, anything else as compact JSON)."""
    if not is_path(value):
        return lambda event: value
    path = compile_path(value, field=field)

    def read(event: Mapping[str, Any]) -> str:
        found = path.get(event)
        if found is MISSING or found == []:
            raise TargetRejected(
                f"{field}: {value} selects nothing in event {event.get('id')}",
                code="INVALID_HTTP_PARAMETER",
            )
        return found if isinstance(found, str) else orjson.dumps(found).decode()

    return read


def header_value(value: str) -> str:
    """``value`` as a header carries it, without surrounding spaces and tabs (they are not part
    of a field value, RFC 9110 §5.5, and some clients refuse them); ``ValueError`` naming its
    first character a header cannot carry (not the value: it may be anything an event held)."""
    if value.isascii() and value.isprintable():  # the common case, without the search
        return value.strip(" ")
    bad = _NOT_HEADER_TEXT.search(value)
    if bad is not None:
        char = bad.group()
        kind = "is not Latin-1" if ord(char) > 0xFF else "is a control character"
        raise ValueError(f"character U+{ord(char):04X} at position {bad.start()} {kind}")
    return value.strip(" \t")


def header_values(headers: Mapping[str, str], event_id: Any) -> dict[str, str]:
    """``headers`` with each value as a header carries it; a value HTTP cannot carry fails the
    delivery for good (``INVALID_HEADER_VALUE``)."""
    checked = {}
    for name, value in headers.items():
        try:
            checked[name] = header_value(value)
        except ValueError as e:
            raise TargetRejected(
                f"header {name} of event {event_id}: {e}; a header value must be Latin-1 text "
                "without control characters other than tab",
                code="INVALID_HEADER_VALUE",
            ) from None
    return checked


# A header value written in a rule file, refused when rules load if HTTP cannot carry it.
HeaderValue = Annotated[str, AfterValidator(header_value)]


class RequestParts:
    """URL, query parameters and headers of one target, compiled once, built per event.

    Constant headers are checked when rules load (:data:`HeaderValue`), so only the values read
    from the event are built, and checked, per delivery."""

    def __init__(
        self,
        url: str,
        path_parameters: Sequence[str],
        query: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> None:
        self._url_pieces = url.split("*")
        self._path = [
            compile_value(v, f"path_parameters[{i}]") for i, v in enumerate(path_parameters)
        ]
        self._query = [(k, compile_value(v, f"query.{k}")) for k, v in query.items()]
        self.fixed_headers = {k: v for k, v in headers.items() if not is_path(v)}
        self._headers = [(k, compile_value(v, f"headers.{k}"))
                         for k, v in headers.items() if is_path(v)]  # fmt: skip

    def url(self, event: Mapping[str, Any]) -> str:
        if not self._path:
            return self._url_pieces[0]
        pieces = [self._url_pieces[0]]
        for value, piece in zip(self._path, self._url_pieces[1:], strict=True):
            pieces += [quote(value(event), safe=""), piece]
        return "".join(pieces)

    def query(self, event: Mapping[str, Any]) -> dict[str, str]:
        return {k: value(event) for k, value in self._query}

    def headers(self, event: Mapping[str, Any]) -> dict[str, str]:
        """The headers read from ``event`` (not yet checked); the others are ``fixed_headers``."""
        return {k: value(event) for k, value in self._headers}
