"""The event metrics against sed_eval (its EventBasedMetrics / SegmentBasedMetrics) on hand-made and random
event lists, and the alarm view (latency, false alarms per hour) on hand-made cases."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from libtrad.models.events import Event
from libtrad.ray_jobs.evaluation import event_metrics as M

with warnings.catch_warnings():  # dcase_util imports pkg_resources, which warns about its own deprecation
    warnings.simplefilter("ignore")
    sed_eval = pytest.importorskip("sed_eval", reason="sed_eval (make venv installs it with --no-deps)")
    dcase_util = pytest.importorskip("dcase_util")

LABEL = "venting"


def _container(files: dict[str, list[tuple[float, float]]]):
    items = [
        {"filename": name, "event_label": LABEL, "onset": on, "offset": off}
        for name, events in files.items()
        for on, off in events
    ]
    return dcase_util.containers.MetaDataContainer(items)


def _sed_eval_event(reference, detected, t_collar, evaluate_offset=True):
    metrics = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=[LABEL], t_collar=t_collar, percentage_of_length=0.2, evaluate_offset=evaluate_offset
    )
    for name in reference:
        ref = _container({name: reference[name]}).filter(filename=name)
        est = _container({name: detected[name]}).filter(filename=name)
        metrics.evaluate(reference_event_list=ref, estimated_event_list=est)
    overall = metrics.results_overall_metrics()
    return overall["f_measure"]["f_measure"]


def _sed_eval_segment(reference, detected, resolution):
    metrics = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=[LABEL], time_resolution=resolution)
    for name in reference:
        ref = _container({name: reference[name]}).filter(filename=name)
        est = _container({name: detected[name]}).filter(filename=name)
        metrics.evaluate(reference_event_list=ref, estimated_event_list=est)
    return metrics.results_overall_metrics()["f_measure"]["f_measure"]


def _ours_event(reference, detected, onset_collar, offset_collar):
    counts = sum(
        (
            M.event_counts(reference[n], detected[n], onset_collar_s=onset_collar, offset_collar_s=offset_collar)
            for n in reference
        ),
        M.Counts(),
    )
    return M.f1(counts)


def _ours_segment(reference, detected, resolution):
    return M.f1(sum((M.segment_counts(reference[n], detected[n], segment_s=resolution) for n in reference), M.Counts()))


HAND = {
    "reference": {
        "a": [(1.0, 4.0)],
        "b": [(0.5, 1.5), (6.0, 9.5)],
        "c": [(2.0, 2.4)],
    },
    "detected": {
        "a": [(1.15, 4.5)],  # onset within 200 ms, offset within max(0.2, 0.6)
        "b": [(0.6, 1.5), (6.3, 9.5), (7.0, 8.0)],  # second onset 300 ms late; a false alarm
        "c": [(1.96, 2.62)],  # onset 40 ms early (both collars); offset 220 ms > max(0.2, 0.08)
    },
}


def _random_files(rng, n_files=12):
    reference, detected = {}, {}
    for i in range(n_files):
        name = f"f{i}"
        reference[name] = []
        for _ in range(rng.integers(0, 3)):
            on = float(np.round(rng.uniform(0, 8), 3))
            reference[name].append((on, float(np.round(on + rng.uniform(0.1, 3), 3))))
        detected[name] = []
        for on, off in reference[name]:  # jittered copies: near the collars, either side
            if rng.random() < 0.8:
                d_on = float(np.round(max(0.0, on + rng.normal(0, 0.15)), 3))  # sed_eval's roll mis-slices t < 0
                detected[name].append((d_on, float(np.round(max(d_on + 0.05, off + rng.normal(0, 0.4)), 3))))
        for _ in range(rng.integers(0, 2)):
            on = float(np.round(rng.uniform(0, 9), 3))
            detected[name].append((on, float(np.round(on + rng.uniform(0.05, 1), 3))))
    return reference, detected


@pytest.mark.parametrize("collar", [0.2, 0.05])
def test_event_f1_equals_sed_eval_on_hand_made_lists(collar):
    ours = _ours_event(HAND["reference"], HAND["detected"], collar, collar)
    assert ours == pytest.approx(_sed_eval_event(HAND["reference"], HAND["detected"], collar))
    if collar == 0.2:
        assert ours == pytest.approx(2 * 2 / (4 + 5))  # a and b's first match; c's offset and b's 2nd onset miss


def test_onset_only_f1_equals_sed_eval():
    ours = _ours_event(HAND["reference"], HAND["detected"], 0.05, None)
    assert ours == pytest.approx(_sed_eval_event(HAND["reference"], HAND["detected"], 0.05, evaluate_offset=False))


@pytest.mark.parametrize("seed", range(6))
def test_event_and_segment_f1_equal_sed_eval_on_random_lists(seed):
    reference, detected = _random_files(np.random.default_rng(seed))
    for collar in (0.2, 0.05):
        expected = _sed_eval_event(reference, detected, collar)
        assert _ours_event(reference, detected, collar, collar) == pytest.approx(expected, nan_ok=True)
    for resolution in (1.0, 0.5):
        expected = _sed_eval_segment(reference, detected, resolution)
        assert _ours_segment(reference, detected, resolution) == pytest.approx(expected)


def test_fine_onset_collar_keeps_the_offset_collar_of_200_ms():
    """libtrad's 50 ms variant: onset 50 ms, offset max(200 ms, 20 %), checked by brute force over matchings."""
    rng = np.random.default_rng(7)
    for _ in range(30):
        ref = [(float(on), float(on + rng.uniform(0.2, 2))) for on in np.sort(rng.uniform(0, 8, 3))]
        det = [(r[0] + rng.normal(0, 0.05), r[1] + rng.normal(0, 0.25)) for r in ref if rng.random() < 0.9]
        ok = [
            [abs(r[0] - d[0]) <= 0.05 and abs(r[1] - d[1]) <= max(0.2, 0.2 * (r[1] - r[0])) for d in det] for r in ref
        ]
        best = max(
            (
                sum(ok[i][j] for i, j in zip(rows, perm))
                for rows in itertools.permutations(range(len(ref)), min(len(ref), len(det)))
                for perm in [range(len(det))]
            ),
            default=0,
        )
        counts = M.event_counts(ref, det, onset_collar_s=M.ONSET_COLLAR_FINE_S)
        assert counts.matched == best


