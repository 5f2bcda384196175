"""The 18 intrinsic functions of JSONPath-mode states (``States.Format(...)``); pure: no I/O.

An expression is parsed once (cached by its text) into a tree of calls whose arguments are
string literals, numbers, ``true``/``false``/``null``, paths (``$.x``, ``$$.Execution.Id``,
``$var``) or nested calls. String literals take four escapes only: ``\\'``, ``\\{``, ``\\}``
and ``\\\\``; any other backslash, an unknown function or more than ten calls in one field
make the expression invalid (``InvalidExpression``: the definition is refused).

At run time a function given the wrong arguments fails the state as Step Functions does:
error ``States.Runtime``, cause ``Invalid arguments in States.<Name>`` (the state's runner
prefixes where it happened). Where a function wants an integer, AWS truncates a fractional
number towards zero (``States.ArrayPartition($.a, 2.6)`` partitions by 2), except
``States.MathAdd``, which rounds half up like Java's ``Math.round`` (1.5 -> 2, -1.5 -> -1).
Randomness and UUIDs come from the injected ``random``/``uuid`` callables, so a replay is exact.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import random as random_module
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import orjson

from eventbus.errors import InvalidExpression, StatesError
from eventbus.workflows.javatext import java_string, to_json
from eventbus.workflows.query import Query, parse_query_prefix, read

__all__ = [
    "HASH_ALGORITHMS", "MAX_CALLS", "Call", "evaluate_intrinsic", "is_intrinsic", "parse_intrinsic",
]

MAX_CALLS: Final = 10  # "You can nest up to 10 intrinsic functions within a field"
MAX_RANGE_ITEMS: Final = 1000
MAX_STRING_CHARS: Final = 10_000  # Base64Encode/Decode and Hash inputs


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    # A string literal split at its unescaped "{}": what States.Format fills in; a lone
    # unescaped brace makes it an invalid template (AWS fails the state, not the definition).
    pieces: tuple[str, ...] | None = None
    stray_brace: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Literal | Query | Call, ...]


Arg = Literal | Query | Call


def is_intrinsic(text: str) -> bool:
    """Whether a ``.$`` value is an intrinsic function call rather than a path."""
    return text.startswith("States.")


@lru_cache(maxsize=4096)
def parse_intrinsic(text: str) -> Call:
    """Parse a whole call; raises ``InvalidExpression`` for anything Step Functions refuses."""
    parser = _Parser(text)
    call = parser.call()
    parser.space()
    if parser.pos != len(text):
        raise parser.fail(f"unexpected {text[parser.pos :]!r} after the call")
    if parser.calls > MAX_CALLS:
        raise parser.fail(f"{parser.calls} intrinsic functions; at most {MAX_CALLS} in one field")
    return call


def evaluate_intrinsic(
    expr: str,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    uuid: Callable[[], str],
    random: Callable[[], float],
    field: str | None = None,
) -> Any:
    """Evaluate ``States.Xxx(...)`` against the state's ``data``; ``field`` (the ``.$`` key)
    names where a missing path was used, in the error's cause."""
    try:
        call = parse_intrinsic(expr)
    except InvalidExpression as exc:
        # Validation refuses such a definition; this is for an expression that bypassed it.
        reason = f"Invalid intrinsic function {expr}: {exc.reason}"
        raise StatesError("States.Runtime", reason) from None
    env = _Env(data, context, variables, uuid, random, field)
    return env.evaluate(call)


@dataclass(slots=True)
class _Env:
    data: Any
    context: Any
    variables: Mapping[str, Any]
    uuid: Callable[[], str]
    random: Callable[[], float]
    field: str | None

    def evaluate(self, arg: Arg) -> Any:
        if isinstance(arg, Literal):
            return arg.value
        if isinstance(arg, Query):
            return read(
                arg, self.data, context=self.context, variables=self.variables, field=self.field
            )
        impl, arity = _FUNCTIONS[arg.name]
        if not arity[0] <= len(arg.args) <= arity[1]:
            raise _invalid(arg.name)
        return impl(self, arg, [self.evaluate(a) for a in arg.args])


def _invalid(name: str) -> StatesError:
    return StatesError("States.Runtime", f"Invalid arguments in {name}")


# --- argument checks ---------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(name: str, value: Any) -> int:
    """An integer argument: AWS truncates a fractional number towards zero."""
    if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        raise _invalid(name)
    return int(value)


