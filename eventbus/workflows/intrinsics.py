"""Intrinsic functions (``States.Format(...)`` and the rest) for the JSONPath language (pure)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import jsontext

__all__ = ["evaluate_intrinsic"]

_ARG = re.compile(
    r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"""
    r"""|(?P<kw>null|true|false)\b|(?P<call>States\.\w+\s*\()|(?P<path>\$[^,)\s]*))\s*"""
)


@lru_cache(maxsize=4096)
def _parse(expr: str) -> tuple[Any, ...]:
    node, pos = _parse_call(expr, 0)
    if expr[pos:].strip():
        raise StatesError("States.Runtime", f"Invalid intrinsic function '{expr}'")
    return node


def _parse_call(text: str, pos: int) -> tuple[tuple[Any, ...], int]:
    m = re.compile(r"\s*States\.(\w+)\s*\(").match(text, pos)
    if m is None:
        raise StatesError("States.Runtime", f"Invalid intrinsic function '{text}'")
    name, pos = m.group(1), m.end()
    args: list[Any] = []
    while True:
        if text[pos:].lstrip().startswith(")"):
            pos = text.index(")", pos) + 1
            return ("call", name, tuple(args)), pos
        a = _ARG.match(text, pos)
        if a is None:
            raise StatesError("States.Runtime", f"Invalid intrinsic function '{text}'")
        if a.group("str") is not None:
            raw = a.group("str")[1:-1]
            args.append(("lit", re.sub(r"\\(.)", r"\1", raw)))
            pos = a.end()
        elif a.group("num") is not None:
            s = a.group("num")
            args.append(("lit", float(s) if any(c in s for c in ".eE") else int(s)))
            pos = a.end()
        elif a.group("kw") is not None:
            args.append(("lit", {"null": None, "true": True, "false": False}[a.group("kw")]))
            pos = a.end()
        elif a.group("call") is not None:
            node, pos = _parse_call(text, a.start("call"))
            args.append(node)
        else:
            args.append(("path", a.group("path")))
            pos = a.end()
        rest = text[pos:].lstrip()
        if rest.startswith(","):
            pos = text.index(",", pos) + 1


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return jsontext.dumps(value)


def _format(template: str, *args: Any) -> str:
    parts = re.split(r"(?<!\\)\{\}", template)
    if len(parts) - 1 != len(args):
        raise StatesError(
            "States.Runtime",
            "The number of arguments does not match the number of placeholders",
        )
    out = parts[0]
    for arg, part in zip(args, parts[1:], strict=True):
        out += _fmt(arg) + part
    return out


def _partition(arr: list[Any], size: int) -> list[list[Any]]:
    return [arr[i : i + size] for i in range(0, len(arr), size)]


def _range(start: int, end: int, step: int) -> list[int]:
    return list(range(int(start), int(end) + (1 if step > 0 else -1), int(step)))


def _unique(arr: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in arr:
        if v not in out:
            out.append(v)
    return out


def _merge(a: dict[str, Any], b: dict[str, Any], deep: bool) -> dict[str, Any]:
    out = dict(a)
    out.update(b)
    return out


def _hash(data: Any, algo: str) -> str:
    text = data if isinstance(data, str) else jsontext.dumps(data)
    return hashlib.new(algo.replace("-", "").lower(), text.encode()).hexdigest()


def _number(x: Any) -> Any:
    return int(x) if isinstance(x, float) and x.is_integer() else x


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "Format": _format,
    "StringToJson": jsontext.loads,
    "JsonToString": jsontext.dumps,
    "Array": lambda *a: list(a),
    "ArrayPartition": _partition,
    "ArrayContains": lambda arr, v: v in arr,
    "ArrayRange": _range,
    "ArrayGetItem": lambda arr, i: arr[int(i)],
    "ArrayLength": len,
    "ArrayUnique": _unique,
    "Base64Encode": lambda s: base64.b64encode(s.encode()).decode(),
    "Base64Decode": lambda s: base64.b64decode(s).decode(),
    "Hash": _hash,
    "JsonMerge": _merge,
    "MathAdd": lambda a, b: _number(a + b),
    "StringSplit": lambda s, d: [p for p in re.split("|".join(map(re.escape, d)), s) if p],
}


def evaluate_intrinsic(
    expr: str,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    uuid: Callable[[], str],
    random: Callable[[], float],
) -> Any:
    """Evaluate ``States.Xxx(...)`` over the state's data, context object and variables."""
    from eventbus.workflows.paths import read_path

    def run(node: tuple[Any, ...]) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "path":
            return read_path(node[1], data, context=context, variables=variables)
        name, args = node[1], [run(a) for a in node[2]]
        if name == "UUID":
            return uuid()
        if name == "MathRandom":
            lo, hi = int(args[0]), int(args[1])
            return lo + int(random() * (hi - lo))
        fn = _FUNCTIONS.get(name)
        if fn is None:
            raise StatesError("States.Runtime", f"Unknown intrinsic function 'States.{name}'")
        try:
            return fn(*args)
        except StatesError:
            raise
        except Exception as err:
            raise StatesError("States.IntrinsicFailure", str(err)) from err

    return run(_parse(expr))
