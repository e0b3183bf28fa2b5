"""ray_jobs.lib_trad.calibration through ``train``: the detection section, its card rows, the refusals; and
``model.detect`` after ``from_pretrained`` giving the events of the lib-trad-events suite's frame scores."""

from __future__ import annotations

import json

import numpy as np

from libtrad.models.detection import DetectionSection
from libtrad.models.events import FrameScores, detect_events
from libtrad.ray_jobs.lib_trad.data import load_clips

from .conftest import TARGET


def test_train_stores_a_calibrated_detection_section(calibrated_ae):
    section = json.loads((calibrated_ae / "config.json").read_text())["detection"]
    parsed = DetectionSection.from_dict(section)
    assert parsed.target_false_alarms_per_hour == TARGET
    cal = section["calibration"]
    assert cal["config"] == "normal_charging" and cal["split"] == "train" and cal["clips"] > 0
    assert cal["hours"] * TARGET >= 1 and cal["false_alarms_per_hour"] <= TARGET
    measured = section["measured"]
    assert measured["split"] == "tr1/test" and measured["hours"] > 0
    assert set(measured["latency"]) == {"median_s", "p90_s", "detected", "missed"}
    card = (calibrated_ae / "README.md").read_text()
    assert "detection threshold" in card and "normal_charging/train" in card and "false alarms/h" in card


def test_detect_after_from_pretrained_equals_the_suites_events(calibrated_ae, lib_trad_export, tmp_path):
    """With a block as long as the clip, detect() scores the clip whole, as the suite's ae_frame_scores do."""
    import shutil

    from libtrad.models.attention_ae import AutoModelForAudioAnomalyDetection
    from libtrad.ray_jobs.lib_trad.event_models import ae_frame_scores
    from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model
    from libtrad.ray_jobs.lib_trad.scoring import clip_features

    folder = tmp_path / "ae"
    shutil.copytree(calibrated_ae, folder)
    (folder / ".libtrad.json").unlink()
    config = json.loads((folder / "config.json").read_text())
    config["detection"]["window_s"] = 30.0
    (folder / "config.json").write_text(json.dumps(config))
    section = DetectionSection.from_dict(config["detection"])
    clips = load_clips(str(lib_trad_export), "tr1", "test", progress=False)
    model, extractor = load_lib_trad_model(folder, no_verify=True)
    suite = ae_frame_scores(model, extractor, clip_features(extractor, clips, False))["mahalanobis"]
    loaded = AutoModelForAudioAnomalyDetection.from_pretrained(folder)
    found = 0
    for waveform, scores in zip(clips.waveforms, suite):
        normalised = FrameScores(section.normalise(scores.scores), scores.hop_s, scores.start_s, ("0",))
        expected = detect_events(normalised, section.params)
        got = loaded.detect(waveform, sampling_rate=16_000)
        assert [(e.start_s, e.end_s, e.alarm_s) for e in got] == [(e.start_s, e.end_s, e.alarm_s) for e in expected]
        np.testing.assert_allclose([e.peak_score for e in got], [e.peak_score for e in expected], rtol=1e-4)
        found += len(got)
    assert found > 0


def test_a_model_without_a_section_says_so(cnn_model):
    import pytest

    from libtrad.core.errors import LibtradError
    from libtrad.models.cnn import LibTradCNNForAudioClassification

    model = LibTradCNNForAudioClassification.from_pretrained(cnn_model)
    with pytest.raises(LibtradError, match="no detection section .* --false-alarms-per-hour"):
        model.detect(np.zeros(16_000, dtype=np.float32), sampling_rate=16_000)


def test_train_refuses_a_rate_the_held_out_audio_cannot_show(cli, lib_trad_export, tmp_path, train_args):
    from tests.conftest import assert_error_line

    out = tmp_path / "ae"
    result = cli(*train_args(lib_trad_export, out, "--false-alarms-per-hour", "1", family="ae"))
    assert_error_line(result, "--false-alarms-per-hour 1", "normal_charging/train", "needs at least 60.0 min")
    assert not out.exists()  # refused before training


def test_train_default_notes_too_little_audio_and_saves_without_threshold(cli, lib_trad_export, tmp_path, train_args):
    out = tmp_path / "ae"
    result = cli(*train_args(lib_trad_export, out, "--batch-size", "512", family="ae"))
    assert result.exit_code == 0, result.output
    assert "note: --false-alarms-per-hour 1" in result.output
    assert json.loads((out / "config.json").read_text()).get("detection") is None
    assert "none (not calibrated" in (out / "README.md").read_text()


def test_the_cnn_is_calibrated_on_one_score_per_block(lib_trad_export, tmp_path):
    from libtrad.models.cnn import LibTradCNNForAudioClassification
    from libtrad.ray_jobs.lib_trad.training import Recipe, train_cnn

    out = tmp_path / "cnn"
    train_cnn(
        str(lib_trad_export),
        out,
        config="tr1_cls",
        recipe=Recipe(epochs=1, batch_size=4),
        progress=False,
        false_alarms_per_hour=TARGET,
        require_calibration=True,
    )
    section = DetectionSection.from_dict(json.loads((out / "config.json").read_text())["detection"])
    assert section.calibration["false_alarms_per_hour"] <= TARGET
    model = LibTradCNNForAudioClassification.from_pretrained(out)
    clip = load_clips(str(lib_trad_export), "tr1_cls", "validation", progress=False).waveforms[0]
    events = model.detect(np.stack([clip, clip]), sampling_rate=16_000, fusion="any")
    block_s = 31 * 512 / 16_000  # 1 s in whole hops: the CNN's frame
    for event in events:
        assert event.channels == ("0", "1")
        assert round(event.start_s / block_s, 6).is_integer() and round(event.end_s / block_s, 6).is_integer()
