"""Filter expressions of JSONPath, ``[?(@.price < 10 && @.tags)]``, as Jayway evaluates them.

Operands are paths from ``@`` (the candidate element) or ``$`` (the document root), or
literals: numbers, quoted strings, ``true``/``false``/``null``, ``[...]`` lists and
``/regex/i``. Operators: ``== != < <= > >= =~ in nin``, ``&& || !`` and parentheses; an operand
alone tests that its path exists. Comparing values of different types is false, not an error.
The operand paths are compiled by the caller (``eventbus.workflows.query``), which passes its
compiler in: the path grammar and the filter grammar nest inside each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from eventbus.errors import InvalidExpression
from eventbus.jsonpath import MISSING
from eventbus.workflows.javatext import java_double

if TYPE_CHECKING:
    from eventbus.workflows.query import Query

__all__ = ["Operand", "Predicate", "bracket_end", "parse_filter", "read_quoted"]

OperandCompiler = Callable[[str], "tuple[Query, int]"]


def parse_filter(path: str, text: str, compile_operand: OperandCompiler) -> Predicate:
    """Parse the expression inside ``[?( )]`` of ``path``."""
    return _FilterParser(path, text, compile_operand).parse()


def bracket_end(text: str, pos: int) -> int:
    """The index of the ``]`` closing the ``[`` at ``pos``, skipping quoted text and nesting."""
    depth = 0
    quote = ""
    i = pos
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in ("'", '"'):
            quote = c
        elif c in "[(":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth == 0:
                if c != "]":
                    break
                return i
        i += 1
    raise InvalidExpression(text, f"the '[' at character {pos + 1} is not closed")


def read_quoted(text: str, body: str, pos: int) -> tuple[str, int]:
    # Only an escaped quote is unescaped: AWS takes other backslashes in a key literally.
    quote = body[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] == quote:
            out.append(quote)
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise InvalidExpression(text, "a quoted name is not closed")


@dataclass(frozen=True, slots=True)
class Operand:
    """A filter operand: a path from ``@`` (the candidate) or ``$`` (the root), or a literal."""

    relative: bool
    query: Query | None
    literal: Any = None

    def value(self, item: Any, root: Any) -> Any:
        if self.query is None:
            return self.literal
        return self.query.get(item if self.relative else root)


@dataclass(frozen=True, slots=True)
class Predicate:
    """``op`` is a comparison (``==`` ...), ``exists``, ``not``, ``and`` or ``or``."""

    op: str
    left: Operand | Predicate
    right: Operand | Predicate | None = None

    def test(self, item: Any, root: Any) -> bool:
        if self.op in ("and", "or", "not"):
            assert isinstance(self.left, Predicate)
            first = self.left.test(item, root)
            if self.op == "not":
                return not first
            assert isinstance(self.right, Predicate)
            if self.op == "and":
                return first and self.right.test(item, root)
            return first or self.right.test(item, root)
        assert isinstance(self.left, Operand)
        left = self.left.value(item, root)
        if self.op == "exists":
            return left is not MISSING
        assert isinstance(self.right, Operand)
        return _compare(self.op, left, self.right.value(item, root))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    # Jayway compares a string with a number: a string on the left with the number's text,
    # a number on the left with the string read as a number ("1" == 1, 1 == "1.0").
    if isinstance(a, str) and _is_number(b):
        return a == (java_double(b) if isinstance(b, float) else str(b))
    if _is_number(a) and isinstance(b, str):
        return _DECIMAL.fullmatch(b) is not None and bool(a == float(b))
    return type(a) is type(b) and bool(a == b)


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return op == "!=" and not (left is MISSING and right is MISSING)
    if op == "==":
        return _json_equal(left, right)
    if op == "!=":
        return not _json_equal(left, right)
    if op in ("in", "nin"):
        inside = isinstance(right, list) and any(_json_equal(left, r) for r in right)
        return inside if op == "in" else not inside
    if op == "=~":
        # Jayway matches the whole string (Java's Matcher.matches), not a part of it.
        return (
            isinstance(left, str) and isinstance(right, re.Pattern) and bool(right.fullmatch(left))
        )
    comparable = (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    if not comparable:
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # Java's BigDecimal syntax
_OPERATORS: Final = ("==", "!=", "<=", ">=", "=~", "<", ">")
_WORD_OPERATOR = re.compile(r"(nin|in)\b")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_REGEX = re.compile(r"/((?:[^/\\]|\\.)*)/([a-z]*)")


class _FilterParser:
    """Recursive descent over one filter expression (the text inside ``[?( )]``)."""

    def __init__(self, path: str, text: str, compile_operand: OperandCompiler) -> None:
        self.path = path
        self.text = text
        self.pos = 0
        self.compile_operand = compile_operand

    def fail(self, reason: str) -> InvalidExpression:
        return InvalidExpression(self.path, f"filter ({self.text}): {reason}")

    def nested(self, text: str) -> _FilterParser:
        return _FilterParser(self.path, text, self.compile_operand)

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        self.space()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos :]!r}")
        return predicate

    def space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def take(self, token: str) -> bool:
        self.space()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def disjunction(self) -> Predicate:
        left = self.conjunction()
        while self.take("||"):
            left = Predicate("or", left, self.conjunction())
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while self.take("&&"):
            left = Predicate("and", left, self.unary())
        return left

    def unary(self) -> Predicate:
        if self.take("!") and not self.text.startswith("=", self.pos):
            return Predicate("not", self.unary())
        if self.take("("):
            inner = self.disjunction()
            if not self.take(")"):
                raise self.fail("a '(' is not closed")
            return inner
        left = self.operand()
        self.space()
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return Predicate(op, left, self.operand())
        word = _WORD_OPERATOR.match(self.text, self.pos)
        if word is not None:
            self.pos = word.end()
            return Predicate(word.group(1), left, self.operand())
        return Predicate("exists", left)

    def operand(self) -> Operand:
        self.space()
        text, pos = self.text, self.pos
        if text.startswith(("@", "$"), pos):
            relative = text[pos] == "@"
            query, end = self.compile_operand("$" + text[pos + 1 :])
            self.pos = pos + end
            return Operand(relative, query)
        regex = _REGEX.match(text, pos)
        if regex is not None:
            self.pos = regex.end()
            flags = re.IGNORECASE if "i" in regex.group(2) else 0
            return Operand(False, None, re.compile(regex.group(1), flags))
        if text.startswith("[", pos):
            close = bracket_end(text, pos)
            items = [item.strip() for item in text[pos + 1 : close].split(",") if item.strip()]
            self.pos = close + 1
            return Operand(False, None, [self.nested(i).literal() for i in items])
        return Operand(False, None, self.literal())

    def literal(self) -> Any:
        self.space()
        text, pos = self.text, self.pos
        if text[pos : pos + 1] in ("'", '"'):
            value, end = read_quoted(self.path, text, pos)
            self.pos = end
            return value
        words: tuple[tuple[str, Any], ...] = (("true", True), ("false", False), ("null", None))
        for word, value in words:
            if text.startswith(word, pos):
                self.pos = pos + len(word)
                return value
        m = _NUMBER.match(text, pos)
        if m is None:
            raise self.fail(f"a value is expected at {text[pos:]!r}")
        self.pos = m.end()
        return orjson.loads(m.group())
