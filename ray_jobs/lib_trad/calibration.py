"""``train``'s calibration: a threshold for a target false-alarm rate, stored in the model's ``detection`` section.

Which audio (:func:`calibration_clips`, read before training so a problem shows at once):

* **calibration** — held-out *normal* audio the model never trained on: LiB-TRAD's ``normal_charging``
  config (1,041 normal-charging segments, 2.9 h — recorded for exactly this), else the normal clips of
  the trained config's ``validation`` split;
* **measurement** — the trained config's ``test`` split: false alarms per hour on its normal clips,
  detection latency (annotated onset → first alarm, median and 90th percentile) on its annotated
  abnormal clips. Neither is used to choose anything.

The threshold (:func:`libtrad.models.calibration.calibrate`) is chosen on the calibration audio scored
exactly as ``detect`` scores (blocks of ``window_s``, the same post-processing), so the rate is of
events. Default target: :data:`DEFAULT_FALSE_ALARMS_PER_HOUR` = 1 per hour — for a battery-room alarm a
false alarm an hour is what an operator can still check by hand, and LiB-TRAD's 2.9 h of normal
charging can show it (a rate needs at least one expected false alarm in the held-out audio; 0.1/h would
need 10 h). The post-processing is fixed (:data:`POST_PROCESSING`; the annotated events that could tune
it are in the test split, which calibration never reads): a 0.1 s running median (removes single-frame
clicks), no minimum duration beyond one frame, and a 1 s merge gap (a venting's bursts are one alarm).

When the CLI's default is in force and the held-out audio is too short (e.g. the small synthetic
stand-in), the model is written without a ``detection`` section and a note says so; a rate the user
asked for (``--false-alarms-per-hour``) that the data cannot show is an error before training starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from libtrad.core.console import note
from libtrad.core.errors import LibtradError
from libtrad.models.calibration import calibrate
from libtrad.models.detection import DEFAULT_WINDOW_S, DetectionSection, block_frame_scores, detect_audio
from libtrad.models.onnx_graph import TorchWaveformScorer
from libtrad.ray_jobs.evaluation import event_metrics as M
from libtrad.ray_jobs.evaluation.event_tuning import annotated_events
from libtrad.ray_jobs.lib_trad.data import SAMPLE_RATE, Clips, load_clips, split_exists

DEFAULT_FALSE_ALARMS_PER_HOUR = 1.0
POST_PROCESSING = {"median_s": 0.1, "min_duration_s": 0.0, "merge_gap_s": 1.0}
CHARGING_CONFIG = "normal_charging"


@dataclass
class CalibrationPlan:
    """What calibration will read: the held-out normal clips, where they come from, the target."""

    clips: Clips
    source: dict
    hours: float
    target: float
    window_s: float = DEFAULT_WINDOW_S


def _hours(clips: Clips) -> float:
    return sum(len(w) for w in clips.waveforms) / SAMPLE_RATE / 3600.0


def calibration_clips(
    dataset: str, config: str, target: float | None, required: bool, cache_dir=None, progress=True
) -> CalibrationPlan | None:
    """The held-out normal clips and the target (None: no calibration, with a note unless asked not to)."""
    if target is None:
        return None
    if not (target > 0 and np.isfinite(target)):
        raise LibtradError(f"--false-alarms-per-hour {target}: must be a positive number")
    for name, split in ((CHARGING_CONFIG, "train"), (config, "validation")):
        if split_exists(dataset, name, split, cache_dir=cache_dir):
            clips = load_clips(dataset, name, split, cache_dir=cache_dir, progress=progress)
            keep = [i for i, y in enumerate(clips.labels) if y == 0]
            normal = Clips(clips.dataset, name, split, [clips.waveforms[i] for i in keep], clips.labels[keep])
            break
    else:
        return _refuse(
            required, f"--dataset {dataset}: no held-out normal audio ({CHARGING_CONFIG} or {config}/validation)"
        )
    hours = _hours(normal)
    if hours * target < 1:
        return _refuse(
            required,
            f"--false-alarms-per-hour {target:g}: {normal.config}/{normal.split} holds {hours * 60:.1f} min of normal "
            f"audio; a rate of {target:g}/h needs at least {60 / target:.1f} min (one expected false alarm)",
        )
    source = {"dataset": str(dataset), "config": normal.config, "split": normal.split, "clips": len(normal)}
    return CalibrationPlan(normal, source, hours, float(target))


def _refuse(required: bool, message: str) -> None:
    if required:
        raise LibtradError(message)
    note(f"{message}; the model is saved without a detection threshold")
    return None


def calibrate_model(model, extractor, plan: CalibrationPlan, test: Clips | None) -> dict:
    """The ``detection`` section of ``model`` (also set on its config) for ``plan``; ``test`` is measured."""
    scorer = TorchWaveformScorer(model, extractor)
    probe = DetectionSection(threshold=0.0, loc=0.0, scale=1.0, window_s=plan.window_s, **POST_PROCESSING)
    streams = [block_frame_scores(scorer, probe, w) for w in plan.clips.waveforms]
    try:
        found = calibrate(streams, plan.hours, plan.target, **POST_PROCESSING)
    except ValueError as exc:
        raise LibtradError(f"calibration on {plan.source['config']}/{plan.source['split']}: {exc}") from None
    section = DetectionSection(
        threshold=found.threshold,
        loc=found.loc,
        scale=found.scale,
        window_s=plan.window_s,
        target_false_alarms_per_hour=plan.target,
        calibration={
            **plan.source,
            "hours": round(plan.hours, 4),
            "false_alarms": found.false_alarms,
            "false_alarms_per_hour": found.false_alarms_per_hour,
        },
        **POST_PROCESSING,
    )
    section = DetectionSection(**{**section.__dict__, "measured": measure(scorer, section, test)})
    model.config.detection = section.to_dict()
    return model.config.detection


def measure(scorer, section: DetectionSection, test: Clips | None) -> dict | None:
    """False alarms per hour on ``test``'s normal clips and latency on its annotated abnormal clips."""
    if test is None:
        return None
    seconds, false_alarms, latencies = 0.0, 0, []
    for i, waveform in enumerate(test.waveforms):
        events = detect_audio(scorer, section, waveform)
        if test.labels[i] == 0:
            seconds += len(waveform) / SAMPLE_RATE
            false_alarms += len(events)
            continue
        onset, offset = (test.columns.get(k, [None] * len(test))[i] for k in ("event_onset_s", "event_offset_s"))
        reference = annotated_events(int(test.labels[i]), onset, offset)
        if reference:
            latencies += M.latencies(reference, events)
    return {
        "split": f"{test.config}/{test.split}",
        "hours": round(seconds / 3600.0, 4),
        "false_alarms": false_alarms,
        "false_alarms_per_hour": M.false_alarms_per_hour(false_alarms, seconds),
        "latency": M.latency_summary(latencies),
    }