def _list(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(name)
    return value


def _str(name: str, value: Any, *, limit: int | None = None) -> str:
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        raise _invalid(name)
    return value


def _utf8(text: str) -> bytes:
    # A lone surrogate becomes "?", as Java's String.getBytes(UTF_8) writes it.
    return text.encode("utf-8", "replace")


def _key(value: Any) -> bytes:
    # Equality as JSON sees it: 1 and 1.0 differ, true is not 1, key order does not matter.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# --- the functions ---------------------------------------------------------------------------


def _format(env: _Env, call: Call, values: list[Any]) -> str:
    template = call.args[0]
    if isinstance(template, Literal) and template.pieces is not None:
        if template.stray_brace:
            raise _invalid(call.name)
        pieces = list(template.pieces)
    else:
        pieces = _split_template(call, _str(call.name, values[0]))
    if len(pieces) - 1 != len(values) - 1:
        raise _invalid(call.name)
    out = [pieces[0]]
    for piece, value in zip(pieces[1:], values[1:], strict=True):
        out.append(java_string(value))
        out.append(piece)
    return "".join(out)


def _split_template(call: Call, text: str) -> list[str]:
    # A template read from a path has no escapes: every "{}" is a placeholder, and a brace
    # that is not part of one is an error, as in a literal.
    pieces = text.split("{}")
    if any("{" in p or "}" in p for p in pieces):
        raise _invalid(call.name)
    return pieces


def _string_to_json(env: _Env, call: Call, args: list[Any]) -> Any:
    text = _str(call.name, args[0])
    if not text.strip():
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _invalid(call.name) from None


def _json_to_string(env: _Env, call: Call, args: list[Any]) -> str:
    return to_json(args[0])


def _array(env: _Env, call: Call, args: list[Any]) -> list[Any]:
    return list(args)


def _array_partition(env: _Env, call: Call, args: list[Any]) -> list[list[Any]]:
    items = _list(call.name, args[0])
    size = _int(call.name, args[1])
    if size <= 0:
        raise _invalid(call.name)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(env: _Env, call: Call, args: list[Any]) -> bool:
    items = _list(call.name, args[0])
    wanted = _key(args[1])
    return any(_key(item) == wanted for item in items)


def _array_range(env: _Env, call: Call, args: list[Any]) -> list[int]:
    start, end, step = (_int(call.name, a) for a in args)
    if step == 0:
        raise _invalid(call.name)
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE_ITEMS:
        raise _invalid(call.name)
    return [start + i * step for i in range(count)]


def _array_get_item(env: _Env, call: Call, args: list[Any]) -> Any:
    items = _list(call.name, args[0])
    index = _int(call.name, args[1])
    if not 0 <= index < len(items):
        raise _invalid(call.name)
    return items[index]


def _array_length(env: _Env, call: Call, args: list[Any]) -> int:
    return len(_list(call.name, args[0]))


def _array_unique(env: _Env, call: Call, args: list[Any]) -> list[Any]:
    seen: set[bytes] = set()
    unique: list[Any] = []
    for item in _list(call.name, args[0]):
        key = _key(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _base64_encode(env: _Env, call: Call, args: list[Any]) -> str:
    text = _str(call.name, args[0], limit=MAX_STRING_CHARS)
    return base64.b64encode(_utf8(text)).decode("ascii")


def _base64_decode(env: _Env, call: Call, args: list[Any]) -> str:
    text = _str(call.name, args[0], limit=MAX_STRING_CHARS)
    # Java's decoder, which AWS uses, takes text without its trailing "=" padding too.
    padding = "=" * (-len(text) % 4) if len(text) % 4 != 1 else ""
    try:
        return base64.b64decode(text + padding, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid(call.name) from None


#: The algorithms of States.Hash and JSONata's $hash, by their Step Functions names.
HASH_ALGORITHMS: Final = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(env: _Env, call: Call, args: list[Any]) -> str:
    text = _str(call.name, args[0], limit=MAX_STRING_CHARS)
    algorithm = HASH_ALGORITHMS.get(_str(call.name, args[1]))
    if algorithm is None:
        raise _invalid(call.name)
    return hashlib.new(algorithm, _utf8(text)).hexdigest()


def _json_merge(env: _Env, call: Call, args: list[Any]) -> dict[str, Any]:
    left, right, deep = args
    # Step Functions only merges shallowly: the third argument must be false.
    if not isinstance(left, dict) or not isinstance(right, dict) or deep is not False:
        raise _invalid(call.name)
    return {**left, **right}


def _math_random(env: _Env, call: Call, args: list[Any]) -> int:
    start = _int(call.name, args[0])
    end = _int(call.name, args[1])
    if start >= end:
        raise _invalid(call.name)
    if len(args) == 3:
        seed = _int(call.name, args[2])
        sample = random_module.Random(seed).random()
    else:
        sample = env.random()
    return start + min(int(sample * (end - start)), end - start - 1)


def _math_add(env: _Env, call: Call, args: list[Any]) -> int:
    if not all(_is_number(a) and math.isfinite(a) for a in args):
        raise _invalid(call.name)
    return sum(math.floor(a + 0.5) for a in args)


def _string_split(env: _Env, call: Call, args: list[Any]) -> list[str]:
    text = _str(call.name, args[0])
    delimiters = _str(call.name, args[1])
    # Each character of the second argument is a delimiter and empty tokens are dropped,
    # like Java's StringTokenizer: "a,,b" split on "," is ["a", "b"].
    if not delimiters:
        return [text] if text else []
    pattern = "[" + re.escape(delimiters) + "]"
    return [token for token in re.split(pattern, text) if token]


def _uuid(env: _Env, call: Call, args: list[Any]) -> str:
    return env.uuid()


_FUNCTIONS: Final[dict[str, tuple[Callable[[_Env, Call, list[Any]], Any], tuple[int, int]]]] = {
    "States.Format": (_format, (1, 1 << 30)),
    "States.StringToJson": (_string_to_json, (1, 1)),
    "States.JsonToString": (_json_to_string, (1, 1)),
    "States.Array": (_array, (0, 1 << 30)),
    "States.ArrayPartition": (_array_partition, (2, 2)),
    "States.ArrayContains": (_array_contains, (2, 2)),
    "States.ArrayRange": (_array_range, (3, 3)),
    "States.ArrayGetItem": (_array_get_item, (2, 2)),
    "States.ArrayLength": (_array_length, (1, 1)),
    "States.ArrayUnique": (_array_unique, (1, 1)),
    "States.Base64Encode": (_base64_encode, (1, 1)),
    "States.Base64Decode": (_base64_decode, (1, 1)),
    "States.Hash": (_hash, (2, 2)),
    "States.JsonMerge": (_json_merge, (3, 3)),
    "States.MathRandom": (_math_random, (2, 3)),
    "States.MathAdd": (_math_add, (2, 2)),
    "States.StringSplit": (_string_split, (2, 2)),
    "States.UUID": (_uuid, (0, 0)),
}


# --- parsing ---------------------------------------------------------------------------------

_NAME = re.compile(r"States\.([A-Za-z0-9]+)\(")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"(true|false|null)(?=\s*[,)])")
_ESCAPES: Final = {"'": "'", "{": "{", "}": "}", "\\": "\\"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.calls = 0

    def fail(self, reason: str) -> InvalidExpression:
        return InvalidExpression(self.text, reason)

    def space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> Call:
        m = _NAME.match(self.text, self.pos)
        if m is None:
            raise self.fail(f"an intrinsic function call is expected at character {self.pos + 1}")
        name = "States." + m.group(1)
        if name not in _FUNCTIONS:
            raise self.fail(f"{name} is not an intrinsic function")
        self.calls += 1
        self.pos = m.end()
        args: list[Arg] = []
        self.space()
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return Call(name, ())
        while True:
            self.space()
            args.append(self.argument())
            self.space()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif self.text.startswith(")", self.pos):
                self.pos += 1
                return Call(name, tuple(args))
            else:
                raise self.fail(f"',' or ')' expected at character {self.pos + 1}")

    def argument(self) -> Arg:
        text, pos = self.text, self.pos
        if text.startswith("'", pos):
            return self.string()
        if text.startswith("$", pos):
            query, self.pos = parse_query_prefix(text, pos)
            return query
        if text.startswith("States.", pos):
            return self.call()
        word = _WORD.match(text, pos)
        if word is not None:
            self.pos = word.end()
            return Literal({"true": True, "false": False, "null": None}[word.group(1)])
        number = _NUMBER.match(text, pos)
        if number is not None:
            self.pos = number.end()
            return Literal(orjson.loads(number.group()))
        raise self.fail(f"an argument is expected at character {pos + 1}")

    def string(self) -> Literal:
        text = self.text
        i = self.pos + 1
        pieces: list[str] = []
        current: list[str] = []
        stray = False
        while i < len(text):
            c = text[i]
            if c == "\\":
                escaped = _ESCAPES.get(text[i + 1 : i + 2])
                if escaped is None:
                    where = f"illegal escape at character {i + 1}"
                    raise self.fail(f"{where}: only \\' \\{{ \\}} and \\\\ are escapes")
                current.append(escaped)
                i += 2
            elif c == "'":
                pieces.append("".join(current))
                self.pos = i + 1
                return Literal("{}".join(pieces), tuple(pieces), stray)
            elif text.startswith("{}", i):
                pieces.append("".join(current))
                current = []
                i += 2
            else:
                stray = stray or c in "{}"
                current.append(c)
                i += 1
        raise self.fail("a string literal is not closed")
