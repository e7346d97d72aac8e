"""Checking and quoting the values clients send: the one home of the helpers every error message uses.

short_repr(10**400)                      # 'an integer of 1329 bits'
number(v, "strokes[0].mask.radius", 0, 1) # a finite float in 0..1, or ValueError naming the field and value
"""

from __future__ import annotations

import math
from typing import Any


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a huge int is described, not printed: its repr is slow)."""
    if isinstance(value, int) and value.bit_length() > 256:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(v: Any, where: str, lo: float, hi: float) -> float:
    """A finite int or float in lo..hi; ints are compared exactly, never converted (10**400 would overflow)."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    if ok and isinstance(v, float):
        ok = math.isfinite(v)
    if not ok or not lo <= v <= hi:
        raise ValueError(f"{where}: expected a number in {lo:g}..{hi:g}, got {short_repr(v)}")
    return float(v)


def integer(v: Any, where: str, lo: int, hi: int) -> int:
    """An int (not a bool) in lo..hi, or ValueError naming the field and value."""
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{where}: expected an integer in {lo}..{hi}, got {short_repr(v)}")
    return v
