"""A parsed pattern: frozen, hashable values, one class per operator.

Hashable so that identical conditions written by different rules become one transition in the
matcher's automaton. A pattern is a tuple of ``Branch``es (one per ``$or`` combination); a
branch is the fields that must all hold: ``positive`` fields need a matching leaf value, and
``absent`` paths (``exists: false``) need none. Paths are the dot-joined field names, because
EventBridge treats ``{"a": {"b": ...}}`` and ``{"a.b": ...}`` as the same field.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventbus.patterns.cidr import IpNetwork
from eventbus.patterns.values import Key

__all__ = [
    "AnythingBut",
    "AnythingButIgnoreCase",
    "AnythingButPrefix",
    "AnythingButSuffix",
    "AnythingButWildcard",
    "Branch",
    "Cidr",
    "Condition",
    "EqualsIgnoreCase",
    "Exact",
    "Exists",
    "Field",
    "Numeric",
    "Prefix",
    "Suffix",
    "Wildcard",
]


@dataclass(frozen=True, slots=True)
class Exact:
    """A literal: string, number (as float64), ``true``, ``false`` or ``null``."""

    key: Key


@dataclass(frozen=True, slots=True)
class Prefix:
    text: str  # lower-cased when ignore_case
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class Suffix:
    text: str  # lower-cased when ignore_case
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase:
    text: str  # lower-cased


@dataclass(frozen=True, slots=True)
class AnythingBut:
    """Any value except these strings, or except these numbers (never a mix)."""

    keys: frozenset[Key]


@dataclass(frozen=True, slots=True)
class AnythingButPrefix:
    texts: frozenset[str]


@dataclass(frozen=True, slots=True)
class AnythingButSuffix:
    texts: frozenset[str]


@dataclass(frozen=True, slots=True)
class AnythingButIgnoreCase:
    texts: frozenset[str]  # lower-cased


@dataclass(frozen=True, slots=True)
class AnythingButWildcard:
    patterns: frozenset[tuple[str, ...]]  # each a parsed wildcard's segments


@dataclass(frozen=True, slots=True)
class Numeric:
    """``low < x < high`` with each side open or closed; a missing side is infinite."""

    low: float = float("-inf")
    low_closed: bool = False
    high: float = float("inf")
    high_closed: bool = False


@dataclass(frozen=True, slots=True)
class Exists:
    present: bool


@dataclass(frozen=True, slots=True)
class Cidr:
    network: IpNetwork


@dataclass(frozen=True, slots=True)
class Wildcard:
    segments: tuple[str, ...]  # see wildcard.parse_wildcard


Condition = (
    Exact
    | Prefix
    | Suffix
    | EqualsIgnoreCase
    | AnythingBut
    | AnythingButPrefix
    | AnythingButSuffix
    | AnythingButIgnoreCase
    | AnythingButWildcard
    | Numeric
    | Exists
    | Cidr
    | Wildcard
)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a branch: its path and the conditions of which any one must hold."""

    path: str
    conditions: frozenset[Condition]


@dataclass(frozen=True, slots=True)
class Branch:
    positive: tuple[Field, ...]  # sorted by path
    absent: tuple[str, ...]  # sorted paths that must have no value
