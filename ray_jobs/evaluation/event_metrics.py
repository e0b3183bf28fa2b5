"""Event-detection metrics of one event class over many recordings: sed_eval's definitions, plus the alarm view.

Events are ``(onset_s, offset_s)`` pairs per recording, or :class:`~libtrad.models.events.Event` for the
detected ones (which also carry ``alarm_s``). Counts are summed over recordings before any ratio
(sed_eval's *overall*, micro-averaged scores).

* **Event-based F1** (:func:`event_counts` + :func:`f1`), sed_eval's ``EventBasedMetrics`` with
  ``event_matching_type="optimal"``: a detected event matches a reference event when its onset is
  within ``onset_collar_s`` of the reference onset and its offset within
  ``max(offset_collar_s, offset_fraction · reference length)`` of the reference offset
  (``evaluate_offset=False``: ``offset_collar_s=None``); each event matches at most one (a maximum
  bipartite matching per recording). libtrad reports two: onset and offset at 200 ms / offset 20 %
  of the length (sed_eval's default, DCASE's), and a 50 ms onset collar with the same offset collar.
* **Segment-based F1** (:func:`segment_counts`), sed_eval's ``SegmentBasedMetrics``: time in
  segments of ``segment_s`` (libtrad: 1 s, DCASE task 4's resolution — the LiB-TRAD venting lasts
  seconds, and a 10-s segment then holds ten decisions); a segment is active when an event
  overlaps it (``floor(onset/segment)`` to ``ceil(offset/segment)``; time before 0 counts in the first), over
  ``ceil(max offset / segment)`` segments of each recording.
* **Detection latency** (:func:`latencies`): for each reference event, the first alarm
  (``Event.alarm_s``) of a detected event overlapping the event or its collars that sounds no later
  than the offset plus its collar; latency = alarm − annotated onset, at least 0 (an alarm inside the
  onset collar but before the annotated onset counts 0). Events without such an alarm are misses,
  counted apart; :func:`latency_summary` gives the median and the 90th percentile.
* **False alarms per hour** (:func:`false_alarms_per_hour`): detected events on recordings known to hold
  no event (LiB-TRAD's normal-charging sets, the normal test segments), per hour of that audio.

Where sed_eval gives NaN (no reference or no detected events at all) :func:`f1` gives 0.0 when the
other count is not 0 (nothing right was found) and None when both are 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EventPair = tuple[float, float]
ONSET_COLLAR_S = 0.2
ONSET_COLLAR_FINE_S = 0.05
OFFSET_COLLAR_S = 0.2
OFFSET_FRACTION = 0.2
SEGMENT_S = 1.0


@dataclass(frozen=True)
class Counts:
    """Summed over recordings: reference events (or segments), detected ones, and the matched."""

    reference: int = 0
    detected: int = 0
    matched: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.reference + other.reference, self.detected + other.detected, self.matched + other.matched)


def f1(counts: Counts) -> float | None:
    """2·matched / (reference + detected): sed_eval's F from its precision and recall (module docstring)."""
    if counts.reference == 0 and counts.detected == 0:
        return None
    return 2.0 * counts.matched / (counts.reference + counts.detected)


def _pairs(events) -> list[EventPair]:
    return [(float(e[0]), float(e[1])) if isinstance(e, (tuple, list)) else (e.start_s, e.end_s) for e in events]


def _matches(ref: EventPair, det: EventPair, onset_collar_s: float, offset_collar_s, offset_fraction: float) -> bool:
    if abs(ref[0] - det[0]) > onset_collar_s:
        return False
    if offset_collar_s is None:
        return True
    return abs(ref[1] - det[1]) <= max(offset_collar_s, offset_fraction * (ref[1] - ref[0]))


def _max_matching(candidates: list[list[int]], detected: int) -> int:
    """Size of a maximum bipartite matching (Kuhn's augmenting paths; recordings hold few events)."""
    owner = [-1] * detected

    def augment(i: int, seen: list[bool]) -> bool:
        for j in candidates[i]:
            if not seen[j]:
                seen[j] = True
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, [False] * detected) for i in range(len(candidates)))


def event_counts(
    reference: Sequence,
    detected: Sequence,
    *,
    onset_collar_s: float = ONSET_COLLAR_S,
    offset_collar_s: float | None = OFFSET_COLLAR_S,
    offset_fraction: float = OFFSET_FRACTION,
) -> Counts:
    """One recording's event-based counts (module docstring); add recordings' :class:`Counts` up."""
    ref, det = _pairs(reference), _pairs(detected)
    candidates = [
        [j for j, d in enumerate(det) if _matches(r, d, onset_collar_s, offset_collar_s, offset_fraction)] for r in ref
    ]
    return Counts(len(ref), len(det), _max_matching(candidates, len(det)))


def _roll(events: list[EventPair], segments: int, segment_s: float) -> np.ndarray:
    roll = np.zeros(segments, dtype=bool)
    for onset, offset in events:
        roll[max(0, int(math.floor(onset / segment_s))) : int(math.ceil(offset / segment_s))] = True
    return roll


def segment_counts(reference: Sequence, detected: Sequence, *, segment_s: float = SEGMENT_S) -> Counts:
    """One recording's segment-based counts: active reference / detected segments and those active in both."""
    ref, det = _pairs(reference), _pairs(detected)
    length = max([o for _, o in ref + det], default=0.0)
    segments = int(math.ceil(length / segment_s))
    r, d = _roll(ref, segments, segment_s), _roll(det, segments, segment_s)
    return Counts(int(r.sum()), int(d.sum()), int((r & d).sum()))


def latencies(
    reference: Sequence,
    detected: Sequence,
    *,
    onset_collar_s: float = ONSET_COLLAR_S,
    offset_collar_s: float = OFFSET_COLLAR_S,
    offset_fraction: float = OFFSET_FRACTION,
) -> list[float | None]:
    """Per reference event of one recording: seconds from its onset to the first alarm, None for a miss.

    ``detected`` are :class:`~libtrad.models.events.Event` (their ``alarm_s``)."""
    out: list[float | None] = []
    for onset, offset in _pairs(reference):
        early = onset - onset_collar_s
        late = offset + max(offset_collar_s, offset_fraction * (offset - onset))
        alarms = [e.alarm_s for e in detected if e.start_s < late and e.end_s > early and e.alarm_s <= late]
        out.append(max(0.0, min(alarms) - onset) if alarms else None)
    return out


def latency_summary(values: Sequence[float | None]) -> dict:
    """``{"median_s", "p90_s", "detected", "missed"}`` over reference events (None = missed)."""
    found = np.array([v for v in values if v is not None], dtype=np.float64)
    return {
        "median_s": float(np.median(found)) if len(found) else None,
        "p90_s": float(np.percentile(found, 90)) if len(found) else None,
        "detected": int(len(found)),
        "missed": int(len(values) - len(found)),
    }


def false_alarms_per_hour(false_alarms: int, seconds: float) -> float | None:
    """Detected events on event-free audio per hour of it (None without such audio)."""
    return None if seconds <= 0 else float(false_alarms) * 3600.0 / float(seconds)


__all__ = [
    "Counts",
    "ONSET_COLLAR_FINE_S",
    "ONSET_COLLAR_S",
    "OFFSET_COLLAR_S",
    "OFFSET_FRACTION",
    "SEGMENT_S",
    "event_counts",
    "f1",
    "false_alarms_per_hour",
    "latencies",
    "latency_summary",
    "segment_counts",
]
