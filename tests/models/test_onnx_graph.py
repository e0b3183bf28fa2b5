"""The scoring graphs compute what each model's torch scoring path computes: the feature extractor, then the
model's forward (``scores``, ``frame_scores``, ``logits``), from raw audio."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from libtrad.core.errors import LibtradError
from libtrad.models.attention_ae import (
    LibTradAttentionAEConfig,
    LibTradAttentionAEFeatureExtractor,
    LibTradAttentionAEForAnomalyDetection,
)
from libtrad.models.cnn import LibTradCNNConfig, LibTradCNNFeatureExtractor, LibTradCNNForAudioClassification
from libtrad.models.onnx_graph import TorchWaveformScorer, audio_facts, scoring_graph


def tiny_ae(**config) -> LibTradAttentionAEForAnomalyDetection:
    torch.manual_seed(0)
    model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig(hidden_size=16, latent_size=8, **config))
    model.fit_scorer(torch.randn(300, 8) * 2 + 1)
    return model.eval()


def tiny_cnn() -> LibTradCNNForAudioClassification:
    torch.manual_seed(0)
    return LibTradCNNForAudioClassification(LibTradCNNConfig(conv_channels=(4, 8, 8))).eval()


def noise(clips: int, samples: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((clips, samples)) * 0.1).astype(np.float32)


@pytest.mark.parametrize("reduction, context", [("mean", 1), ("max", 3), ("percentile", 3)])
def test_attention_ae_graph_is_the_models_scoring_path(reduction, context):
    model, extractor = tiny_ae(score_reduction=reduction, context_frames=context), LibTradAttentionAEFeatureExtractor()
    audio = noise(3, 16_000 + 123)
    with torch.no_grad():
        reference = model(**extractor(list(audio)))  # the extractor's features and mask, the model's forward
        scores, frame_scores = scoring_graph(model, extractor)(torch.from_numpy(audio))
    torch.testing.assert_close(frame_scores, reference.frame_scores, atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(scores, reference.scores, atol=1e-5, rtol=1e-6)


def test_cnn_graph_is_the_models_scoring_path():
    model, extractor = tiny_cnn(), LibTradCNNFeatureExtractor()
    audio = noise(2, 40_000)
    with torch.no_grad():
        reference = model(**extractor(list(audio)))
        scores, logits = scoring_graph(model, extractor)(torch.from_numpy(audio))
    torch.testing.assert_close(scores, reference.scores, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(logits, reference.logits, atol=1e-6, rtol=1e-6)


def test_torch_scorer_scores_clips_of_any_length_as_one_at_a_time():
    model, extractor = tiny_ae(context_frames=3), LibTradAttentionAEFeatureExtractor()
    scorer = TorchWaveformScorer(model, extractor)
    clips = [noise(1, n, seed=n)[0] for n in (8_000, 20_000, 8_000)]
    together = scorer.score(clips, sampling_rate=16_000)
    for clip, score, frames in zip(clips, together.scores, together.frame_scores):
        alone = scorer.score(clip)
        np.testing.assert_allclose(alone.scores[0], score, rtol=1e-6)
        np.testing.assert_allclose(alone.frame_scores[0], frames, rtol=1e-6)
        assert frames.shape == (scorer.audio.frames(len(clip)),)


def test_audio_facts_name_the_extractors_front_end_and_the_cnns_shortest_clip():
    cnn = audio_facts(tiny_cnn(), LibTradCNNFeatureExtractor())
    assert (cnn.sampling_rate, cnn.n_fft, cnn.hop_length, cnn.n_mels, cnn.top_db) == (16_000, 1024, 512, 64, 80.0)
    assert cnn.min_samples == 7 * 512 and cnn.frames(cnn.min_samples) == 8  # three 2×2 poolings
    assert audio_facts(tiny_ae(), LibTradAttentionAEFeatureExtractor()).min_samples == 1
    scorer = TorchWaveformScorer(tiny_cnn(), LibTradCNNFeatureExtractor())
    with pytest.raises(LibtradError, match="3583 samples; the model needs at least 3584"):
        scorer.score(np.zeros(3583, dtype=np.float32))
    assert scorer.score(np.zeros(3584, dtype=np.float32)).logits.shape == (1, 2)


def test_an_unfitted_scorer_or_another_model_type_has_no_graph():
    model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig(hidden_size=16, latent_size=8))
    with pytest.raises(LibtradError, match="not fitted"):
        scoring_graph(model, LibTradAttentionAEFeatureExtractor())
    echo = types.SimpleNamespace(config=types.SimpleNamespace(model_type="libtrad-echo"))
    with pytest.raises(LibtradError, match="a libtrad-echo model cannot be exported to ONNX"):
        scoring_graph(echo, None)
