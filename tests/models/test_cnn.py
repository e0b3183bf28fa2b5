"""LiB-TRAD CNN: shapes and loss, fresh-process round trip, and the audio-classification pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

import libtrad  # noqa: F401  (registers the Auto classes)
from libtrad.models.cnn import LibTradCNNConfig, LibTradCNNFeatureExtractor, LibTradCNNForAudioClassification


def _model() -> LibTradCNNForAudioClassification:
    torch.manual_seed(0)
    return LibTradCNNForAudioClassification(LibTradCNNConfig()).eval()


def _wave(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(16_000 * seconds))).astype(np.float32)


def test_single_logit_is_exposed_as_two_class_logits_and_trained_with_bce():
    model = _model()
    features = LibTradCNNFeatureExtractor()(np.stack([_wave(seed=0), _wave(seed=1)]))
    assert features["input_features"].shape == (2, 64, 1 + 32_000 // 512)
    labels = torch.tensor([0, 1])
    with torch.no_grad():
        out = model(**features, labels=labels)
    assert out.logits.shape == (2, 2) and torch.all(out.logits[:, 0] == 0)
    torch.testing.assert_close(out.logits[:, 1], out.abnormal_logit)
    torch.testing.assert_close(out.logits.softmax(-1)[:, 1], torch.sigmoid(out.abnormal_logit))
    assert torch.equal(out.scores, torch.sigmoid(out.abnormal_logit))  # the anomaly score: P(abnormal)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(out.abnormal_logit, labels.float())
    torch.testing.assert_close(out.loss, ref)
    assert model.config.id2label == {0: "normal", 1: "abnormal"}


def test_three_conv_blocks_and_a_one_logit_head():
    model = _model()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64] and len(norms) == 3
    assert model.classifier.out_features == 1


_FRESH = r"""
import json, sys, numpy as np, torch
import libtrad
from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification
path = sys.argv[1]
wave = np.load(path + "/wave.npy")
fe = AutoFeatureExtractor.from_pretrained(path)
model = AutoModelForAudioClassification.from_pretrained(path).eval()
base = AutoModel.from_pretrained(path).eval()
with torch.no_grad():
    x = fe(wave)
    print(json.dumps({"model": type(model).__name__, "base": type(base).__name__, "fe": type(fe).__name__,
                      "logit": model(**x).abnormal_logit.tolist(),
                      "pooled": base(x["input_features"]).pooler_output.sum().item()}))
"""


def test_save_load_round_trip_in_a_fresh_process(tmp_path, fresh_python):
    model = _model()
    model.train()
    fe = LibTradCNNFeatureExtractor()
    wave = np.stack([_wave(seed=2), _wave(seed=3)])
    model(**fe(wave))  # move BatchNorm running statistics away from their init
    model.eval()
    with torch.no_grad():
        expected = model(**fe(wave)).abnormal_logit.tolist()
        pooled = model.cnn(fe(wave)["input_features"]).pooler_output.sum().item()
    model.save_pretrained(tmp_path)
    fe.save_pretrained(tmp_path)
    np.save(tmp_path / "wave.npy", wave)
    got = json.loads(fresh_python(_FRESH, tmp_path).splitlines()[-1])
    assert (got["model"], got["base"], got["fe"]) == (
        "LibTradCNNForAudioClassification",
        "LibTradCNNModel",
        "LibTradCNNFeatureExtractor",
    )
    # same weights; conv kernels may sum in another order across processes (float32 rounding)
    np.testing.assert_allclose(got["logit"], expected, rtol=1e-5, atol=1e-7)
    assert got["pooled"] == pytest.approx(pooled, rel=1e-6)


def test_audio_classification_pipeline_on_a_wav_path(tmp_path):
    from transformers import pipeline

    model = _model()
    fe = LibTradCNNFeatureExtractor()
    model.save_pretrained(tmp_path)
    fe.save_pretrained(tmp_path)
    wave = _wave(seconds=3.0, seed=4)
    sf.write(tmp_path / "clip.wav", wave, 16_000, subtype="FLOAT")
    classify = pipeline("audio-classification", model=str(tmp_path))
    result = classify(str(tmp_path / "clip.wav"))
    assert sorted(r["label"] for r in result) == ["abnormal", "normal"]
    assert sum(r["score"] for r in result) == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        p_abnormal = torch.sigmoid(model(**fe(wave)).abnormal_logit).item()
    assert {r["label"]: r["score"] for r in result}["abnormal"] == pytest.approx(p_abnormal, abs=1e-4)


def test_wrong_sampling_rate_is_a_user_error():
    from libtrad.core.errors import LibtradError

    with pytest.raises(LibtradError, match="16000 Hz"):
        LibTradCNNFeatureExtractor()(_wave(), sampling_rate=44_100)
