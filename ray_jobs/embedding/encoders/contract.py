"""The encoder contract's numbers: what every kind declares, the ranges libtrad accepts for them, and
what ``embeddings.json`` and the checker record.

Apart from :mod:`.base` (a ``torch.nn.Module``) so that parsing a spec or describing an encoder imports no
torch, and so that the base class and the package can both use it without importing each other.

The declared ranges (:data:`DECLARED`) are checked (:func:`declared_problem`) before any tensor is sized
by them: a ``sampling_rate`` of ``10**16`` would otherwise become libtrad's own 0.5-s probe clip of
5·10**15 samples, and an out-of-memory error that names nothing. The maxima are far beyond any
encoder in use and still allocatable: 384 kHz is the highest rate audio interfaces record at,
2**16 values per frame is 64 times the widest audio encoder libtrad knows (1024), and a hop of a minute
(60,000 ms) is longer than any clip a SIREN or DCASE row holds. ``context_in_ms`` is allowed to be 0
(a frame that reads only its own hop) and at most 60,000 ms too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from libtrad.core.errors import shortened

MAX_SAMPLING_RATE = 384_000
MAX_OUTPUT_DIM = 2**16
MAX_HOP_MS = 60_000.0


@dataclass(frozen=True)
class Declared:
    """One declared number's range: ``low`` (inclusive, or exclusive when ``low_open``) to ``high``."""

    integer: bool
    high: float
    low: float = 0.0
    low_open: bool = True

    def text(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        low = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
        return f"{kind} {low} and <= {self.high:g}"


DECLARED = {
    "sampling_rate": Declared(integer=True, high=MAX_SAMPLING_RATE),
    "output_dim": Declared(integer=True, high=MAX_OUTPUT_DIM),
    "hop_size_in_ms": Declared(integer=False, high=MAX_HOP_MS),
    "context_in_ms": Declared(integer=False, high=MAX_HOP_MS, low_open=False),
}
# HEAR's names for the same facts (https://hearbenchmark.com/hear-api.html)
DECLARED["sample_rate"] = DECLARED["sampling_rate"]
DECLARED["scene_embedding_size"] = DECLARED["timestamp_embedding_size"] = DECLARED["output_dim"]


def declared_problem(name: str, value) -> str | None:
    """None when ``value`` is within ``name``'s declared range, else ``"<name> is <value>, not <range>"``."""
    rule = DECLARED[name]
    number = _number(value)
    if (
        number is None
        or not math.isfinite(number)
        or number < rule.low
        or (rule.low_open and number <= rule.low)
        or number > rule.high
        or (rule.integer and number != int(number))
    ):
        return f"{name} is {shortened(repr(value), 40)}, not {rule.text()}"
    return None


def declared_value(name: str, value):
    """The checked value as libtrad uses it (int for the integer facts); call :func:`declared_problem` first."""
    return int(_number(value)) if DECLARED[name].integer else float(_number(value))


def _number(value) -> float | None:
    if isinstance(value, (bool, str, bytes)):  # a number declared as text is not a number
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def describe(encoder) -> dict:
    """The contract's numbers, for embeddings.json and the checker."""
    return {
        "sampling_rate": int(encoder.sampling_rate),
        "output_dim": int(encoder.output_dim),
        "hop_size_in_ms": float(encoder.hop_size_in_ms),
    }
