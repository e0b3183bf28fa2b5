"""ECHO model behaviour beyond the fixtures: batching, tables, multichannel, encoder contract."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from libtrad.core.errors import LibtradError
from libtrad.models.echo import EchoConfig, EchoFeatureExtractor, EchoModel, EchoWaveformEncoder
from libtrad.models.echo.modeling_echo import chunk_starts

SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return EchoWaveformEncoder(EchoModel(EchoConfig(**SMALL)))


def test_fresh_pos_embed_is_the_official_table(shared_fixtures):
    official = load_file(shared_fixtures / "echo_reference" / "echo_reference.safetensors")["pos_embed"]
    model = EchoModel(EchoConfig(**SMALL))
    assert torch.allclose(model.pos_embed, official, atol=1e-6)
    assert not model.pos_embed.requires_grad


def test_chunking_rule():
    assert chunk_starts(1999, 2000) == [0]
    assert chunk_starts(4000, 2000) == [0, 2000]
    assert chunk_starts(4500, 2000) == [0, 2000, 2500]


def test_batched_equals_one_clip_at_a_time(encoder):
    torch.manual_seed(1)
    # 1 s, 0.5 s (not a multiple of 16 frames), 3 s, 21 s (two chunks, the last overlapping).
    clips = [torch.randn(n) * 0.1 for n in (16000, 8123, 48000, 336000)]
    batched = encoder.embed(clips)
    for i, clip in enumerate(clips):
        alone = encoder.embed([clip])
        n = alone.last_hidden_state.shape[1]
        assert batched.frames_mask[i].sum() == n and not batched.frames_mask[i, n:].any()
        assert (batched.pooler_output[i] - alone.pooler_output[0]).abs().max() <= 1e-5
        assert (batched.last_hidden_state[i, :n] - alone.last_hidden_state[0]).abs().max() <= 1e-5
        assert not batched.last_hidden_state[i, n:].any()
    mini = encoder.embed(clips, batch_size=3)
    assert torch.allclose(mini.pooler_output, batched.pooler_output, atol=1e-5)


def test_padding_value_does_not_leak(encoder):
    """Batch padding is sliced off by the mask, so garbage there must not change anything."""
    fe = encoder.feature_extractor
    inputs = fe([torch.randn(9000), torch.randn(16000)], sampling_rate=16000, return_tensors="pt")
    clean = encoder.model(**inputs).pooler_output
    dirty = inputs["input_values"].clone()
    dirty[0][:, inputs["attention_mask"][0] == 0] = 123.0
    assert torch.allclose(encoder.model(dirty, inputs["attention_mask"]).pooler_output, clean, atol=1e-6)


def test_feature_extractor_shapes_and_mask():
    fe = EchoFeatureExtractor()
    out = fe([torch.randn(16000), torch.randn(8000)], sampling_rate=16000, return_tensors="pt")
    assert out["input_values"].shape == (2, 201, 98)
    assert out["attention_mask"].sum(-1).tolist() == [98, 48]
    same = [torch.randn(16000) + 0.3, torch.randn(16000)]  # equal lengths share one STFT call
    stacked = fe(same, sampling_rate=16000, return_tensors="pt")["input_values"]
    for i, clip in enumerate(same):
        assert torch.allclose(
            stacked[i], fe(clip, sampling_rate=16000, return_tensors="pt")["input_values"][0], atol=1e-6
        )
    assert fe(torch.randn(48000), sampling_rate=48000, return_tensors="pt")["input_values"].shape == (1, 601, 98)
    with pytest.raises(LibtradError, match="shorter than one STFT window"):
        fe(torch.randn(100), sampling_rate=16000)
    with pytest.raises(LibtradError, match=r"raw_speech\[0\].*mono"):
        fe([torch.randn(2, 16000)], sampling_rate=16000)


def test_sampling_rate_must_match_bins(encoder):
    spec = EchoFeatureExtractor()(torch.randn(48000), sampling_rate=48000, return_tensors="pt")
    with pytest.raises(LibtradError, match="601 frequency bins"):
        encoder.model(**spec)
    assert encoder.model(**spec, sampling_rate=48000).pooler_output.shape == (1, 19 * 64)


def test_multichannel(encoder):
    wave = torch.randn(4, 16000) * 0.1
    per_channel = encoder.embed(list(wave)).pooler_output
    cat = encoder.embed_multichannel(wave)
    assert cat.pooler_output.shape == (1, 4 * 7 * 64)
    assert torch.allclose(cat.pooler_output[0], per_channel.reshape(-1), atol=1e-6)
    assert cat.last_hidden_state.shape == (1, 7, 4 * 7 * 64)
    mean = encoder.embed_multichannel(wave, reduction="mean")
    assert torch.allclose(mean.pooler_output[0], per_channel.mean(0), atol=1e-6)


def test_xares_style_contract(encoder):
    assert encoder.sampling_rate == 16000 and encoder.output_dim == 7 * 64 and encoder.hop_size_in_ms == 160.0
    audio = torch.randn(2, 16000)
    mask = torch.ones(2, 16000, dtype=torch.long)
    mask[1, 8000:] = 0
    frames = encoder(audio, mask)
    assert frames.shape == (2, 7, encoder.output_dim)
    assert torch.allclose(frames[1, :3], encoder(audio[1:, :8000])[0], atol=1e-5)


def test_small_defaults():
    cfg = EchoConfig()
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (384, 12, 6)
    assert cfg.output_dim() == 2688 and cfg.num_bands(48000) == 19


def test_from_pretrained_keeps_stored_fixed_tables(tmp_path):
    """_init_weights must not overwrite a checkpoint's pos_embed / cls_token with fresh values."""
    model = EchoModel(EchoConfig(**SMALL))
    with torch.no_grad():
        model.pos_embed.add_(0.5)
        model.cls_token.fill_(0.25)
    model.save_pretrained(tmp_path)
    loaded = EchoModel.from_pretrained(tmp_path)
    assert torch.equal(loaded.pos_embed, model.pos_embed) and torch.equal(loaded.cls_token, model.cls_token)
    loaded(torch.randn(201, 40)).pooler_output.sum().backward()
    assert loaded.pos_embed.grad is None and loaded.cls_token.grad is not None  # the table stays fixed


def test_bf16_precision_is_close_and_fp32_is_default(encoder):
    torch.manual_seed(3)
    clips = [0.1 * torch.randn(16000 * 2), 0.1 * torch.randn(16000 * 3)]
    fp32 = encoder.embed(clips)
    assert torch.equal(fp32.pooler_output, encoder.embed(clips, precision="fp32").pooler_output)
    bf16 = encoder.embed(clips, precision="bf16")
    assert bf16.pooler_output.dtype == torch.float32
    assert not torch.equal(bf16.pooler_output, fp32.pooler_output), "bf16 should really change the arithmetic"
    cosine = torch.nn.functional.cosine_similarity(bf16.pooler_output, fp32.pooler_output)
    assert cosine.min() > 0.999
    with pytest.raises(LibtradError, match="precision"):
        encoder.embed(clips, precision="fp8")
