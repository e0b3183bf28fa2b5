"""Attention auto-encoder: literal attention = V, Mahalanobis scoring, fresh-process round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import libtrad  # noqa: F401  (registers the Auto classes)
from libtrad.core.errors import LibtradError
from libtrad.models.attention_ae import (
    LibTradAttentionAEConfig,
    LibTradAttentionAEFeatureExtractor,
    LibTradAttentionAEForAnomalyDetection,
)
from libtrad.models.attention_ae.modeling_attention_ae import reduce_frame_scores
from libtrad.models.mahalanobis import MahalanobisScorer


def _model(**kwargs) -> LibTradAttentionAEForAnomalyDetection:
    torch.manual_seed(0)
    return LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig(**kwargs)).eval()


def test_literal_attention_is_exactly_the_value_path():
    model = _model()
    x = torch.randn(3, 50, 64)
    with torch.no_grad():
        z = model.autoencoder.encoder(x)
        attended, weights = model.autoencoder.attention(z)
        out = model.autoencoder(x, output_attentions=True)
    assert torch.equal(attended, model.autoencoder.attention.v_proj(z))
    assert torch.all(weights == 1.0) and weights.shape == (3, 50, 1)
    assert torch.equal(out.reconstruction, model.autoencoder.decoder(attended))


def test_context_attention_mixes_neighbours_but_never_padding():
    model = _model(context_frames=5)
    x = torch.randn(1, 20, 64)
    padded = torch.cat([x, torch.randn(1, 7, 64) * 100], dim=1)
    mask = torch.cat([torch.ones(1, 20), torch.zeros(1, 7)], dim=1).long()
    with torch.no_grad():
        alone = model.autoencoder(x, output_attentions=True)
        with_pad = model.autoencoder(padded, attention_mask=mask)
        z = model.autoencoder.encoder(x)
    torch.testing.assert_close(with_pad.last_hidden_state[:, :20], alone.last_hidden_state)
    assert not torch.allclose(alone.last_hidden_state, model.autoencoder.attention.v_proj(z))
    weights = alone.attentions
    assert weights.shape == (1, 20, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 20))
    assert torch.all(weights[0, 0, :2] == 0) and torch.all(weights[0, -1, 3:] == 0)  # clip edges


def test_context_frames_must_be_odd():
    with pytest.raises(ValueError, match="odd"):
        LibTradAttentionAEConfig(context_frames=4)


def test_mahalanobis_on_a_known_gaussian():
    from scipy.spatial.distance import mahalanobis
    from scipy.stats import chi2

    rng = np.random.default_rng(0)
    dim = 8
    a = rng.standard_normal((dim, dim))
    cov = a @ a.T + dim * np.eye(dim)
    mean = rng.standard_normal(dim)
    train = rng.multivariate_normal(mean, cov, size=20_000)
    scorer = MahalanobisScorer(dim).double()
    scorer.fit(torch.from_numpy(train), shrinkage=0.0)
    emp_cov = np.cov(train, rowvar=False)
    np.testing.assert_allclose(scorer.latent_mean.numpy(), train.mean(0), rtol=1e-10)
    np.testing.assert_allclose(scorer.latent_precision.numpy(), np.linalg.inv(emp_cov), rtol=1e-6, atol=1e-10)
    test = rng.multivariate_normal(mean, cov, size=5000)
    ours = scorer(torch.from_numpy(test)).numpy()
    ref = np.array([mahalanobis(t, train.mean(0), np.linalg.inv(emp_cov)) for t in test[:50]])
    np.testing.assert_allclose(ours[:50], ref, rtol=1e-8)
    # squared distances of fresh Gaussian samples follow chi2(dim): mean ≈ dim, 95 % below the quantile
    assert abs((ours**2).mean() - dim) < 0.3
    assert abs((ours**2 < chi2.ppf(0.95, dim)).mean() - 0.95) < 0.02
    assert float(scorer(torch.from_numpy(mean))) == pytest.approx(0.0, abs=0.05)


def test_mahalanobis_inverse_is_safe_for_a_singular_covariance():
    rng = np.random.default_rng(1)
    low_rank = rng.standard_normal((500, 2)) @ rng.standard_normal((2, 6))  # rank 2 in 6-D
    scorer = MahalanobisScorer(6)
    scorer.fit(torch.from_numpy(low_rank).float(), shrinkage=1e-6)
    scores = scorer(torch.from_numpy(low_rank[:10]).float())
    assert torch.isfinite(scores).all() and torch.isfinite(scorer.latent_precision).all()
    zero = MahalanobisScorer(3)
    zero.fit(torch.ones(10, 3), shrinkage=1e-6)  # no variance at all: pinv gives 0, not inf
    assert torch.equal(zero(torch.ones(2, 3)), torch.zeros(2))


def test_mahalanobis_on_plain_numpy_embeddings_in_float64():
    """The embedding suites' use: fit on (N, D) train embeddings, score (N, D) test embeddings."""
    rng = np.random.default_rng(2)
    train, test = rng.standard_normal((300, 5)) * [1, 2, 3, 4, 5], rng.standard_normal((7, 5))
    scorer = MahalanobisScorer.fit_embeddings(train, shrinkage=0.0)
    assert scorer.latent_precision.dtype == torch.float64 and scorer.is_fitted
    scores = scorer.score(test)
    inv = np.linalg.inv(np.cov(train, rowvar=False))
    diff = test - train.mean(0)
    assert scores.dtype == np.float64 and scores.shape == (7,)
    np.testing.assert_allclose(scores, np.sqrt(np.einsum("ni,ij,nj->n", diff, inv, diff)), rtol=1e-12)
    np.testing.assert_array_equal(scorer.score(torch.from_numpy(test)), scores)  # torch in, same numbers
    float32 = MahalanobisScorer(5).fit(train.astype(np.float32), shrinkage=0.0)  # statistics stored in float32
    assert float32.latent_mean.dtype == torch.float32
    np.testing.assert_allclose(float32.score(test), scores, rtol=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.score(np.zeros((2, 3))), "not fitted yet"),
        (lambda s: s.fit(np.zeros((1, 3))), r"at least 2 vectors"),
        (lambda s: s.fit(np.zeros((4, 2))), r"embeddings: expected shape \(N, 3\), got \(4, 2\)"),
        (lambda s: s.fit(np.array([[0, 1, np.nan], [1, 2, 3]])), "NaN or infinite"),
        (lambda s: s.fit(np.array([["a", "b", "c"]] * 3)), "embeddings: not a numeric array"),
        (lambda s: s.fit(np.ones((4, 3)), shrinkage=-1), "shrinkage=-1"),
    ],
)
def test_mahalanobis_refuses_bad_input_in_one_line(call, message):
    with pytest.raises(LibtradError, match=message) as caught:
        call(MahalanobisScorer(3))
    assert "\n" not in str(caught.value)


