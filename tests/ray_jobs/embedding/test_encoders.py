"""The encoder contract behind ``libtrad embed``: the four kinds, exact batching, cache identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.embedding.encoders import describe, load_encoder, parse_encoder_spec

SR = 16_000


def clips(*seconds: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(s * SR))).astype(np.float32) for s in seconds]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("hf") / "tiny-wav2vec2"
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
    )
    Wav2Vec2Model(config).save_pretrained(out)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, do_normalize=True, return_attention_mask=True).save_pretrained(out)
    return out


def test_logmel_stats_contract_and_frames():
    enc = load_encoder("logmel-stats")
    assert describe(enc) == {"sampling_rate": SR, "output_dim": 128, "hop_size_in_ms": 32.0}
    pooled, frames = enc.embed(clips(1.0, 2.0))
    assert pooled.shape == (2, 128) and pooled.dtype == np.float32
    assert [f.shape for f in frames] == [(1 + SR // 512, 128), (1 + 2 * SR // 512, 128)]
    # the clip's std is the RMS over frames of the second half (|x_t - mean|)
    np.testing.assert_allclose(pooled[1, 64:], np.sqrt((frames[1][:, 64:] ** 2).mean(axis=0)), rtol=1e-5)
    out = enc(torch.from_numpy(np.stack(clips(1.0, 1.0))))
    assert out.shape == (2, 1 + SR // 512, 128)


def test_hf_encoder_is_the_mean_pooled_last_hidden_state(hf_dir):
    from transformers import AutoFeatureExtractor, AutoModel

    enc = load_encoder(f"hf:{hf_dir}")
    model, fe = AutoModel.from_pretrained(hf_dir).eval(), AutoFeatureExtractor.from_pretrained(hf_dir)
    audio = clips(1.0, 0.5, 1.0)
    pooled, frames = enc.embed(audio)
    for i, clip in enumerate(audio):
        with torch.no_grad():
            ref = model(**fe(clip, sampling_rate=SR, return_tensors="pt")).last_hidden_state[0]
        np.testing.assert_allclose(frames[i], ref.numpy(), atol=1e-5)
        np.testing.assert_allclose(pooled[i], ref.mean(0).numpy(), atol=1e-5)
    assert enc.output_dim == 16 and enc.sampling_rate == SR
    assert enc.hop_size_in_ms == pytest.approx(1000 / (frames[0].shape[0] - frames[1].shape[0]) / 2, rel=0.05)


def test_attention_ae_encoder_is_the_mean_attended_latent(ae_dir):
    from libtrad.models.attention_ae import LibTradAttentionAEFeatureExtractor, LibTradAttentionAEModel

    enc = load_encoder(f"attention-ae:{ae_dir}")
    assert describe(enc) == {"sampling_rate": SR, "output_dim": 8, "hop_size_in_ms": 32.0}
    model = LibTradAttentionAEModel.from_pretrained(ae_dir).eval()
    fe = LibTradAttentionAEFeatureExtractor.from_pretrained(ae_dir)
    audio = clips(1.0, 2.0)
    pooled, frames = enc.embed(audio)
    with torch.no_grad():
        ref = model(input_features=fe(audio[1], sampling_rate=SR)["input_features"]).last_hidden_state[0]
    np.testing.assert_allclose(frames[1], ref.numpy(), atol=1e-6)
    np.testing.assert_allclose(pooled[1], ref.mean(0).numpy(), atol=1e-6)


def test_a_batch_equals_its_clips_one_by_one(hf_dir, ae_dir):
    audio = clips(1.0, 0.3, 1.0, 2.0)
    for spec in ("logmel-stats", f"hf:{hf_dir}", f"attention-ae:{ae_dir}"):
        enc = load_encoder(spec)
        together, frames = enc.embed(audio)
        for i, clip in enumerate(audio):
            alone, alone_frames = enc.embed([clip])
            np.testing.assert_allclose(together[i], alone[0], atol=1e-5, err_msg=spec)
            np.testing.assert_allclose(frames[i], alone_frames[0], atol=1e-5, err_msg=spec)


def test_fingerprint_follows_file_bytes_not_names(ae_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ae_dir, copy)
    a, b = parse_encoder_spec(f"attention-ae:{ae_dir}"), parse_encoder_spec(f"attention-ae:{copy}")
    assert a.fingerprint() == b.fingerprint()
    (copy / "preprocessor_config.json").write_text(
        (copy / "preprocessor_config.json").read_text().replace("2048", "1024")
    )
    assert parse_encoder_spec(f"attention-ae:{copy}").fingerprint() != a.fingerprint()


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda d: d, "has no config.json"),
        (lambda d: (d / "config.json").write_text("{}") and d, "has no .safetensors weights"),
    ],
)
def test_model_folders_without_config_or_weights_are_refused(make, problem, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    make(folder)
    with pytest.raises(ParameterError, match=problem):
        parse_encoder_spec(f"hf:{folder}")


TOY_KIND = '''"""A toy encoder kind: per 10-ms frame, its RMS and mean; clip = their mean over frames."""
import torch

from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder


class FrameStatsEncoder(ClipEncoder):
    sampling_rate, output_dim, hop_size_in_ms = 16_000, 2, 10.0

    def _batch(self, batch):
        frames = batch[:, : batch.shape[1] // 160 * 160].reshape(batch.shape[0], -1, 160).double()
        out = torch.stack([frames.pow(2).mean(-1).sqrt(), frames.mean(-1)], dim=-1)
        return out.mean(dim=1), out
'''


def test_a_registered_kind_is_parsed_loaded_and_checked(tmp_path, monkeypatch):
    """The extension path: one encoder module + one registry line -> --encoder, load_encoder, check-encoder."""
    from libtrad.ray_jobs.embedding.check_encoder import check_encoder_spec
    from libtrad.ray_jobs.embedding.encoders import ENCODER_KINDS, EncoderKind

    (tmp_path / "toy_encoder_kind.py").write_text(TOY_KIND)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        ENCODER_KINDS, "frame-stats", EncoderKind("frame-stats", "none", "toy_encoder_kind:FrameStatsEncoder")
    )
    assert parse_encoder_spec("frame-stats").kind == "frame-stats"
    with pytest.raises(ParameterError, match="frame-stats takes no folder"):
        parse_encoder_spec("frame-stats:/x")
    with pytest.raises(ParameterError, match="frame-stats"):  # listed among the kinds in the error
        parse_encoder_spec("nope")
    enc = load_encoder("frame-stats")
    pooled, frames = enc.embed(clips(0.5, 1.0))
    assert pooled.shape == (2, 2) and [f.shape for f in frames] == [(50, 2), (100, 2)]
    failed = [r for r in check_encoder_spec("frame-stats", quick=True) if not r.passed]
    assert not failed, failed


def test_an_hf_folder_stating_an_impossible_rate_is_named_before_any_tensor(hf_dir, tmp_path, cli, rel):
    """10**16 Hz in preprocessor_config.json would size hf:'s 1-s probe of silence at 1e16 samples."""
    import json
    import shutil

    folder = tmp_path / "hf"
    shutil.copytree(hf_dir, folder)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**config, "sampling_rate": 10**16}))
    rel.assert_error_line(
        cli("check-encoder", f"hf:{folder}", "--quick"),
        f"{folder / 'preprocessor_config.json'}: sampling_rate is 10000000000000000, not an integer > 0 and <= 384000",
    )
