"""Checks for numeric options, shared by the library functions and the CLI.

Every numeric option is refused by name when it is NaN, infinite or out of range, so a bad value
never reaches a manifest, a card or a long computation.
"""

from __future__ import annotations

import math

from libtrad.core.errors import ParameterError

SEED_MAX = 2**32 - 1


def check_number(
    param: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
):
    """Return ``value`` if it is a finite number (an integer if asked) within the bounds, else refuse it.

    ``param`` is the Python parameter's name (a flag such as ``--lr`` is accepted too); the
    :class:`ParameterError` names it, and the CLI maps it back to the flag.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ParameterError(param, value, f"must be {'an integer' if integer else 'a number'}")
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    bounds = f"{left}{'-inf' if low is None else _show(low)}, {'inf' if high is None else _show(high)}{right}"
    if not math.isfinite(value):  # the accepted values too, so one line says what to type instead
        within = f" within {bounds}" if low is not None or high is not None else ""
        raise ParameterError(param, value, f"must be a finite number{within}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ParameterError(param, value, f"must be within {bounds}")
    return value


def check_seed(value, param: str = "seed") -> int:
    return check_number(param, value, low=0, high=SEED_MAX, integer=True)


def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


class OptionSpec:
    """One option of a dataset's ``build``/``synth`` command, declared once for the library and the CLI.

    The library validates values with :meth:`check` (a :class:`ParameterError` naming ``name``);
    the CLI turns the spec into a click option (``flag``, default, help, choices).
    """

    def __init__(
        self,
        name: str,
        default,
        help: str,
        *,
        kind: type = float,
        choices: tuple = (),
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
        flag: str | None = None,
    ):
        self.name, self.default, self.help, self.kind, self.choices = name, default, help, kind, tuple(choices)
        self.bounds = {"low": low, "high": high, "low_open": low_open, "high_open": high_open}
        self.flag = flag or "--" + name.replace("_", "-")

    def check(self, value):
        if self.choices:
            if value not in self.choices:
                raise ParameterError(self.name, value, f"must be one of {', '.join(map(str, self.choices))}")
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ParameterError(self.name, value, "must be true or false")
            return value
        if self.kind in (int, float):
            if value is None and self.default is None:  # an optional number: None means "not given"
                return None
            return check_number(self.name, value, integer=self.kind is int, **self.bounds)
        if value is not None and not isinstance(value, (str, self.kind)):
            raise ParameterError(self.name, value, f"must be a {self.kind.__name__}")
        return value


def resolve_options(specs, values: dict) -> dict:
    """Every spec's value (its default when not given), each checked; unknown names are refused."""
    known = {spec.name: spec for spec in specs}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ParameterError(
            unknown[0], values[unknown[0]], f"is not an option here (options: {', '.join(known) or 'none'})"
        )
    return {name: spec.check(values.get(name, spec.default)) for name, spec in known.items()}
