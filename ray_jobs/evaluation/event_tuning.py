"""Frame scores of annotated recordings → post-processing chosen on validation data → event metrics.

One function, :func:`evaluate_recordings`, shared by every event evaluation (the ``lib-trad-events``
suite over embeddings with frames, and over trained LiB-TRAD model folders): it takes
:class:`Recording` s — one recording's :class:`~libtrad.models.events.FrameScores`, its annotated
events (none for normal audio) and the *group* it belongs to (a LiB-TRAD segment: its four microphones
are one group) — and returns the metrics of :mod:`libtrad.ray_jobs.evaluation.event_metrics`.

**Parameters on validation data only (cross-fitting).** LiB-TRAD's anomaly protocol has no
validation split (``train`` is normal audio only, and events are needed to tune on), so the
recordings are split into :data:`FOLDS` folds by group (deterministic: groups sorted, those with
events and those without dealt out in turn, so each fold holds abnormal segments). Each fold's
detections use the :class:`~libtrad.models.events.EventParams` chosen on the *other* folds; no
recording is ever scored with parameters tuned on itself. The search (:func:`choose_params`) runs
over :data:`GRID` (median windows and merge gaps up to the venting's second-long fluctuations) and
maximises the event-based F1 (200 ms collars); among equal F1s it takes the fewest detected events
(the fewest false alarms), then the lighter post-processing and the highest threshold (the widest
margin over the normal frames seen). Thresholds are quantiles of the validation folds' frame
scores — of all frames (``quantiles``) and of the frames outside the annotated events
(``normal_quantiles``, up to their maximum: a decaying venting tail is only caught just above the
normal frames) — so the grid follows any score scale. Extra event-free recordings (LiB-TRAD's
normal-charging sets) are never tuned on: they are scored with the parameters chosen on all the
annotated recordings, for ``charging_false_alarms_per_hour``. Every parameter set used is recorded
in the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from libtrad.models.events import Event, EventParams, FrameScores, detect_events, median_filter
from libtrad.ray_jobs.evaluation import event_metrics as M

FOLDS = 2
GRID = {
    "quantiles": (0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99),  # of all frame scores
    "normal_quantiles": (0.5, 0.9, 0.99, 0.999, 1.0),  # of the frames outside annotated events
    "median_s": (0.0, 0.25, 1.0),
    "min_duration_s": (0.0, 0.25, 1.0),
    "merge_gap_s": (0.0, 0.5, 2.0),
}


@dataclass(frozen=True)
class Recording:
    """One recording's frame scores, its annotated events (``()``: normal audio) and its fold group."""

    key: str
    group: str
    scores: FrameScores
    events: tuple[tuple[float, float], ...] = ()

    @property
    def seconds(self) -> float:
        return len(self.scores) * self.scores.hop_s


def annotated_events(label: int, onset, offset) -> tuple[tuple[float, float], ...] | None:
    """A LiB-TRAD row's events: one ``(onset, offset)`` for an annotated abnormal row, ``()`` for a normal row,
    None for an abnormal row without annotation (it cannot be scored as events: the caller counts it apart)."""
    if int(label) == 0:
        return ()
    if onset is None or offset is None or not (np.isfinite(onset) and np.isfinite(offset)):
        return None
    return ((float(onset), float(offset)),)


def folds(recordings: Sequence[Recording], n: int = FOLDS) -> list[int]:
    """Each recording's fold: groups sorted, those with events and those without dealt out in turn."""
    with_events = sorted({r.group for r in recordings if r.events})
    without = sorted({r.group for r in recordings} - set(with_events))
    fold_of = {g: i % n for i, g in enumerate(with_events)}
    fold_of.update({g: i % n for i, g in enumerate(without)})
    return [fold_of[r.group] for r in recordings]


def _objective(recordings: Sequence[Recording], detected: Sequence[list[Event]]) -> tuple[float, int]:
    """Event-based F1 (200 ms), then fewer detected events (fewer false alarms) among equal F1s."""
    counts = sum((M.event_counts(r.events, d) for r, d in zip(recordings, detected)), M.Counts())
    return M.f1(counts) or 0.0, -counts.detected


def _outside_events(recording: Recording) -> np.ndarray:
    """The scores of the frames whose centre lies outside every annotated event of the recording."""
    centres = recording.scores.times() + recording.scores.hop_s / 2
    inside = np.zeros(len(centres), dtype=bool)
    for onset, offset in recording.events:
        inside |= (centres >= onset) & (centres < offset)
    return recording.scores.scores[~inside]


