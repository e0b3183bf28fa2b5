"""HEAR modules both ways: ``hear:MODULE`` wraps a HEAR-API package as an encoder, and ``libtrad.hear``
exposes libtrad's encoders as a HEAR module (its self-check is hearvalidator's checks)."""

from __future__ import annotations

import runpy
import sys
import textwrap

import numpy as np
import pytest
import torch

from libtrad.core.errors import ParameterError
from libtrad.folders.checksums import sha256_file
from libtrad.ray_jobs.embedding.encoders import load_encoder, parse_encoder_spec

# A HEAR-API package: centred 50-ms windows every 25 ms (frame k centred on sample 400 k), six
# statistics per window times the scale its model file holds; scene = the mean over windows.
# Each variant breaks one promise.
FAKE = """
import torch
{top}

HOP = 400
SCENE, STAMP = {scene}, 6


class Model(torch.nn.Module):
    sample_rate = 16000
    scene_embedding_size = SCENE
    timestamp_embedding_size = STAMP

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(float(scale)), requires_grad=False)

    {model_extra}


def load_model(model_file_path=""):
    {load}
    return Model(float(open(model_file_path).read()) if model_file_path else 1.0)


def get_timestamp_embeddings(audio, model):
    windows = torch.nn.functional.pad(audio, (HOP, HOP)).unfold(1, 2 * HOP, HOP)
    emb = torch.stack([windows.mean(-1), windows.std(-1), windows.abs().mean(-1), windows.amax(-1),
                       windows.amin(-1), windows.diff(dim=-1).pow(2).mean(-1)], dim=-1) * model.scale
    stamps = torch.arange(emb.shape[1], dtype=torch.float32) * 1000.0 * HOP / model.sample_rate
    {stamps}
    return {emb}, stamps.expand(emb.shape[:2])


def get_scene_embeddings(audio, model):
    {scene_hook}
    emb = get_timestamp_embeddings(audio, model)[0]
    return torch.cat([emb.mean(dim=1)] * (SCENE // STAMP), dim=-1)
"""
VARIANTS = {
    "hearfake": {},
    "hearfake_no_stamps": {"cut": "def get_timestamp_embeddings"},
    "hearfake_raises": {"load": 'raise RuntimeError("checkpoint format 3 is not supported")'},
    "hearfake_nan": {"emb": "emb * float('nan')"},
    "hearfake_irregular": {"stamps": "stamps = stamps * (1 + stamps / 1e4)"},
    "hearfake_wide": {"scene": "12"},
    "hearfake_exits": {"top": "import sys; sys.exit(0)"},
    "hearfake_rate_raises": {"model_extra": "sample_rate = property(lambda self: {}['sample_rate'])"},
    "hearfake_huge_rate": {"model_extra": "sample_rate = 10**16"},
    "hearfake_scene_hangs": {"scene_hook": "import time; time.sleep(3600)"},
    "hearfake_os_exit": {"top": "import os; os._exit(0)"},
}


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hear-packages")
    for name, change in VARIANTS.items():
        text = FAKE.format(
            scene=change.get("scene", "6"),
            load=change.get("load", "pass"),
            stamps=change.get("stamps", "pass"),
            emb=change.get("emb", "emb"),
            top=change.get("top", ""),
            model_extra=change.get("model_extra", "pass"),
            scene_hook=change.get("scene_hook", "pass"),
        )
        if "cut" in change:  # drop the function (up to the next blank-line pair)
            start = text.index(change["cut"])
            text = text[:start] + text[text.index("\n\n\n", start) + 3 :]
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def fakes(fake_root, monkeypatch):
    """The fake HEAR packages importable (and forgotten again afterwards)."""
    monkeypatch.syspath_prepend(str(fake_root))
    yield fake_root
    for name in VARIANTS:
        sys.modules.pop(name, None)


def _noise(seconds: float, seed: int, rate: int = 16000) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


