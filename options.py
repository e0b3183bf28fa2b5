"""Checks for numeric options, shared by the library functions and the CLI.

Every numeric option is refused by name when it is NaN, infinite or out of range, so a bad value
never reaches a manifest, a card or a long computation.
"""

from __future__ import annotations

import math

from libtrad.errors import ParameterError

SEED_MAX = 2**32 - 1


def check_number(param: str, value, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, integer: bool = False):
    """Return ``value`` if it is a finite number (an integer if asked) within the bounds, else refuse it.

    ``param`` is the Python parameter's name (a flag such as ``--lr`` is accepted too); the
    :class:`ParameterError` names it, and the CLI maps it back to the flag.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ParameterError(param, value, f"must be {'an integer' if integer else 'a number'}")
    if not math.isfinite(value):
        raise ParameterError(param, value, "must be a finite number")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        bounds = f"{left}{'-inf' if low is None else _show(low)}, {'inf' if high is None else _show(high)}{right}"
        raise ParameterError(param, value, f"must be within {bounds}")
    return value


def check_seed(value, param: str = "seed") -> int:
    return check_number(param, value, low=0, high=SEED_MAX, integer=True)


def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"
