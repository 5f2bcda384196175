"""Numeric ranges indexed so that finding those holding a number costs ~ the ones found.

Three shapes, three structures:
- ``> x`` / ``>= x`` only: sorted by bound; every range before ``bisect(x)`` holds.
- ``< x`` / ``<= x`` only: the mirror image.
- two-sided ranges: the number line is cut at every bound into elementary slots (each bound
  is a slot of its own, each gap between two bounds another), and each slot lists the ranges
  covering it; one bisect finds the slot. A slot list is built once, when the index freezes.
  Wide, overlapping ranges would make the slot lists grow as ranges x bounds, so past a budget
  the remaining ranges are kept in a list and tested one by one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from eventbus.patterns.nodes import Numeric

__all__ = ["RangeIndex"]

T = TypeVar("T")

# Slot entries allowed per two-sided range before ranges fall back to a linear list.
_SLOT_BUDGET_PER_RANGE = 64


class RangeIndex(Generic[T]):
    """``Numeric`` conditions -> values (the matcher's next states); ``find(x)`` -> holders."""

    def __init__(self) -> None:
        self._pending: list[tuple[Numeric, T]] = []
        self._frozen = False
        self._lower_bounds: list[float] = []
        self._lower: list[tuple[bool, T]] = []
        self._lower_values: list[T] = []  # the values of _lower, to copy a run of them at once
        self._upper_bounds: list[float] = []
        self._upper: list[tuple[bool, T]] = []
        self._upper_values: list[T] = []
        self._cuts: list[float] = []
        self._slots: list[list[T]] = []
        self._linear: list[tuple[Numeric, T]] = []

    def add(self, condition: Numeric, value: T) -> None:
        self._pending.append((condition, value))
        self._frozen = False

    def find(self, x: float) -> list[T]:
        if not self._frozen:
            self._freeze()
        out: list[T] = []
        if self._lower_bounds:
            self._find_lower(x, out)
        if self._upper_bounds:
            self._find_upper(x, out)
        if self._slots:
            out.extend(self._slots[self._slot(x)])
        for c, v in self._linear:
            if _holds(c, x):
                out.append(v)
        return out

    def probe(self) -> Callable[[object], Sequence[T] | None]:
        """``find`` for any key, None for a key that is not a float (not a JSON number, see
        ``values``), valid until the next ``add``. An index of one shape gets a function doing
        that shape's search in one call, answering a list it must not change: the matcher calls
        it once per number in the event, and most tables hold one shape of range.
        """
        if not self._frozen:
            self._freeze()
        find = self.find
        shapes = [self._lower_bounds, self._upper_bounds, self._slots, self._linear]
        if sum(1 for shape in shapes if shape) != 1 or self._linear:
            return lambda x: find(x) if type(x) is float else None
        if self._slots:
            cuts, slots, count = self._cuts, self._slots, len(self._cuts)

            def in_slot(x: object) -> Sequence[T] | None:
                if type(x) is not float:
                    return None
                i = bisect_left(cuts, x)
                return slots[2 * i + 1 if i < count and cuts[i] == x else 2 * i]

            return in_slot
        if self._lower_bounds:
            # x > b holds for the open bounds left of x, x >= b for the closed ones up to x.
            opened, closed = _split(self._lower_bounds, self._lower)

            def over(x: object) -> Sequence[T] | None:
                if type(x) is not float or x != x:  # NaN (from a dict event) is in no range
                    return None
                return (
                    opened[1][: bisect_left(opened[0], x)] + closed[1][: bisect_right(closed[0], x)]
                )

            return over
        opened, closed = _split(self._upper_bounds, self._upper)

        def under(x: object) -> Sequence[T] | None:
            if type(x) is not float or x != x:
                return None
            return opened[1][bisect_right(opened[0], x) :] + closed[1][bisect_left(closed[0], x) :]

        return under

    def _find_lower(self, x: float, out: list[T]) -> None:
        bounds, lower = self._lower_bounds, self._lower
        i = bisect_left(bounds, x)
        out.extend(self._lower_values[:i])
        while i < len(bounds) and bounds[i] == x:
            if lower[i][0]:
                out.append(lower[i][1])
            i += 1

    def _find_upper(self, x: float, out: list[T]) -> None:
        bounds, upper = self._upper_bounds, self._upper
        j = bisect_right(bounds, x)
        out.extend(self._upper_values[j:])
        while j > 0 and bounds[j - 1] == x:
            j -= 1
            if upper[j][0]:
                out.append(upper[j][1])

    def _slot(self, x: float) -> int:
        i = bisect_left(self._cuts, x)
        return 2 * i + 1 if i < len(self._cuts) and self._cuts[i] == x else 2 * i

    def _freeze(self) -> None:
        inf = float("inf")
        lower = sorted(((c, v) for c, v in self._pending if c.high == inf), key=_low)
        upper = sorted(
            ((c, v) for c, v in self._pending if c.low == -inf and c.high != inf), key=_high
        )
        both = [(c, v) for c, v in self._pending if c.low != -inf and c.high != inf]
        self._lower_bounds = [c.low for c, _ in lower]
        self._lower = [(c.low_closed, v) for c, v in lower]
        self._lower_values = [v for _, v in lower]
        self._upper_bounds = [c.high for c, _ in upper]
        self._upper = [(c.high_closed, v) for c, v in upper]
        self._upper_values = [v for _, v in upper]
        self._build_slots(both)
        self._frozen = True

    def _build_slots(self, ranges: list[tuple[Numeric, T]]) -> None:
        self._cuts = sorted({c.low for c, _ in ranges} | {c.high for c, _ in ranges})
        self._slots = [[] for _ in range(2 * len(self._cuts) + 1)] if ranges else []
        self._linear = []
        budget = _SLOT_BUDGET_PER_RANGE * len(ranges)
        for c, v in ranges:
            first = self._slot(c.low) + (0 if c.low_closed else 1)
            last = self._slot(c.high) - (0 if c.high_closed else 1)
            budget -= last - first + 1
            if budget < 0:
                self._linear.append((c, v))
                continue
            for slot in range(first, last + 1):
                self._slots[slot].append(v)


def _split(
    bounds: list[float], entries: list[tuple[bool, T]]
) -> tuple[tuple[list[float], list[T]], tuple[list[float], list[T]]]:
    """Sorted one-sided ranges -> (bounds, values) of the open ones, then of the closed ones."""
    sides: tuple[tuple[list[float], list[T]], ...] = (([], []), ([], []))
    for bound, (is_closed, value) in zip(bounds, entries, strict=True):
        side = sides[is_closed]
        side[0].append(bound)
        side[1].append(value)
    return sides[0], sides[1]


def _low(entry: tuple[Numeric, object]) -> float:
    return entry[0].low


def _high(entry: tuple[Numeric, object]) -> float:
    return entry[0].high


def _holds(c: Numeric, x: float) -> bool:
    above = x > c.low or (c.low_closed and x == c.low)
    return above and (x < c.high or (c.high_closed and x == c.high))
