"""libtrad.ray_jobs.lib_trad.event_models: the attention AE's frame scores equal a by-hand computation, and the
trained-model path of `evaluate lib-trad-events` on the stand-in (its annotated events)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from libtrad.models.attention_ae import (
    LibTradAttentionAEConfig,
    LibTradAttentionAEFeatureExtractor,
    LibTradAttentionAEForAnomalyDetection,
)
from libtrad.ray_jobs.lib_trad.event_models import ae_frame_scores


def test_ae_frame_scores_equal_a_by_hand_computation():
    torch.manual_seed(0)
    config = LibTradAttentionAEConfig(num_mel_bins=6, hidden_size=5, latent_size=4, context_frames=3)
    model = LibTradAttentionAEForAnomalyDetection(config).eval()
    model.fit_scorer(torch.randn(200, 4, dtype=torch.float64))
    extractor = LibTradAttentionAEFeatureExtractor(feature_size=6)
    features = [torch.randn(7, 6), torch.randn(4, 6)]  # two clips of unequal length: padded in one batch
    got = ae_frame_scores(model, extractor, features)
    ae, scorer = model.autoencoder, model.scorer
    mean, precision = scorer.latent_mean.double(), scorer.latent_precision.double()
    for clip, x in enumerate(features):
        with torch.no_grad():
            z = ae.encoder(x)
            q, k, v = ae.attention.q_proj(z), ae.attention.k_proj(z), ae.attention.v_proj(z)
            attended = torch.empty_like(z)
            for t in range(len(x)):  # each frame attends over its neighbours t-1..t+1 inside the clip
                near = range(max(0, t - 1), min(len(x), t + 2))
                weights = torch.softmax(torch.stack([q[t] @ k[j] for j in near]) / 2.0, 0)
                attended[t] = sum(w * v[j] for w, j in zip(weights, near))
            error = ((ae.decoder(attended) - x) ** 2).mean(-1)
            diff = attended.double() - mean
            distance = torch.sqrt(torch.einsum("ti,ij,tj->t", diff, precision, diff))
        np.testing.assert_allclose(got["reconstruction"][clip].scores, error.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["mahalanobis"][clip].scores, distance.numpy(), rtol=1e-4, atol=1e-5)
        hop = 512 / 16_000
        assert got["mahalanobis"][clip].hop_s == hop and got["mahalanobis"][clip].start_s == -hop / 2


@pytest.fixture(scope="module")
def trained_ae(lib_trad_export, tmp_path_factory):
    from libtrad.ray_jobs.lib_trad.training import Recipe, train_attention_ae

    out = tmp_path_factory.mktemp("ae-events") / "ae"
    train_attention_ae(str(lib_trad_export), out, config="tr1", recipe=Recipe(epochs=1, batch_size=256), progress=False)
    return out


def test_evaluate_lib_trad_events_on_trained_models(trained_ae, lib_trad_export, tmp_path, cli):
    out = tmp_path / "res"
    args = ("evaluate", "lib-trad-events", "--model", f"tr1={trained_ae}", "--dataset", lib_trad_export)
    result = cli(*args, "--experiments", "tr1", "--output", out)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["suite"] == "lib-trad-events" and results["protocol"] == "model"
    for kind in ("mahalanobis", "reconstruction"):
        m = results["scorers"][f"attention_ae {kind}"]["experiments"]["tr1"]
        assert 0.0 <= m["event_f1"] <= 1.0
        assert m["counts"]["events"] >= 8 and m["counts"]["unannotated"] == 0
        assert m["charging_false_alarms_per_hour"] is not None
        assert set(m["params"]["charging"]) >= {"threshold", "median_s", "min_duration_s", "merge_gap_s"}
    assert (out / "events_attention_ae_mahalanobis_tr1.png").is_file()
    assert "TR1 F1" in result.output or "TR1" in result.output


def test_the_cnn_has_no_frame_scores(cnn_model, lib_trad_export, tmp_path, cli, rel):
    args = ("evaluate", "lib-trad-events", "--model", f"tr1={cnn_model}", "--dataset", lib_trad_export)
    result = cli(*args, "--experiments", "tr1", "--output", tmp_path / "res")
    rel.assert_error_line(result, "scores whole clips", "libtrad train ae")
    assert not (tmp_path / "res").exists()
