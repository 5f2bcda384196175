"""Definition-time syntax checks of the strings inside a state machine: paths, intrinsic
function calls, RFC 3339 timestamps and JSONata expression markers.

These only answer "would Step Functions accept this text when the machine is created"; they
evaluate nothing. Evaluation lives in paths.py, intrinsics.py and jsonata.py.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = [
    "INTRINSIC_FUNCTIONS",
    "is_intrinsic_call",
    "is_jsonata_expression",
    "is_jsonpath",
    "is_reference_path",
    "is_rfc3339",
]

INTRINSIC_FUNCTIONS = frozenset(
    {
        "States.Format",
        "States.StringToJson",
        "States.JsonToString",
        "States.Array",
        "States.ArrayPartition",
        "States.ArrayContains",
        "States.ArrayRange",
        "States.ArrayGetItem",
        "States.ArrayLength",
        "States.ArrayUnique",
        "States.Base64Encode",
        "States.Base64Decode",
        "States.Hash",
        "States.JsonMerge",
        "States.MathRandom",
        "States.MathAdd",
        "States.StringSplit",
        "States.UUID",
    }
)

# A member name after a dot: anything up to the next dot or bracket (Step Functions accepts
# names such as `$.a-b` and `$.ünïcode`), but not empty.
_DOT_MEMBER = re.compile(r"\.(\*|[^.\[\]\s]+)")
_DEEP_MEMBER = re.compile(r"\.\.(\*|[^.\[\]\s]+)")
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_INDEX = r"-?\d+"
# A bracket step, which may follow a dot: AWS documents `$.abc.['def ghi']`.
_BRACKET = re.compile(
    rf"\.?\[\s*(?:\*|{_INDEX}(?:\s*,\s*{_INDEX})*|(?:{_INDEX})?\s*:\s*(?:{_INDEX})?(?::{_INDEX})?"
    rf"|(?:{_QUOTED})(?:\s*,\s*(?:{_QUOTED}))*)\s*\]"
)
_REFERENCE_STEP = re.compile(rf"\.[^.\[\]\s*?@()]+|\.?\[\s*(?:\d+|{_QUOTED})\s*\]")
# `$`, `$$` (the context object) or `$name` (a variable), then the steps.
_ROOT = re.compile(r"\$\$|\$[A-Za-z_][A-Za-z0-9_]*|\$")


def _filter_end(path: str, start: int) -> int:
    """The index after a `[?( ... )]` filter starting at `start`, or -1 when it is unbalanced."""
    depth = 0
    quote = ""
    i = start + 2
    while i < len(path):
        c = path[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                j = i + 1
                while j < len(path) and path[j] == " ":
                    j += 1
                return j + 1 if j < len(path) and path[j] == "]" else -1
        i += 1
    return -1


def is_jsonpath(path: str) -> bool:
    """Whether `path` is a JSONPath Step Functions compiles: `$`, `$$` or `$var`, then steps."""
    root = _ROOT.match(path)
    if root is None:
        return False
    i = root.end()
    while i < len(path):
        if path.startswith("[?(", i):
            i = _filter_end(path, i)
            if i < 0:
                return False
            continue
        step = _DEEP_MEMBER.match(path, i) or _DOT_MEMBER.match(path, i) or _BRACKET.match(path, i)
        if step is None:
            return False
        i = step.end()
    return True


def is_reference_path(path: str) -> bool:
    """Whether `path` names one node: no wildcards, filters, slices or deep scans."""
    root = _ROOT.match(path)
    if root is None:
        return False
    i = root.end()
    while i < len(path):
        step = _REFERENCE_STEP.match(path, i)
        if step is None:
            return False
        i = step.end()
    return True


# Inside an intrinsic's string literal only these characters may follow a backslash.
_STRING_ESCAPES = frozenset("'{}\\")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_FUNCTION_NAME = re.compile(r"States\.[A-Za-z0-9]+")
_LITERALS = ("true", "false", "null")


class _Intrinsic:
    """A recursive-descent recogniser of `States.Name(arg, ...)`; ``ok`` tells the result."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def ok(self) -> bool:
        if not self._call():
            return False
        self._spaces()
        return self.i == len(self.text)

    def _spaces(self) -> None:
        while self.i < len(self.text) and self.text[self.i] == " ":
            self.i += 1

    def _call(self) -> bool:
        name = _FUNCTION_NAME.match(self.text, self.i)
        if name is None or name.group() not in INTRINSIC_FUNCTIONS:
            return False
        self.i = name.end()
        if not self.text.startswith("(", self.i):
            return False
        self.i += 1
        self._spaces()
        if self.text.startswith(")", self.i):
            self.i += 1
            return True
        while True:
            self._spaces()
            if not self._argument():
                return False
            self._spaces()
            if self.text.startswith(",", self.i):
                self.i += 1
            elif self.text.startswith(")", self.i):
                self.i += 1
                return True
            else:
                return False

    def _argument(self) -> bool:
        text, i = self.text, self.i
        if text.startswith("'", i):
            return self._string()
        if text.startswith("States.", i):
            return self._call()
        if text.startswith("$", i):
            end = i
            depth = 0
            # A path argument runs to the next top-level `,` or `)`.
            while end < len(text) and not (depth == 0 and text[end] in ",)"):
                depth += {"[": 1, "(": 1, "]": -1}.get(text[end], 0)
                depth -= 1 if text[end] == ")" else 0
                end += 1
            self.i = end
            return is_jsonpath(text[i:end].rstrip())
        for literal in _LITERALS:
            if text.startswith(literal, i):
                self.i = i + len(literal)
                return True
        number = _NUMBER.match(text, i)
        if number is None:
            return False
        self.i = number.end()
        return True

    def _string(self) -> bool:
        text = self.text
        i = self.i + 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                if i + 1 >= len(text) or text[i + 1] not in _STRING_ESCAPES:
                    return False
                i += 2
            elif c == "'":
                self.i = i + 1
                return True
            else:
                i += 1
        return False


def is_intrinsic_call(text: str) -> bool:
    """Whether `text` is a well-formed call of one of the 18 intrinsic functions."""
    return _Intrinsic(text.strip()).ok()


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def is_rfc3339(text: str) -> bool:
    """An RFC 3339 date-time with an uppercase `T` and a `Z` or numeric offset; real dates only."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60


def is_jsonata_expression(value: object) -> bool:
    """A JSONata expression string: `{% ... %}`."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")
