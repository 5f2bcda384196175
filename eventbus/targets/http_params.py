"""The parts of an HTTP request taken from the rule and the event: URL path wildcards, query
parameters and header values (EventBridge's ``HttpParameters`` for API destinations).

A value is either a constant, or a JSON path into the **original** event when the whole value is
one (``$.detail.id``), as EventBridge allows for these parameters. Paths are compiled when the
target is built; a path that selects nothing in an event fails that delivery for good, since no
retry can make the event hold the value::

    url: https://api.example.com/orders/*/items/*
    path_parameters: [$.detail.order_id, "all"]
    → https://api.example.com/orders/o%2F42/items/all       (for detail.order_id = "o/42")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from eventbus.errors import TargetRejected
from eventbus.jsonpath import MISSING, compile_path

__all__ = ["RequestParts", "compile_value", "is_path"]

Value = Callable[[Mapping[str, Any]], str]


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


class RequestParts:
    """URL, query parameters and headers of one target, compiled once, built per event."""

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
        self._headers = [(k, compile_value(v, f"headers.{k}")) for k, v in headers.items()]

    def url(self, event: Mapping[str, Any]) -> str:
        pieces = [self._url_pieces[0]]
        for value, piece in zip(self._path, self._url_pieces[1:], strict=True):
            pieces += [quote(value(event), safe=""), piece]
        return "".join(pieces)

    def query(self, event: Mapping[str, Any]) -> dict[str, str]:
        return {k: value(event) for k, value in self._query}

    def headers(self, event: Mapping[str, Any]) -> dict[str, str]:
        return {k: value(event) for k, value in self._headers}
