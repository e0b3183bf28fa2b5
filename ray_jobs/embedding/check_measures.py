"""The measures ``libtrad check-encoder``'s checks (:mod:`.check_encoder`) share, and their result type.

The frame rule (``|T - duration_ms / hop_size_in_ms| <= FRAME_SLACK + FRAME_RELATIVE x`` that), the
match tolerance (``max |difference| <= MATCH_TOL x max(1, largest |value|)``, NaN on both sides
counting equal), counts of non-finite values, and the JSON form of the numbers
a result carries. Apart from the checks so that each check reads as what it promises to measure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from libtrad.ray_jobs.embedding.encoder_probe import Probe

FRAME_SLACK, FRAME_RELATIVE = 2.0, 0.05
MATCH_TOL = 1e-5


@dataclass
class CheckResult:
    """One check's outcome: ``message`` says what was measured (with numbers) when it failed."""

    name: str
    passed: bool
    message: str = ""
    numbers: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "message": self.message, "numbers": jsonable(self.numbers)}


def expected_frames(probe: Probe, samples: int) -> float:
    return samples / probe.rate * 1000.0 / probe.hop


def frame_tolerance(expected: float) -> float:
    return FRAME_SLACK + FRAME_RELATIVE * expected


def frame_result(name: str, probe: Probe, rows: list[tuple[str, int, float]], where: str) -> CheckResult:
    """Rows (label, frames, expected) -> the frame rule's result, listing each row that breaks it."""
    bad = [(label, got, exp) for label, got, exp in rows if abs(got - exp) > frame_tolerance(exp)]
    numbers = {
        "hop_size_in_ms": probe.hop,
        "cases": [{"case": label, "frames": got, "expected": exp} for label, got, exp in rows],
    }
    message = (
        f"frames disagree with hop_size_in_ms={probe.hop:g}{where} "
        f"(allowed ±({FRAME_SLACK:g} + {FRAME_RELATIVE:.0%})): "
        + ", ".join(f"{label}: {got} vs {exp:.1f}" for label, got, exp in bad)
    )
    return CheckResult(name, not bad, message if bad else "", numbers)


def shape_problems(probe: Probe, pooled: np.ndarray, frames: list[np.ndarray]) -> list[str]:
    problems = []
    if pooled.shape != (1, probe.dim):
        problems.append(f"clip embeddings of shape {pooled.shape}, not (1, {probe.dim})")
    if frames[0].shape[0] < 1 or frames[0].shape[1] != probe.dim:
        problems.append(f"frames of shape {frames[0].shape}, not (T >= 1, {probe.dim})")
    return problems


def non_finite(arrays: dict, suffix: str = "") -> list[str]:
    """``"3 of 384 (clip embeddings)"`` for each array (or list of arrays) holding NaN or infinity."""
    parts = []
    for label, value in arrays.items():
        values = value if isinstance(value, list) else [value]
        bad = sum(int(np.count_nonzero(~np.isfinite(np.asarray(v, dtype=np.float64)))) for v in values)
        total = sum(int(np.size(v)) for v in values)
        if bad:
            parts.append(f"{bad} of {total} ({label})")
    return [", ".join(parts) + suffix] if parts and suffix else parts


def mismatches(pairs: dict[str, list[tuple]]) -> tuple[list[str], dict]:
    """Per label, the largest |got - alone| over its pairs; ``"0.02 (frames)"`` for each too large."""
    parts, numbers = [], {}
    for label, items in pairs.items():
        worst, too_big, shapes = 0.0, False, None
        for got, want in items:
            got, want = np.asarray(got), np.asarray(want)
            if got.shape != want.shape:
                shapes = shapes or f"shape {got.shape} vs {want.shape} alone"
                worst, too_big = math.inf, True
                continue
            diff = max_diff(got, want)
            worst = max(worst, diff)
            too_big = too_big or diff > MATCH_TOL * max(1.0, largest(want))
        numbers[label] = worst
        if too_big:
            parts.append(f"{shapes} ({label})" if shapes else f"{short_number(worst)} ({label})")
    return parts, {"max_difference": numbers}


def max_diff(got, want) -> float:
    """Largest |got - want| (inf for other shapes or NaN on one side only; NaN on both counts equal)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    if got.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - want)
    diff[np.isnan(got) & np.isnan(want)] = 0.0
    return float(np.max(np.nan_to_num(diff, nan=np.inf)))


def largest(values: np.ndarray) -> float:
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size else 0.0


def short_number(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3g}"


def jsonable(value):
    """NumPy scalars/tuples -> JSON types; NaN and infinity as strings (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.loads(json.dumps(value, default=str))
