"""Values as text the way Step Functions' Java runtime writes them (pure: no I/O).

AWS holds JSON as Java maps, lists and boxed numbers, so the text it shows differs from
Python's in places the corpus pins down: ``States.Format`` prints an object as ``{k=v}`` (a Java
map's ``toString``) and a double as ``1.0E21``; JSON written into messages and by
``States.JsonToString`` uses the same double form.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["java_double", "java_string", "to_json"]


def to_json(value: Any) -> str:
    """Compact JSON text as Step Functions' Java runtime writes it, in messages and by
    ``States.JsonToString``: like orjson's, except floats, written as Java prints doubles."""
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, str):
        # A lone surrogate (possible in values built in Python) is written as "?", like Java.
        value = value.encode("utf-8", "replace").decode()
    return orjson.dumps(value).decode()


def java_string(value: Any) -> str:
    """A value as Java's ``toString`` prints it: AWS's runtime holds JSON as Java maps and
    lists, so ``States.Format`` and Jayway's messages show ``{k=v, n=[1, a]}``."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, list):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_string(v)}" for k, v in value.items()) + "}"
    return str(value)


def java_double(value: float) -> str:
    """Java's ``Double.toString``: plain from 1e-3 up to 1e7, else ``d.dddE<n>``; never
    without a fractional part (``1.0``, ``1.0E21``)."""
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)
    mantissa, exponent = f"{value:.16e}".split("e")
    return f"{float(mantissa)!r}E{int(exponent)}"
