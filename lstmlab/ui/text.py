"""Numbers formatted for people (no streamlit)."""

from __future__ import annotations

import math


def power_value(x: float) -> str:
    """w^T as a person reads it: 2.66e-05, 0.59, 13780.6, 1.18e+176; 0 and inf named."""
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0 (underflow)"
    if math.isinf(x):
        return "∞ (overflow)"
    if x >= 1e9 or x < 1e-3:
        return f"{x:.3g}"
    if x >= 100:
        return f"{x:.1f}"
    return f"{x:.4g}"


def half_life(w: float) -> str:
    """Steps for the error factor w^k to halve (w < 1) or double (w > 1)."""
    if w == 1:
        return "w = 1: the error keeps its size at every step"
    if w <= 0:
        return ""
    k = math.log(2) / abs(math.log(w))
    return f"the error {'halves' if w < 1 else 'doubles'} every {k:.3g} steps"