def choose_params(recordings: Sequence[Recording]) -> tuple[EventParams, float]:
    """The grid point with the best event-based F1 on ``recordings`` (module docstring) and that F1."""
    values = np.concatenate([r.scores.scores for r in recordings])
    normal = np.concatenate([_outside_events(r) for r in recordings])
    thresholds = set(np.quantile(values, GRID["quantiles"]).tolist())
    if len(normal):
        thresholds |= set(np.quantile(normal, GRID["normal_quantiles"]).tolist())
    thresholds = sorted(thresholds, reverse=True)  # among equals, the highest: the widest margin over normal
    best, best_key = None, (-1.0, 0)
    for median in GRID["median_s"]:
        filtered = [median_filter(r.scores, median) for r in recordings]  # once per window, not per grid point
        for min_duration in GRID["min_duration_s"]:
            for gap in GRID["merge_gap_s"]:
                for threshold in thresholds:
                    # the edges of the events (all the F1 reads) are those of the full post-processing
                    unfiltered = EventParams(threshold, 0.0, min_duration, gap)
                    key = _objective(recordings, [detect_events(f, unfiltered) for f in filtered])
                    if key > best_key:
                        best, best_key = EventParams(threshold, median, min_duration, gap), key
    return best, best_key[0]


def _metrics(recordings: Sequence[Recording], detected: Sequence[list[Event]]) -> dict:
    total = {"event": M.Counts(), "event_50ms": M.Counts(), "segment": M.Counts()}
    delays: list[float | None] = []
    normal_alarms, normal_seconds = 0, 0.0
    for recording, events in zip(recordings, detected):
        total["event"] += M.event_counts(recording.events, events)
        total["event_50ms"] += M.event_counts(recording.events, events, onset_collar_s=M.ONSET_COLLAR_FINE_S)
        total["segment"] += M.segment_counts(recording.events, events)
        delays += M.latencies(recording.events, events)
        if not recording.events:
            normal_alarms += len(events)
            normal_seconds += recording.seconds
    return {
        "event_f1": M.f1(total["event"]),
        "event_f1_50ms": M.f1(total["event_50ms"]),
        "segment_f1": M.f1(total["segment"]),
        "latency": M.latency_summary(delays),
        "false_alarms_per_hour": M.false_alarms_per_hour(normal_alarms, normal_seconds),
        "counts": {
            "recordings": len(recordings),
            "events": int(sum(len(r.events) for r in recordings)),
            "detected": int(sum(len(d) for d in detected)),
            "normal_hours": normal_seconds / 3600.0,
        },
    }


def evaluate_recordings(recordings: Sequence[Recording], charging: Sequence[Recording] = ()) -> dict:
    """Cross-fitted post-processing and the event metrics (module docstring); ``detected`` per recording key."""
    if not any(r.events for r in recordings):
        raise ValueError("no annotated event among the recordings: nothing to tune or measure on")
    fold = folds(recordings)
    detected: list[list[Event]] = [[] for _ in recordings]
    fold_params = []
    for k in range(FOLDS):
        tune = [r for r, f in zip(recordings, fold) if f != k]
        if not any(r.events for r in tune):
            raise ValueError(f"fold {k}: the other folds hold no annotated event to tune on (too few segments)")
        params, tuned_f1 = choose_params(tune)
        fold_params.append({**params.to_dict(), "validation_event_f1": tuned_f1})
        for i, (r, f) in enumerate(zip(recordings, fold)):
            if f == k:
                detected[i] = detect_events(r.scores, params)
    out = _metrics(recordings, detected)
    out["params"] = {"folds": fold_params}
    out["charging_false_alarms_per_hour"] = None
    if charging:
        params, tuned_f1 = choose_params(recordings)
        alarms = sum(len(detect_events(r.scores, params)) for r in charging)
        seconds = sum(r.seconds for r in charging)
        out["charging_false_alarms_per_hour"] = M.false_alarms_per_hour(alarms, seconds)
        out["params"]["charging"] = {**params.to_dict(), "validation_event_f1": tuned_f1}
        out["counts"]["charging_hours"] = seconds / 3600.0
    out["detected"] = {r.key: [e.to_dict() for e in d] for r, d in zip(recordings, detected)}
    return out


__all__ = ["FOLDS", "GRID", "Recording", "annotated_events", "choose_params", "evaluate_recordings", "folds"]
