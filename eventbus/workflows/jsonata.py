"""JSONata as Step Functions runs it (pure: randomness comes from injected generators).

Expressions are evaluated by ``jsonatapy`` (JSONata 2.0 in Rust; docs/workflows.md, section
"JSONata", has the measurements behind that choice). On top of the language Step Functions
adds ``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid`` and ``$parse``, and takes
``$eval`` away; this module does the same. ``$random``, ``$uuid``, ``$now`` and ``$millis``
draw from generators the caller passes (``Generators``), so a replayed execution gives the
same values.

A string field holds an expression when it reads ``{% ... %}``. ``resolve`` evaluates every
such string inside a JSON value (the ``Arguments``, ``Output``, ``Assign``, ``Items`` ... of a
JSONata state). A result of JSONata ``undefined`` is an error there, as in Step Functions:
``The JSONata expression '$x' specified for the field 'Output/result' returned nothing
(undefined).`` Every failure is ``StatesError("States.QueryEvaluationError", <AWS's text>)``.
"""

from __future__ import annotations

import hashlib
import math
import random as _random
import re
import time
import uuid as _uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import jsonatapy
import orjson

from eventbus.errors import StatesError
from eventbus.workflows.intrinsics import HASH_ALGORITHMS
from eventbus.workflows.syntax import is_jsonata_expression

__all__ = [
    "SYSTEM",
    "UNDEFINED",
    "Generators",
    "evaluate",
    "expression_text",
    "is_expression",
    "require_type",
    "resolve",
    "syntax_error",
]

ERROR: Final = "States.QueryEvaluationError"


class _Undefined:
    """JSONata's ``undefined``: no value at all, unlike JSON ``null``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Generators:
    """Where ``$random``, ``$uuid`` and ``$now``/``$millis`` get their values.

    The defaults draw from the system; a step function passes deterministic ones (seeded
    from the execution, the virtual clock) so that a replay evaluates to the same values.
    ``clock`` gives milliseconds since the epoch.
    """

    random: Callable[[], float] = _random.random
    uuid: Callable[[], str] = lambda: str(_uuid.uuid4())
    clock: Callable[[], int] = _wall_clock_ms


SYSTEM: Final = Generators()

# The generators of the evaluation in progress, read by the functions registered below. A
# context variable rather than a registration per call: compiled expressions are shared.
_generators: ContextVar[Generators] = ContextVar("jsonata_generators", default=SYSTEM)


# Whether a value is a ``{% ... %}`` string, the JSONata form of a field (one test, shared with
# definition checking).
is_expression: Final = is_jsonata_expression


def expression_text(value: str) -> str:
    """The expression inside ``{% ... %}``, without the delimiters' surrounding spaces."""
    return value[2:-2].strip()


def evaluate(
    expression: str,
    bindings: Mapping[str, Any],
    *,
    field: str = "Output",
    generators: Generators = SYSTEM,
) -> Any:
    """Evaluate ``expression``; ``UNDEFINED`` when it yields nothing.

    ``bindings`` maps variable names (without ``$``) to values: ``states`` (``input``,
    ``result``, ``errorOutput``, ``context``) and the workflow variables. ``field`` names the
    field in error texts (``Output/result``).
    """
    token = _generators.set(generators)
    try:
        compiled = _compile(expression)
        used = compiled.bindings(bindings)
        try:
            value = compiled.expression.evaluate(None, used)
        except OverflowError:
            # An integer beyond 64 bits: JSONata's numbers are doubles, so it becomes one.
            used = _as_doubles(used)
            value = compiled.expression.evaluate(None, used)
        if value is None:
            # jsonatapy gives None for both null and undefined; its JSON form tells them apart.
            value = _null_or_undefined(compiled.expression, expression, field, used)
    except ValueError as exc:
        raise _evaluation_error(expression, field, exc) from None
    finally:
        _generators.reset(token)
    if isinstance(value, float) and not math.isfinite(value):
        raise _failure(
            expression, field, "threw an error during evaluation. D1001: Number out of range"
        )
    return value