def test_f1_edge_cases():
    assert M.f1(M.Counts(0, 0, 0)) is None
    assert M.f1(M.Counts(3, 0, 0)) == 0.0
    assert M.f1(M.Counts(0, 2, 0)) == 0.0


def _event(start, end, alarm):
    return Event(start_s=start, end_s=end, peak_score=1.0, alarm_s=alarm)


def test_latency_first_alarm_inside_event_or_collar_and_misses():
    reference = [(2.0, 4.0), (6.0, 6.5), (8.0, 9.0)]
    detected = [
        _event(1.9, 3.0, 2.3),  # alarm 0.3 s after the first onset
        _event(2.5, 3.5, 2.6),  # a later alarm of the same event: not the first
        _event(6.55, 7.0, 6.65),  # inside the offset collar of the second (6.7 s): 0.65 s
        _event(9.5, 10.0, 9.6),  # after the third event's collar: a miss
    ]
    values = M.latencies(reference, detected)
    assert values == [pytest.approx(0.3), pytest.approx(0.65), None]
    summary = M.latency_summary(values)
    assert summary["detected"] == 2 and summary["missed"] == 1
    assert summary["median_s"] == pytest.approx(0.475)
    assert summary["p90_s"] == pytest.approx(0.3 + 0.9 * 0.35)
    assert M.latencies([(2.0, 4.0)], [_event(1.85, 3.0, 1.9)]) == [0.0]  # before the onset, inside its collar


def test_false_alarms_per_hour():
    assert M.false_alarms_per_hour(3, 1800.0) == pytest.approx(6.0)
    assert M.false_alarms_per_hour(0, 0.0) is None
