"""libtrad.ray_jobs.evaluation.event_tuning: folds keep a segment's microphones together, each fold is scored with
parameters chosen on the other fold only, and clean events are found exactly."""

from __future__ import annotations

import numpy as np
import pytest

from libtrad.models.events import FrameScores
from libtrad.ray_jobs.evaluation.event_tuning import (
    Recording,
    annotated_events,
    choose_params,
    evaluate_recordings,
    folds,
)

HOP = 0.032


def recordings(seed: int, abnormal: int = 4, normal: int = 4, channels: int = 2) -> list[Recording]:
    rng = np.random.default_rng(seed)
    out = []
    for g in range(abnormal + normal):
        onset = float(np.round(rng.uniform(1, 4) / HOP) * HOP)
        offset = onset + float(np.round(rng.uniform(1, 4) / HOP) * HOP)
        for ch in range(channels):
            scores = rng.normal(0.0, 0.03, int(10 / HOP))
            events = ()
            if g < abnormal:
                scores[int(round(onset / HOP)) : int(round(offset / HOP))] += 2.0
                events = ((onset, offset),)
            out.append(Recording(f"s{g}/ch{ch}", f"s{g}", FrameScores(scores, HOP, 0.0, (str(ch),)), events))
    return out


def test_folds_keep_groups_together_and_deal_abnormal_groups_out():
    recs = recordings(0)
    fold = folds(recs)
    by_group = {}
    for r, f in zip(recs, fold):
        by_group.setdefault(r.group, set()).add(f)
    assert all(len(v) == 1 for v in by_group.values())
    abnormal = [by_group[f"s{g}"].pop() for g in range(4)]
    assert sorted(abnormal) == [0, 0, 1, 1]


def test_each_fold_is_scored_with_the_other_folds_parameters():
    recs = recordings(1)
    result = evaluate_recordings(recs, charging=recs[-2:])
    fold = folds(recs)
    for k, chosen in enumerate(result["params"]["folds"]):
        params, f1 = choose_params([r for r, f in zip(recs, fold) if f != k])
        assert {key: chosen[key] for key in params.to_dict()} == params.to_dict()
        assert chosen["validation_event_f1"] == f1
    assert result["params"]["charging"]["threshold"] == choose_params(recs)[0].threshold


def test_clean_events_are_found_with_short_latency_and_few_false_alarms():
    result = evaluate_recordings(recordings(2), charging=recordings(3, abnormal=0, normal=2))
    # every event is found at its exact edges; the threshold lies just above the other fold's normal frames, so
    # a stray noise frame of this fold may pass it: at most one false alarm
    assert result["latency"]["missed"] == 0 and result["latency"]["p90_s"] == pytest.approx(HOP)  # one frame
    detected = result["detected"]
    for r in recordings(2)[:8]:
        assert [(e["start_s"], e["end_s"]) for e in detected[r.key]] == [pytest.approx(r.events[0])]
    normal_seconds = 8 * int(10 / HOP) * HOP  # four normal segments × two channels
    assert result["false_alarms_per_hour"] <= 3600 / normal_seconds
    assert result["event_f1"] >= 2 * 8 / (8 + 9) and result["segment_f1"] > 0.95
    assert result["charging_false_alarms_per_hour"] is not None
    assert result["counts"]["events"] == 8 and result["counts"]["recordings"] == 16


def test_annotations_of_a_row():
    assert annotated_events(0, None, None) == ()
    assert annotated_events(1, 1.5, 4.0) == ((1.5, 4.0),)
    assert annotated_events(1, None, None) is None
    assert annotated_events(1, float("nan"), 3.0) is None


def test_nothing_to_tune_on_is_refused():
    with pytest.raises(ValueError, match="no annotated event"):
        evaluate_recordings(recordings(4, abnormal=0))
    with pytest.raises(ValueError, match="fold 0"):  # one abnormal segment: fold 1 holds no event to tune fold 0 on
        evaluate_recordings(recordings(4, abnormal=1, normal=1))
