"""Anomaly scores over time and the one post-processing that turns them into events (alarms).

Every frame-level scorer of libtrad (the attention auto-encoder's per-frame Mahalanobis distance or
reconstruction error, a KNN/Mahalanobis scorer on an encoder's B×T×D frames) hands its output over
as one form, :class:`FrameScores`: ``scores`` (one float per frame, higher = more anomalous), the
``hop_s`` between frames, the ``start_s`` of frame 0 and the ``channels`` they come from. Frame
``t`` stands for the interval ``[start_s + t·hop_s, start_s + (t+1)·hop_s)``: a producer whose
frames are *centred* on ``t·hop`` (librosa's ``center=True``, the auto-encoder's log-mel) passes
``start_s = clip_start - hop/2``, so every interval is centred on its frame.

:func:`detect_events` applies :class:`EventParams` — four steps, in this order:

1. ``median_s``: a running median over ``median_frames(hop)`` frames — the odd count nearest
   ``median_s / hop`` (ties up; at least 1) — centred on each frame (truncated at the recording's two
   ends; 0 = off). It removes isolated spikes and fills isolated dips without moving the edges of a
   long event.
2. ``threshold``: a frame whose filtered score is strictly above it is active; each run of active
   frames is a candidate event.
3. ``merge_gap_s``: candidates separated by at most this many seconds of inactive frames become one
   event (0: only touching runs, i.e. never split one).
4. ``min_duration_s``: events shorter than this (after merging) are dropped.

Each :class:`Event` carries ``start_s``/``end_s`` (frame interval edges), ``peak_score`` (the highest
*unfiltered* score between its edges), ``channels`` and ``alarm_s``: the earliest time a detector
fed in real time knows the event — at the end of its first active frame at which it has lasted
``min_duration_s`` (at least one frame), plus the ``median_frames // 2`` frames the median filter
must see after that frame. Detection
latency is measured from it.

Streaming: :class:`EventDetector` holds the state the four steps need across chunks (the last
``median_frames - 1`` raw scores, the open event and the inactive frames after it) and gives the
same events, chunk by chunk, as :func:`detect_events` on the whole recording, whatever the chunk
sizes: ``push(scores)`` returns the events that have ended (no later frame can extend or merge into
them), ``flush()`` those left when the stream ends. Memory is bounded by the median window and the
open event's bookkeeping (a few numbers), never by the stream's length.

The parameters are data-dependent: libtrad chooses them on validation data only
(:mod:`libtrad.ray_jobs.evaluation.event_tuning`) and records them with every result.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

EPS = 1e-9  # seconds: comparisons of durations built from the same hop are exact up to float rounding


@dataclass(frozen=True)
class FrameScores:
    """Anomaly scores over time: ``scores[t]`` covers ``[start_s + t·hop_s, start_s + (t+1)·hop_s)``."""

    scores: np.ndarray
    hop_s: float
    start_s: float = 0.0
    channels: tuple[str, ...] = ()

    def __post_init__(self):
        scores = np.asarray(self.scores, dtype=np.float64)
        if scores.ndim != 1:
            raise ValueError(f"scores: expected one score per frame (1-D), got shape {scores.shape}")
        if not (math.isfinite(self.hop_s) and self.hop_s > 0):
            raise ValueError(f"hop_s={self.hop_s!r}: must be a positive number of seconds")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.scores) * self.hop_s

    def times(self) -> np.ndarray:
        """The start of each frame's interval, in seconds."""
        return self.start_s + np.arange(len(self.scores)) * self.hop_s

    def chunks(self, frames: int) -> Iterator[FrameScores]:
        """Consecutive pieces of ``frames`` frames each (the last may be shorter), e.g. to feed a stream."""
        for at in range(0, len(self.scores), max(1, frames)):
            yield FrameScores(self.scores[at : at + frames], self.hop_s, self.start_s + at * self.hop_s, self.channels)


@dataclass(frozen=True)
class EventParams:
    """Scores → events (see the module docstring for each step and its order)."""

    threshold: float
    median_s: float = 0.0
    min_duration_s: float = 0.0
    merge_gap_s: float = 0.0

    def __post_init__(self):
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold={self.threshold!r}: must be a finite number")
        for name in ("median_s", "min_duration_s", "merge_gap_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}={value!r}: must be a number of seconds >= 0")

    def median_frames(self, hop_s: float) -> int:
        """The median window in frames at ``hop_s``: the odd count nearest ``median_s`` (1 = no filter)."""
        return max(1, 2 * int(math.floor((self.median_s / hop_s - 1) / 2 + 0.5)) + 1)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    """One detected event: its edges, the highest raw score inside, its channels, and when an alarm could sound."""

    start_s: float
    end_s: float
    peak_score: float
    alarm_s: float
    channels: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


@dataclass
class _Open:
    """The event being built: frame indices [start, end), its running peak, the peak of the inactive frames
    after it, and the exclusive end of the frame at which it first lasted long enough (None: not yet)."""

    start: int
    end: int
    peak: float
    gap_peak: float = -math.inf
    alarm: int | None = None

    def extend(self, begin: int, end: int, min_frames: int) -> None:
        """Take the active frames [begin, end) (touching or after the ones it holds)."""
        self.end = end
        if self.alarm is None and end - self.start >= min_frames:
            self.alarm = max(self.start + min_frames, begin + 1)  # an active frame raises it


