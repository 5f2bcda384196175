"""One canonical form for numbers, so that 5, 5.0 and 5e0 are the same number.

EventBridge's documentation says numbers compare by their text, but the real service matched an
event's ``300.0`` against a pattern's ``300``, and event-ruler now compares numbers as IEEE-754
doubles over their whole finite range. We do the same: every JSON number, in a pattern or an event,
is keyed by its ``float`` value. Integers too large for a double keep their ``int`` form, so they
still equal themselves but never take part in numeric comparisons. NaN and the infinities are
refused in patterns: no JSON text can spell them, and a comparison with them means nothing.
"""

from __future__ import annotations

import math

__all__ = ["is_json_number", "number_key", "pattern_number"]


def is_json_number(value: object) -> bool:
    """True for ``int`` and ``float`` but not ``bool``, which Python counts as an ``int``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number_key(value: int | float) -> float | int:
    """The comparable form of an event's number: its float64 value, or the int itself."""
    try:
        return float(value)
    except OverflowError:
        return value


def pattern_number(value: int | float) -> float | None:
    """A pattern's number as float64, or None when it is not finite (and so not usable)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
