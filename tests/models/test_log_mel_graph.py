"""The factored log-mel (what ``libtrad export onnx`` writes in place of ONNX ``STFT``) gives the feature
extractor's numbers: both LiB-TRAD front ends, clips shorter than a hop to 10 s, a batch at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from libtrad.models.attention_ae import LibTradAttentionAEFeatureExtractor
from libtrad.models.cnn import LibTradCNNFeatureExtractor
from libtrad.models.feature_extraction_log_mel import LogMelFeatureExtractor
from libtrad.models.log_mel_graph import FactoredLogMel, factorable, multiply_adds, plan
from libtrad.models.onnx_graph import log_mel_module


@pytest.mark.parametrize("extractor", [LibTradAttentionAEFeatureExtractor(), LibTradCNNFeatureExtractor()])
@pytest.mark.parametrize("samples", [300, 512, 16_000, 16_001, 160_000])
def test_it_equals_the_extractors_log_mel(extractor, samples):
    audio = torch.from_numpy((np.random.default_rng(samples).standard_normal((3, samples)) * 0.2).astype(np.float32))
    audio[1] *= 1e-3  # a quiet clip: its own 80 dB floor
    module = log_mel_module(extractor, "matmul")
    assert isinstance(module, FactoredLogMel) and module.kind == "matmul"
    with torch.no_grad():
        want, got = extractor.log_mel(audio), module(audio)
    assert got.shape == want.shape == (3, extractor.feature_size, samples // extractor.hop_length + 1)
    assert (got - want).abs().max().item() <= 1e-4  # dB (measured: 8e-6)


def test_the_factors_follow_the_hop_and_otherwise_the_stft_operator_stays():
    assert plan(2048, 512) == (16, 8, 16) and plan(1024, 512) == (8, 8, 16)  # the fewest multiply-adds
    assert multiply_adds(16, 8, 16) < multiply_adds(8, 16, 16) < 2048 * 1025 * 2  # a direct DFT's
    assert not factorable(2048, 500) and not factorable(400, 160) and not factorable(1000, 500)
    assert not factorable(2048, 2)  # a row of 2 samples leaves no room for three stages
    odd = LogMelFeatureExtractor(n_fft=400, hop_length=160)
    assert log_mel_module(odd, "matmul").kind == "stft"
    assert log_mel_module(LibTradCNNFeatureExtractor(), "stft").kind == "stft"
    with pytest.raises(Exception, match="front end 'fft'"):
        log_mel_module(odd, "fft")