def card_rows(section: dict | None) -> dict:
    """The model card's lines about the decision the model ships (or that it ships none)."""
    if not section:
        return {"detection threshold": "none (not calibrated: `detect` refuses this model)"}
    cal, measured = section["calibration"], section.get("measured")
    rows = {
        "detection threshold": f"{section['threshold']:.4g} (robust z-score; {section['window_s']:g} s blocks, "
        f"median {section['median_s']:g} s, merge gap {section['merge_gap_s']:g} s)",
        "calibrated on": f"{cal['config']}/{cal['split']} of {cal['dataset']}: {cal['clips']} normal clips, "
        f"{cal['hours']:.3g} h; target {section['target_false_alarms_per_hour']:g} false alarm(s)/h, "
        f"{cal['false_alarms_per_hour']:.3g}/h there",
    }
    if measured:
        latency = measured["latency"]
        lat = (
            "—" if latency["median_s"] is None else f"median {latency['median_s']:.2f} s, p90 {latency['p90_s']:.2f} s"
        )
        fa = measured["false_alarms_per_hour"]
        rows["measured on " + measured["split"]] = (
            f"{'—' if fa is None else f'{fa:.3g}'} false alarms/h over {measured['hours']:.3g} h of normal audio; "
            f"detection latency {lat} ({latency['detected']} detected, {latency['missed']} missed)"
        )
    return rows


__all__ = [
    "DEFAULT_FALSE_ALARMS_PER_HOUR",
    "POST_PROCESSING",
    "CalibrationPlan",
    "calibrate_model",
    "calibration_clips",
    "card_rows",
    "measure",
]