# ----------------------------------------------------------------------------- hear: as an encoder
def test_a_hear_module_embeds_with_its_scene_and_timestamp_embeddings(fakes, tmp_path):
    import hearfake

    encoder = load_encoder("hear:hearfake", device="cpu")
    assert (encoder.sampling_rate, encoder.output_dim, encoder.hop_size_in_ms) == (16000, 6, 25.0)
    clips = [_noise(1.0, 0), _noise(0.37, 1)]
    pooled, frames = encoder.embed(clips)
    for clip, got_clip, got_frames in zip(clips, pooled, frames):
        model = hearfake.load_model()
        want = hearfake.get_timestamp_embeddings(torch.from_numpy(clip[None]), model)[0][0].numpy()
        assert got_frames.shape == (len(clip) // 400 + 1, 6) and got_frames.dtype == np.float32
        np.testing.assert_array_equal(got_frames, want)
        np.testing.assert_array_equal(got_clip, hearfake.get_scene_embeddings(torch.from_numpy(clip[None]), model)[0])

    weights = tmp_path / "scale.txt"
    weights.write_text("2")
    scaled = load_encoder(f"hear:hearfake?model_file={weights}", device="cpu")
    np.testing.assert_allclose(scaled.embed(clips[:1])[0], 2 * pooled[:1], rtol=1e-6)
    plain, with_file = (
        parse_encoder_spec(s).fingerprint() for s in ("hear:hearfake", f"hear:hearfake?model_file={weights}")
    )
    assert set(plain["identity"]["module_files"]) == {"__init__.py"} and "model_file" not in plain["identity"]
    assert with_file["identity"]["model_file"] == sha256_file(weights)  # its bytes, not where it lies
    weights.write_text("3")  # the model file's bytes are the cache key, not its name
    assert parse_encoder_spec(f"hear:hearfake?model_file={weights}").fingerprint() != with_file != plain


def test_check_encoder_passes_on_a_hear_module(fakes, cli):
    result = cli("check-encoder", "hear:hearfake", "--quick")
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("13 checks, 0 failed")


def test_scene_and_timestamp_sizes_must_agree_unless_the_clip_is_their_mean(fakes):
    with pytest.raises(
        ParameterError, match="scene_embedding_size 12 differs from timestamp_embedding_size 6.*clip=mean"
    ):
        load_encoder("hear:hearfake_wide", device="cpu")
    encoder = load_encoder("hear:hearfake_wide?clip=mean", device="cpu")
    pooled, frames = encoder.embed([_noise(0.5, 3)])
    assert encoder.output_dim == 6 and pooled.shape == (1, 6)
    np.testing.assert_allclose(pooled[0], frames[0].mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ("hear:hearfake_no_stamps", ("hear:hearfake_no_stamps", "not a HEAR module", "no get_timestamp_embeddings")),
        ("hear:hearfake_raises", ("hearfake_raises.load_model() raised RuntimeError", "checkpoint format 3")),
        ("hear:hearfake_nan", ("hear:hearfake_nan", "NaN or infinite values", "timestamp embeddings")),
        ("hear:hearfake_irregular", ("hear:hearfake_irregular", "irregular timestamps")),
        ("hear:no_such_hear_package", ("no module named no_such_hear_package",)),
        ("hear:hearfake?model_file=/no/such/file", ("model_file /no/such/file does not exist",)),
        ("hear:hearfake?hop=10", ("unknown option 'hop'",)),
        ("hear:hearfake?clip=max", ("clip=max: expected one of scene, mean",)),
        ("hear:libtrad.hear?model_file=nope", ("libtrad encoder spec", "unknown encoder kind 'nope'")),
    ],
)
def test_each_bad_hear_module_is_one_error_line(fakes, cli, rel, spec, fragments):
    before = rel.snapshot(fakes)
    rel.assert_error_line(cli("check-encoder", spec, "--quick"), "SPEC", *fragments)
    assert rel.snapshot(fakes) == before


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("hear:hearfake_exits", "cannot import HEAR module hearfake_exits (called sys.exit(0))"),
        ("hear:hearfake_rate_raises", "hearfake_rate_raises.load_model().sample_rate raised KeyError: 'sample_rate'"),
        ("hear:hearfake_huge_rate", "sample_rate is 10000000000000000, not an integer > 0 and <= 384000"),
        (
            "hear:hearfake_scene_hangs",
            "get_scene_embeddings on a 4-s clip did not finish within 1 s (--encoder-timeout)",
        ),
    ],
    ids=["exits", "rate-raises", "rate-10e16", "scene-never-returns"],
)
def test_a_hear_modules_own_failures_are_named_never_internal_or_a_hang(fakes, spec, fragment):
    """The module's code is bounded like a py: class's: SystemExit, a property that raises, a declared rate
    that would size the probe clip at 4e16 samples (never "out of memory ... smaller --batch-size"), a
    function that never returns."""
    from libtrad.ray_jobs.embedding.encoders import with_timeout

    with pytest.raises(ParameterError) as caught:
        load_encoder(with_timeout(parse_encoder_spec(spec), 1), device="cpu")
    assert fragment in caught.value.problem and "batch-size" not in caught.value.problem


