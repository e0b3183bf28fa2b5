"""A threshold for a target false-alarm rate, chosen on held-out *normal* recordings.

:func:`calibrate` takes the raw score streams of normal recordings (scored block by block as
detection scores them, :func:`libtrad.models.detection.block_frame_scores`), fixes the robust
normalisation (median, IQR/1.349 of all their frames) and searches the lowest threshold whose
*events* — the same median filter, minimum duration and merge gap as detection — stay at or under
``target`` per hour of that audio. The rate is of events, not frames: a threshold is judged by the
alarms it would have raised.

Too little audio cannot show a rate: with ``hours`` of normal data a rate of ``target`` per hour is
expected to give ``hours × target`` events, and below one expected event zero observed false alarms
says nothing (the calibration would pick the highest normal frame and call it done). So
:func:`calibrate` refuses (``ValueError``) when ``hours × target < 1`` — e.g. 1 false alarm per hour
needs at least one hour of held-out normal audio (LiB-TRAD's 1,041 normal-charging segments of 10 s
give 2.9 h).

The count of events is not strictly monotone in the threshold (raising it can split one event in
two), so the binary search over the candidate thresholds (the distinct median-filtered normalised
frame values) is followed by a walk upwards until the target holds; the rate measured at the chosen
threshold is returned with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from libtrad.models.events import EventParams, FrameScores, detect_events, median_filter

IQR_TO_SIGMA = 1.349  # the IQR of a normal distribution in standard deviations


@dataclass(frozen=True)
class Calibration:
    threshold: float
    loc: float
    scale: float
    hours: float
    false_alarms: int

    @property
    def false_alarms_per_hour(self) -> float:
        return self.false_alarms / self.hours


def robust_normalisation(values: np.ndarray) -> tuple[float, float]:
    """(median, IQR/1.349) of ``values``; a degenerate spread falls back to the standard deviation, then 1."""
    loc = float(np.median(values))
    q1, q3 = np.percentile(values, [25, 75])
    scale = float(q3 - q1) / IQR_TO_SIGMA
    if not scale > 0:
        scale = float(np.std(values)) or 1.0
    return loc, scale


def count_events(recordings: Sequence[FrameScores], params: EventParams) -> int:
    return sum(len(detect_events(r, params)) for r in recordings)


def calibrate(
    recordings: Sequence[FrameScores], hours: float, target: float, *, median_s=0.0, min_duration_s=0.0, merge_gap_s=0.0
) -> Calibration:
    """The lowest threshold giving at most ``target`` false alarms per hour on ``recordings`` (raw scores)."""
    if not (target > 0 and np.isfinite(target)):
        raise ValueError(f"false alarms per hour {target!r}: must be a positive number")
    if hours * target < 1:
        raise ValueError(
            f"{hours * 60:.1f} min of held-out normal audio cannot show {target:g} false alarm(s) per hour: "
            f"it needs at least {60 / target:.1f} min (one expected false alarm)"
        )
    recordings = [r for r in recordings if len(r)]
    if not recordings:
        raise ValueError("no scored frames in the held-out normal audio")
    loc, scale = robust_normalisation(np.concatenate([r.scores for r in recordings]))
    normal = [FrameScores((r.scores - loc) / scale, r.hop_s, r.start_s, r.channels) for r in recordings]
    filtered = np.concatenate([median_filter(r, median_s).scores for r in normal])
    candidates = np.unique(filtered)  # a threshold at a value leaves that value inactive (strictly above)

    def events(k: int) -> int:
        params = EventParams(float(candidates[k]), median_s, min_duration_s, merge_gap_s)
        return count_events(normal, params)

    allowed = int(np.floor(target * hours + 1e-9))
    lo, hi = 0, len(candidates) - 1  # at the highest candidate nothing is active: 0 events
    while lo < hi:
        mid = (lo + hi) // 2
        if events(mid) <= allowed:
            hi = mid
        else:
            lo = mid + 1
    found = events(lo)
    while found > allowed:  # not monotone: walk up until it holds (the top candidate always does)
        lo += 1
        found = events(lo)
    return Calibration(float(candidates[lo]), loc, scale, float(hours), int(found))


__all__ = ["Calibration", "calibrate", "count_events", "robust_normalisation"]
