"""ECHO vs the official implementation's outputs on the shared reference fixtures."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from libtrad.convert.echo import convert_checkpoint
from libtrad.models.echo import EchoFeatureExtractor

TOL = 1e-5


@pytest.fixture(scope="module")
def ref(shared_fixtures):
    root = shared_fixtures / "echo_reference"
    return {
        "root": root,
        "fixture": json.loads((root / "fixture.json").read_text()),
        "inputs": load_file(root / "inputs.safetensors"),
        "outputs": load_file(root / "outputs.safetensors"),
    }


@pytest.fixture(scope="module")
def model(ref, tmp_path_factory):
    arch = ref["fixture"]["architecture"]
    out = tmp_path_factory.mktemp("echo_fixture")
    return convert_checkpoint(
        ref["root"] / "echo_reference.safetensors", out, heads=arch["num_heads"], write_card=False
    )


def _cases(ref):
    return [(c["key"], c["sampling_rate"], c) for c in ref["fixture"]["cases"]]


def test_converted_architecture_matches_fixture(model, ref):
    arch = ref["fixture"]["architecture"]
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (
        arch["embed_dim"],
        arch["depth"],
        arch["num_heads"],
    )
    assert (cfg.band_width, cfg.patch_frames, cfg.max_frames) == (
        arch["band_width"],
        arch["patch_time"],
        arch["max_spec_frames"],
    )
    assert cfg.layer_norm_eps == arch["layer_norm_eps"] and cfg.frequency_position_scale == arch["freq_pos_scale"]


def test_spectrogram_parity(ref):
    """Equal to 1e-5 except at a handful of near-silent bins (|X| ~ 1e-4), where float32 FFT
    rounding alone moves log|X| by a few 1e-5; there our value is the one closer to float64."""
    fe = EchoFeatureExtractor()
    for key, sr, case in _cases(ref):
        wave = ref["inputs"][key]
        spec = fe(wave, sampling_rate=sr, return_tensors="pt")["input_values"][0]
        expected = ref["outputs"][f"{key}.spectrogram"]
        assert list(spec.shape) == case["spectrogram_shape"]
        diff = (spec - expected).abs()
        off = diff > TOL
        assert off.sum() <= 3 and diff.max() < 1e-4, (key, diff.max().item(), off.sum().item())
        if off.any():
            exact = fe.spectrogram(wave.double(), sr)
            assert ((spec - exact).abs()[off] <= (expected - exact).abs()[off]).all(), key


def test_embeddings_from_reference_spectrogram(model, ref):
    """The encoder alone, fed the official spectrogram."""
    for key, sr, case in _cases(ref):
        with torch.inference_mode():
            out = model(ref["outputs"][f"{key}.spectrogram"], sampling_rate=sr)
        assert list(out.pooler_output[0].shape) == case["utterance_shape"]
        assert list(out.last_hidden_state[0].shape) == case["frames_shape"]
        assert (out.pooler_output[0] - ref["outputs"][f"{key}.utterance"]).abs().max() <= TOL, key
        assert (out.last_hidden_state[0] - ref["outputs"][f"{key}.frames"]).abs().max() <= TOL, key


def test_embeddings_end_to_end(model, ref):
    """Waveform -> feature extractor -> model, every case (incl. the 25-s two-chunk clip)."""
    fe = EchoFeatureExtractor()
    for key, sr, _ in _cases(ref):
        inputs = fe(ref["inputs"][key], sampling_rate=sr, return_tensors="pt")
        with torch.inference_mode():
            out = model(**inputs, sampling_rate=sr)
        assert (out.pooler_output[0] - ref["outputs"][f"{key}.utterance"]).abs().max() <= TOL, key
        assert (out.last_hidden_state[0] - ref["outputs"][f"{key}.frames"]).abs().max() <= TOL, key
        assert out.frames_mask.all()