def syntax_error(expression: str) -> str | None:
    """JSONata's message (``S0207: Unexpected end of expression``) if ``expression`` does not
    parse, else None; for checking a definition before it runs."""
    try:
        _compile(expression)
    except ValueError as exc:
        return _message(exc)
    return None


def resolve(
    value: Any,
    bindings: Mapping[str, Any],
    field: str,
    *,
    generators: Generators = SYSTEM,
) -> Any:
    """``value`` with every ``{% %}`` string inside it replaced by its result.

    ``field`` is the field's name (``Output``, ``Arguments``, ``Assign``); nested keys and
    indices extend it (``Output/result``) in error texts. An expression yielding undefined is
    an error.
    """
    if is_expression(value):
        text = expression_text(value)
        result = evaluate(text, bindings, field=field, generators=generators)
        if result is UNDEFINED:
            raise _failure(text, field, "returned nothing (undefined).")
        return result
    if isinstance(value, dict):
        return {
            key: resolve(item, bindings, field=f"{field}/{key}", generators=generators)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            resolve(item, bindings, field=f"{field}/{i}", generators=generators)
            for i, item in enumerate(value)
        ]
    return value


_TYPE_NAMES: Final = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def require_type(source: Any, value: Any, expected: str, *, field: str) -> None:
    """Refuse a resolved ``value`` whose JSON type is not ``expected`` ("array", ...)."""
    actual = _TYPE_NAMES.get(type(value))
    if actual == expected:
        return
    if not is_expression(source):
        raise StatesError(ERROR, f"The field '{field}' must be a {expected}.")
    text = expression_text(source)
    if actual is None:
        raise _failure(text, field, "returned an unsupported result type.")
    shown = orjson.dumps(value).decode()
    raise _failure(
        text,
        field,
        f"returned an unexpected result type. Expected '{expected}', but was '{actual}' "
        f"for value: {shown}",
    )