@dataclass
class EventDetector:
    """Scores → events chunk by chunk, with the same events as :func:`detect_events` on the whole stream.

    ``start_s`` is the time of the stream's first frame; ``push`` takes each chunk's raw scores (a 1-D
    array or a :class:`FrameScores`) in order.
    """

    params: EventParams
    hop_s: float
    start_s: float = 0.0
    channels: tuple[str, ...] = ()
    _raw: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)  # raw frames from index _raw_at
    _raw_at: int = 0
    _received: int = 0  # frames pushed so far
    _filtered: int = 0  # frames whose filtered value has been used
    _open: _Open | None = None

    def __post_init__(self):
        FrameScores(np.empty(0), self.hop_s)  # checks hop_s
        self._half = self.params.median_frames(self.hop_s) // 2
        self._gap_frames = int(math.floor(self.params.merge_gap_s / self.hop_s + EPS))
        self._min_frames = max(1, int(math.ceil(self.params.min_duration_s / self.hop_s - EPS)))

    def push(self, scores) -> list[Event]:
        """Add the next frames; the events that can no longer change."""
        values = scores.scores if isinstance(scores, FrameScores) else np.asarray(scores, dtype=np.float64)
        self._raw = np.concatenate([self._raw, values.astype(np.float64, copy=False)])
        self._received += len(values)
        return self._advance(self._received - self._half, final=False)

    def flush(self) -> list[Event]:
        """The stream ended: filter its last frames (truncated window) and close the open event."""
        return self._advance(self._received, final=True)

    def _advance(self, upto: int, final: bool) -> list[Event]:
        out: list[Event] = []
        if upto > self._filtered:
            filtered = self._medians(self._filtered, upto)
            raw = self._raw[self._filtered - self._raw_at : upto - self._raw_at]
            out += self._runs(filtered > self.params.threshold, raw, self._filtered)
            self._filtered = upto
        keep_from = max(0, self._filtered - self._half)  # the median of later frames reaches back this far
        self._raw, self._raw_at = self._raw[keep_from - self._raw_at :], keep_from
        if self._open is not None and (final or self._filtered - self._open.end > self._gap_frames):
            out += self._close()
        return out

    def _medians(self, first: int, upto: int) -> np.ndarray:
        """Filtered scores of frames [first, upto) (:func:`window_medians` over what is buffered)."""
        return window_medians(self._raw, self._raw_at, first, upto, self._received, self._half)

    def _runs(self, active: np.ndarray, raw: np.ndarray, offset: int) -> list[Event]:
        """Feed the active/inactive frames [offset, offset + len(active)) through the merge step."""
        out: list[Event] = []
        edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
        if len(edges):
            # maxima of [b0, e0), [e0, b1), [b1, e1), ..., [e_last, end): the runs and the inactive frames after each
            peaks = np.maximum.reduceat(np.append(raw, -math.inf), edges).tolist()
            lead = float(raw[: edges[0]].max()) if edges[0] > 0 else -math.inf
        else:
            peaks, lead = [], float(raw.max()) if len(raw) else -math.inf
        gap_before = lead
        for k, (begin, end) in enumerate(zip(edges[::2].tolist(), edges[1::2].tolist())):
            run_peak, gap_after = peaks[2 * k], peaks[2 * k + 1]
            start = offset + begin
            current = self._open
            if current is not None:
                current.gap_peak = max(current.gap_peak, gap_before)
                if start - current.end <= self._gap_frames:
                    current.peak = max(current.peak, current.gap_peak, run_peak)
                    current.gap_peak = -math.inf
                    current.extend(start, offset + end, self._min_frames)
                    gap_before = gap_after
                    continue
                out += self._close()
            self._open = _Open(start, start, run_peak)
            self._open.extend(start, offset + end, self._min_frames)
            gap_before = gap_after
        if self._open is not None:
            self._open.gap_peak = max(self._open.gap_peak, gap_before)
        return out

    def _close(self) -> list[Event]:
        current, self._open = self._open, None
        if current is None or current.alarm is None:  # shorter than min_duration_s
            return []
        hop, t0 = self.hop_s, self.start_s
        return [
            Event(
                start_s=float(t0 + current.start * hop),
                end_s=float(t0 + current.end * hop),
                peak_score=float(current.peak),
                alarm_s=float(t0 + (current.alarm + self._half) * hop),
                channels=self.channels,
            )
        ]


def window_medians(values: np.ndarray, at: int, first: int, upto: int, total: int, half: int) -> np.ndarray:
    """The median of each frame t in [first, upto) over frames [t - half, t + half], truncated to [0, total).

    ``values`` holds the stream's frames from index ``at`` on (at least those the windows reach)."""
    if half == 0:
        return values[first - at : upto - at].copy()
    out = np.empty(upto - first)
    lo, hi = max(first, half), min(upto, total - half)  # a full window: vectorised
    if hi > lo:
        windows = np.lib.stride_tricks.sliding_window_view(values[lo - half - at : hi + half - at], 2 * half + 1)
        out[lo - first : hi - first] = np.median(windows, axis=-1)
    for t in [*range(first, min(lo, upto)), *range(max(hi, first), upto)]:  # the truncated edges
        a, b = max(0, t - half), min(total, t + half + 1)
        out[t - first] = np.median(values[a - at : b - at])
    return out


def median_filter(scores: FrameScores, median_s: float) -> FrameScores:
    """``scores`` through step 1 alone (offline): e.g. to search thresholds without filtering again."""
    half = EventParams(0.0, median_s).median_frames(scores.hop_s) // 2
    n = len(scores.scores)
    return FrameScores(window_medians(scores.scores, 0, 0, n, n, half), scores.hop_s, scores.start_s, scores.channels)


def detect_events(scores: FrameScores, params: EventParams) -> list[Event]:
    """The events of one recording's scores (offline: the whole recording at once)."""
    detector = EventDetector(params, scores.hop_s, scores.start_s, scores.channels)
    return detector.push(scores.scores) + detector.flush()


__all__ = [
    "Event",
    "EventDetector",
    "EventParams",
    "FrameScores",
    "detect_events",
    "median_filter",
    "window_medians",
]
