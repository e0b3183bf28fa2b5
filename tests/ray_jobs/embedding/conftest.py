"""Fixtures shared by the embedding tests (the tiny ECHO and attention AE are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory) -> Path:
    """A tiny wav2vec2 with the real one's 7 conv layers, so its hop is the real 20 ms: ``hf:DIR``."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("hf") / "tiny-wav2vec2"
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
    )
    Wav2Vec2Model(config).save_pretrained(out)
    Wav2Vec2FeatureExtractor(sampling_rate=16_000, do_normalize=True, return_attention_mask=True).save_pretrained(out)
    return out