def _as_doubles(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return float(value)
    if isinstance(value, Mapping):
        return {key: _as_doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_doubles(item) for item in value]
    return value


def _failure(expression: str, field: str, what: str) -> StatesError:
    return StatesError(
        ERROR, f"The JSONata expression '{expression}' specified for the field '{field}' {what}"
    )


# jsonatapy wraps exceptions from host functions ("host function raised ValueError: ...") and
# names the callee after some messages; Step Functions shows JSONata's own "T1006: ..." text.
_HOST_PREFIX: Final = re.compile(r"^(?:host function raised \w+|Parse error): ")
_CALLEE_SUFFIX: Final = re.compile(r"(T1005|T1006)(: [^:]*?): \$\S+$")


def _message(exc: Exception) -> str:
    return _CALLEE_SUFFIX.sub(r"\1\2", _HOST_PREFIX.sub("", str(exc)))


def _evaluation_error(expression: str, field: str, exc: Exception) -> StatesError:
    return _failure(expression, field, f"threw an error during evaluation. {_message(exc)}")


def _null_or_undefined(
    compiled: jsonatapy.JsonataExpression, expression: str, field: str, bindings: dict[str, Any]
) -> Any:
    text = compiled.evaluate_json_or_none("null", bindings)
    if text is None:
        return UNDEFINED
    if text == "null":
        return None
    # Only a function (or another value JSON cannot hold) serialises to something else here.
    raise _failure(expression, field, "returned an unsupported result type.")


_VARIABLE: Final = re.compile(r"\$(\w+)")
_STATES_USE: Final = re.compile(r"\$states\b(?:\s*\.\s*(\w+))?")


@dataclass(frozen=True, slots=True)
class _Compiled:
    """An expression compiled once, with the bindings it can refer to.

    Handing jsonatapy a binding converts the whole value to Rust, which costs more than most
    evaluations, so only the variables named in the text are passed, and of ``$states`` only
    the parts named (``input``, ``context`` ...) unless the text uses ``$states`` whole.
    Names in string literals are passed needlessly but harmlessly.
    """

    expression: jsonatapy.JsonataExpression
    names: frozenset[str]
    states_parts: frozenset[str] | None  # None: all of $states

    def bindings(self, bindings: Mapping[str, Any]) -> dict[str, Any]:
        used = {name: bindings[name] for name in self.names if name in bindings}
        states = used.get("states")
        if self.states_parts is not None and isinstance(states, Mapping):
            used["states"] = {k: states[k] for k in self.states_parts if k in states}
        return used


@lru_cache(maxsize=4096)
def _compile(text: str) -> _Compiled:
    """The expression compiled once per text, with Step Functions' functions registered."""
    compiled = jsonatapy.compile(text)
    compiled.register("partition", _partition)
    compiled.register("range", _range)
    compiled.register("hash", _hash)
    compiled.register("parse", _parse)
    compiled.register("uuid", lambda: _generators.get().uuid())
    compiled.register_override("random", _random_number)
    compiled.register_override("millis", lambda: _generators.get().clock())
    compiled.register_override("now", _now)
    compiled.register_override("eval", _no_eval)
    parts = _STATES_USE.findall(text)
    return _Compiled(
        expression=compiled,
        names=frozenset(_VARIABLE.findall(text)),
        states_parts=None if "" in parts else frozenset(parts),
    )


# --- the functions Step Functions adds ------------------------------------------------------


class _FunctionError(ValueError):
    """A Step Functions JSONata function refused its arguments (JSONata-style code: text)."""


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _partition(array: Any, size: Any) -> list[Any]:
    if not isinstance(array, list):
        raise _FunctionError("T0410: Argument 1 of function $partition must be an array")
    if not _is_int(size) or size < 1:
        raise _FunctionError("T0410: Argument 2 of function $partition must be a positive integer")
    n = int(size)
    return [array[i : i + n] for i in range(0, len(array), n)]


def _range(start: Any, end: Any, step: Any) -> Any:
    if not (_is_int(start) and _is_int(end) and _is_int(step)):
        raise _FunctionError("T0410: Arguments of function $range must be integers")
    if step == 0:
        raise _FunctionError("D3001: Argument 3 of function $range must not be zero")
    values = list(range(int(start), int(end) + (1 if step > 0 else -1), int(step)))
    # The result is a JSONata sequence: a single value stands alone, as Step Functions shows it.
    return values[0] if len(values) == 1 else values




def _hash(data: Any, algorithm: Any) -> str:
    if not isinstance(data, str):
        raise _FunctionError("T0410: Argument 1 of function $hash must be a string")
    if algorithm not in HASH_ALGORITHMS:
        allowed = ", ".join(HASH_ALGORITHMS)
        raise _FunctionError(f"T0410: Argument 2 of function $hash must be one of {allowed}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], data.encode()).hexdigest()


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        raise _FunctionError("T0410: Argument 1 of function $parse must be a string")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _FunctionError(f"D3140: Unable to parse JSON string: {text}") from None


def _random_number(*seed: Any) -> float:
    if seed and seed[0] is not None:
        # A seed makes the draw reproducible on its own, whatever the injected generator.
        return _random.Random(seed[0]).random()
    return _generators.get().random()


# $fromMillis by arity: JSONata treats a null picture or zone as an argument of the wrong type.
_FROM_MILLIS: Final = (
    jsonatapy.compile("$fromMillis($ms)"),
    jsonatapy.compile("$fromMillis($ms, $picture)"),
    jsonatapy.compile("$fromMillis($ms, $picture, $zone)"),
)


def _now(*args: Any) -> Any:
    """``$now([picture [, timezone]])`` at the injected clock's time."""
    picture, zone = (*args, None, None)[:2]
    bindings = {"ms": _generators.get().clock(), "picture": picture, "zone": zone}
    return _FROM_MILLIS[min(len(args), 2)].evaluate(None, bindings)


def _no_eval(*_args: Any) -> Any:
    raise _FunctionError("T1006: Attempted to invoke a non-function")