def test_the_auto_encoder_keeps_its_scorer_checkpoint_names():
    keys = set(_model().state_dict())
    assert {"scorer.latent_mean", "scorer.latent_precision", "scorer.fitted"} <= keys


def test_clip_score_reductions():
    frames = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert reduce_frame_scores(frames, mask, "mean", 95).item() == pytest.approx(2.0)
    assert reduce_frame_scores(frames, mask, "max", 95).item() == pytest.approx(3.0)
    assert reduce_frame_scores(frames, mask, "percentile", 50).item() == pytest.approx(2.0)


def test_unfitted_model_has_loss_but_no_scores():
    out = _model()(torch.randn(2, 10, 64))
    assert out.scores is None and out.loss.ndim == 0


_FRESH = r"""
import json, sys, torch, numpy as np
import libtrad
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
from libtrad.models.attention_ae import AutoModelForAudioAnomalyDetection
for path in sys.argv[1:]:
    wave = np.load(path + "/wave.npy")
    fe = AutoFeatureExtractor.from_pretrained(path)
    model = AutoModelForAudioAnomalyDetection.from_pretrained(path).eval()
    base = AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        out = model(**fe(wave))
        latent = base(fe(wave)["input_features"]).last_hidden_state
    print(json.dumps({"config": type(AutoConfig.from_pretrained(path)).__name__, "model": type(model).__name__,
                      "base": type(base).__name__, "fe": type(fe).__name__, "scores": out.scores.tolist(),
                      "frame0": out.frame_scores[0, :5].tolist(), "latent_sum": float(latent.double().sum())}))
"""


def test_save_load_round_trip_in_a_fresh_process(tmp_path, fresh_python):
    """Both attention variants (context 1 and 3) saved here, loaded by one fresh interpreter (Auto classes
    after ``import libtrad`` alone): identical scores."""
    expected = {}
    for context_frames in (1, 3):
        folder = tmp_path / f"context-{context_frames}"
        model = _model(context_frames=context_frames)
        fe = LibTradAttentionAEFeatureExtractor()
        rng = np.random.default_rng(0)
        wave = (0.1 * rng.standard_normal((2, 16_000 * 2))).astype(np.float32)
        with torch.no_grad():
            model.fit_scorer(model.autoencoder(fe(wave[:1])["input_features"]).last_hidden_state[0])
            expected[folder] = (model(**fe(wave)), model.autoencoder(fe(wave)["input_features"]).last_hidden_state)
        model.save_pretrained(folder)
        fe.save_pretrained(folder)
        np.save(folder / "wave.npy", wave)
        assert sorted(p.name for p in folder.iterdir() if p.suffix != ".npy") == [
            "config.json",
            "model.safetensors",
            "preprocessor_config.json",
        ]
    lines = fresh_python(_FRESH, *expected).splitlines()[-2:]
    for line, (out, latent) in zip(lines, expected.values()):
        got = json.loads(line)
        assert got["config"] == "LibTradAttentionAEConfig" and got["fe"] == "LibTradAttentionAEFeatureExtractor"
        assert got["model"] == "LibTradAttentionAEForAnomalyDetection" and got["base"] == "LibTradAttentionAEModel"
        assert got["scores"] == out.scores.tolist()
        assert got["frame0"] == out.frame_scores[0, :5].tolist()
        assert got["latent_sum"] == pytest.approx(float(latent.double().sum()), rel=1e-12)
