"""libtrad.models.events: each post-processing step on hand-made score curves, and the streaming detector
giving the same events chunk by chunk as offline."""

from __future__ import annotations

import numpy as np
import pytest

from libtrad.models.events import EventDetector, EventParams, FrameScores, detect_events, median_filter


def spans(events):
    return [(e.start_s, e.end_s) for e in events]


CURVE = np.array([0, 0, 1, 1, 0, 1, 0, 0, 0, 5, 5, 4, 5, 0, 0, 1, 0], dtype=float)  # hop 1 s


def test_threshold_alone_gives_each_run_above_it():
    events = detect_events(FrameScores(CURVE, 1.0), EventParams(0.5))
    assert spans(events) == [(2, 4), (5, 6), (9, 13), (15, 16)]
    assert [e.peak_score for e in events] == [1, 1, 5, 1]
    assert spans(detect_events(FrameScores(CURVE, 1.0), EventParams(4.5))) == [(9, 11), (12, 13)]
    assert detect_events(FrameScores(CURVE, 1.0), EventParams(5.0)) == []  # strictly above


def test_merge_gap_joins_runs_at_most_that_far_apart_and_keeps_the_raw_peak():
    events = detect_events(FrameScores(CURVE, 1.0), EventParams(4.5, merge_gap_s=1.0))
    assert spans(events) == [(9, 13)]
    assert events[0].peak_score == 5.0
    assert spans(detect_events(FrameScores(CURVE, 1.0), EventParams(0.5, merge_gap_s=1.0))) == [
        (2, 6),
        (9, 13),
        (15, 16),
    ]
    assert spans(detect_events(FrameScores(CURVE, 1.0), EventParams(0.5, merge_gap_s=2.0))) == [(2, 6), (9, 16)]
    assert spans(detect_events(FrameScores(CURVE, 1.0), EventParams(0.5, merge_gap_s=3.0))) == [(2, 16)]


def test_min_duration_drops_short_events_after_merging():
    assert spans(detect_events(FrameScores(CURVE, 1.0), EventParams(0.5, min_duration_s=3.0))) == [(9, 13)]
    merged = EventParams(0.5, min_duration_s=3.0, merge_gap_s=1.0)  # 2-4 and 5-6 merge into 4 s: kept
    assert spans(detect_events(FrameScores(CURVE, 1.0), merged)) == [(2, 6), (9, 13)]


def test_median_filter_removes_spikes_and_fills_dips():
    spike = np.array([0, 0, 0, 9, 0, 0, 3, 3, 0, 3, 3, 3, 0, 0], dtype=float)
    assert spans(detect_events(FrameScores(spike, 1.0), EventParams(1.0))) == [(3, 4), (6, 8), (9, 12)]
    filtered = detect_events(FrameScores(spike, 1.0), EventParams(1.0, median_s=3.0))
    assert spans(filtered) == [(6, 12)]  # the spike is gone, the one-frame dip at 8 is filled
    assert filtered[0].peak_score == 3.0  # the peak is the raw score's
    assert median_filter(FrameScores(spike, 1.0), 3.0).scores[:2].tolist() == [0.0, 0.0]  # truncated at the start
    assert EventParams(0, median_s=0.1).median_frames(0.032) == 3
    assert EventParams(0, median_s=0.0).median_frames(0.032) == 1


def test_times_follow_hop_and_start_and_alarm_waits_for_min_duration_and_median():
    scores = FrameScores(CURVE, 0.5, start_s=10.0, channels=("mic1",))
    (event,) = detect_events(scores, EventParams(3.0, median_s=1.5, min_duration_s=1.0))
    assert (event.start_s, event.end_s) == (14.5, 16.5)
    assert event.channels == ("mic1",)
    # known once two frames (1 s) have been active, plus the one frame of look-ahead the median needs
    assert event.alarm_s == pytest.approx(10.0 + (9 + 2 + 1) * 0.5)
    assert event.to_dict()["channels"] == ["mic1"]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="threshold"):
        EventParams(float("nan"))
    with pytest.raises(ValueError, match="merge_gap_s"):
        EventParams(0.0, merge_gap_s=-1)
    with pytest.raises(ValueError, match="hop_s"):
        FrameScores(np.zeros(3), 0.0)


@pytest.mark.parametrize("seed", range(4))
def test_streaming_gives_the_offline_events_whatever_the_chunks(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        scores = FrameScores(rng.normal(size=int(rng.integers(1, 120))), 0.032, start_s=-0.016, channels=("1",))
        params = EventParams(
            float(rng.normal(0.3, 0.5)),
            median_s=float(rng.choice([0.0, 0.1, 0.25])),
            min_duration_s=float(rng.choice([0.0, 0.064, 0.2])),
            merge_gap_s=float(rng.choice([0.0, 0.032, 0.15])),
        )
        offline = detect_events(scores, params)
        for size in (1, 2, 5, 17, 1000):
            detector, streamed = EventDetector(params, scores.hop_s, scores.start_s, scores.channels), []
            for chunk in scores.chunks(size):
                streamed += detector.push(chunk)
            streamed += detector.flush()
            assert streamed == offline


def test_stream_emits_an_event_once_nothing_can_extend_it():
    detector = EventDetector(EventParams(0.5, merge_gap_s=1.0), 1.0)
    assert detector.push([0, 1, 1, 0]) == []  # one inactive frame: a run within the gap could still merge
    (event,) = detector.push([0])
    assert (event.start_s, event.end_s) == (1.0, 3.0)
    assert detector.flush() == []