def test_the_hear_self_check_of_a_module_that_ends_its_process_is_one_error_line(fakes, monkeypatch, capsys):
    """``python -m libtrad.hear hear:MODULE`` runs the module apart: its os._exit(0) is not "all passed"."""
    monkeypatch.setenv("PYTHONPATH", str(fakes))  # the check's own process imports it as an installed package
    code, out, err = _run_module(monkeypatch, capsys, "hear:hearfake_os_exit")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("error: SPEC 'hear:hearfake_os_exit': import hearfake_os_exit: the encoder's code ended")


def test_hear_takes_no_encoder_weights(fakes, tmp_path):
    with pytest.raises(ParameterError, match="takes no --encoder-weights.*model_file="):
        parse_encoder_spec("hear:hearfake", weights=tmp_path / "w.safetensors")


# ----------------------------------------------------------------------------- libtrad.hear
def _run_module(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """``python -m libtrad.hear ARGS``, run as ``-m`` runs it (its ``__main__``) in this process."""
    monkeypatch.setattr(sys, "argv", ["libtrad.hear", *map(str, args)])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("libtrad.hear", run_name="__main__", alter_sys=False)
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def test_libtrad_hear_on_logmel_stats_passes_its_self_check_and_agrees_with_embed(monkeypatch, capsys):
    import libtrad.hear as hear

    code, out, err = _run_module(monkeypatch, capsys, "logmel-stats", "--device", "cpu")
    assert code == 0, out + err
    assert out.strip().endswith("8 checks, 0 failed, 0 warnings") and "FAIL" not in out, out

    model = hear.load_model("logmel-stats")
    assert isinstance(model, torch.nn.Module) and model.to("cpu") is model
    assert (model.sample_rate, model.scene_embedding_size, model.timestamp_embedding_size) == (16000, 128, 128)
    audio = torch.from_numpy(np.stack([_noise(1.0, 0), _noise(1.0, 1)]))
    frames, stamps = hear.get_timestamp_embeddings(audio, model)
    pooled, own = load_encoder("logmel-stats", device="cpu").embed(list(audio.numpy()))
    assert frames.shape == (2, 16000 // 512 + 1, 128) and frames.dtype == torch.float32
    np.testing.assert_array_equal(frames.numpy(), np.stack(own))
    np.testing.assert_array_equal(stamps.numpy(), np.tile(np.arange(32) * 32.0, (2, 1)))  # centred frames: k x 32 ms
    np.testing.assert_array_equal(hear.get_scene_embeddings(audio, model).numpy(), pooled)


def test_libtrad_hear_on_echo_passes_with_its_160_ms_hop_stated(echo_dir, monkeypatch, capsys):
    import libtrad.hear as hear

    code, out, err = _run_module(monkeypatch, capsys, f"echo:{echo_dir}", "--device", "cpu")
    assert code == 0 and "FAIL" not in out, out + err
    assert "160 ms apart; HEAR suggests at most 50 ms" in out

    model = hear.load_model(f"echo:{echo_dir}")
    # 20.36 s: longer than one ECHO chunk (2000 spectrogram frames), still one regular grid of patch
    # centres; its 128th patch (centred at 20407.5 ms, mostly padding) is left out
    long = torch.from_numpy(_noise(20.36, 4)[None])
    frames, stamps = hear.get_timestamp_embeddings(long, model)
    assert frames.shape == (1, 127, model.timestamp_embedding_size)
    np.testing.assert_array_equal(stamps[0].numpy(), 160.0 * np.arange(127) + 87.5)
    _, own = model.encoder.embed([long[0].numpy()])  # ECHO's own output: the first chunk's patches are the same
    np.testing.assert_allclose(frames[0, :125].numpy(), own[0][:125], atol=1e-5)


def test_libtrad_hear_refuses_a_bad_or_empty_spec_in_one_line(monkeypatch, capsys, tmp_path):
    for args, fragment in (
        (["nope"], "unknown encoder kind 'nope'"),
        ([""], "no default encoder"),
        ([f"echo:{tmp_path}"], "has no config.json"),
    ):
        code, out, err = _run_module(monkeypatch, capsys, *args)
        lines = err.strip().splitlines()
        assert code == 2 and not out and len(lines) == 1 and lines[0].startswith("error: SPEC "), (out, err)
        assert fragment in lines[0]


def test_round_trip_hear_of_libtrad_hear_is_the_encoder_itself(fakes):
    clips = [_noise(1.3, 5), _noise(0.6, 6)]
    wrapped = load_encoder("hear:libtrad.hear?model_file=logmel-stats", device="cpu")
    plain = load_encoder("logmel-stats", device="cpu")
    assert (wrapped.sampling_rate, wrapped.output_dim) == (plain.sampling_rate, plain.output_dim)
    assert wrapped.hop_size_in_ms == pytest.approx(plain.hop_size_in_ms, abs=1e-3)
    (a, fa), (b, fb) = wrapped.embed(clips), plain.embed(clips)
    np.testing.assert_array_equal(a, b)
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x, y)
    identity = parse_encoder_spec("hear:libtrad.hear?model_file=logmel-stats").fingerprint()["identity"]
    assert identity["model"] == parse_encoder_spec("logmel-stats").fingerprint()

    import libtrad.hear as hear  # and the other way round: a hear: encoder's own timestamps come back

    model = hear.load_model("hear:hearfake")
    _, stamps = hear.get_timestamp_embeddings(torch.from_numpy(_noise(1.0, 7)[None]), model)
    np.testing.assert_allclose(stamps[0].numpy(), 25.0 * np.arange(41))


def test_the_published_hearvalidator_accepts_libtrad_hear(monkeypatch, capsys):
    """hearvalidator 2021.0.2 (the last release installable on Python >= 3.9) on ``libtrad.hear``.

    Skipped where it is not installed (``pip install --no-deps hearvalidator==2021.0.2``: it is not
    in the test extra, since its requirements pull TensorFlow). It imports TensorFlow at start only
    to recognise a TensorFlow model (``isinstance(model, tf.Module)``); where TensorFlow is absent
    a stand-in with just that class takes its place, and the PyTorch checks run as published."""
    import importlib.util
    import types

    if importlib.util.find_spec("hearvalidator") is None:
        pytest.skip("hearvalidator is not installed (pip install --no-deps hearvalidator==2021.0.2)")
    if importlib.util.find_spec("tensorflow") is None:
        monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(Module=type("Module", (), {})))
    monkeypatch.delitem(sys.modules, "hearvalidator.validate", raising=False)
    from hearvalidator.validate import ValidateModel

    ValidateModel("libtrad.hear", "logmel-stats", device="cpu")()  # raises its ModelError on a breach
    assert "Interval between timestamps is 32.0ms" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_hear_model_and_its_audio_are_on_the_gpu(fakes):
    import libtrad.hear as hear

    clips = [_noise(1.0, 8)]
    encoder = load_encoder("hear:hearfake", device="cuda")
    assert encoder.model.scale.device.type == "cuda"  # the module's model moved with the encoder
    np.testing.assert_allclose(
        encoder.embed(clips)[0], load_encoder("hear:hearfake", device="cpu").embed(clips)[0], rtol=1e-4, atol=1e-6
    )
    model = hear.load_model("logmel-stats").to("cuda")
    audio = torch.from_numpy(clips[0][None]).cuda()
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.device.type == "cuda" and model.encoder.device.type == "cuda"
    np.testing.assert_allclose(
        scene.cpu().numpy(), hear.get_scene_embeddings(audio.cpu(), model.cpu()).numpy(), rtol=1e-4, atol=1e-5
    )
