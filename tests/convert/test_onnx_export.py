"""``libtrad export onnx``: the exported graphs score as the torch models do (ONNX Runtime, several batch sizes and
lengths), carry their metadata, and the command refuses what it must (one line each, nothing written).

Two exports per run (each ~5-15 s): the auto-encoder with the hardest graph (attention over 3 frames, the
percentile reduction) to a file and the CNN to a folder; the other reductions are checked against the model's
forward in tests/models/test_onnx_graph.py.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from libtrad.cli import main
from libtrad.convert.onnx_export import check_onnx_output
from libtrad.core.errors import LibtradError
from libtrad.folders.checksums import sha256_file
from libtrad.folders.marker import read_marker
from libtrad.folders.outputs import atomic_output
from libtrad.models.attention_ae import (
    LibTradAttentionAEConfig,
    LibTradAttentionAEFeatureExtractor,
    LibTradAttentionAEForAnomalyDetection,
)
from libtrad.models.cnn import LibTradCNNConfig, LibTradCNNFeatureExtractor, LibTradCNNForAudioClassification
from libtrad.models.onnx_graph import TorchWaveformScorer
from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from libtrad.models.onnx_runtime import OnnxWaveformScorer  # noqa: E402

DETECTION = {  # the form of libtrad.models.detection.DetectionSection, which config.json validates
    "threshold": 4.25,
    "normalisation": {"method": "robust-z", "loc": 1.0, "scale": 2.0},
    "window_s": 1.0,
    "median_s": 0.1,
    "min_duration_s": 0.0,
    "merge_gap_s": 1.0,
    "target_false_alarms_per_hour": 1.0,
    "calibration": {"config": "normal_charging", "hours": 2.9},
    "measured": None,
}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny fitted auto-encoder (with a ``detection`` section in its config) and a tiny CNN, as libtrad
    model folders."""
    root = tmp_path_factory.mktemp("onnx-models")
    torch.manual_seed(0)
    ae = LibTradAttentionAEForAnomalyDetection(
        LibTradAttentionAEConfig(hidden_size=16, latent_size=8, context_frames=3, score_reduction="percentile")
    )
    ae.fit_scorer(torch.randn(500, 8) * 1.5 + 0.5)
    ae.config.detection = DETECTION  # what train's calibration will add: it must travel untouched
    cnn = LibTradCNNForAudioClassification(LibTradCNNConfig(conv_channels=(4, 8, 8)))
    for name, model, extractor in (
        ("ae", ae, LibTradAttentionAEFeatureExtractor()),
        ("cnn", cnn, LibTradCNNFeatureExtractor()),
    ):
        with atomic_output(root / name, "model") as staging:
            model.save_pretrained(staging)
            extractor.save_pretrained(staging)
    return root


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx-out")
    written = {"ae": out / "ae.onnx", "cnn": out / "cnn-onnx"}
    front_ends = {"ae": [], "cnn": ["--front-end", "stft"]}  # the default (matmul) and ONNX's STFT operator
    for name, target in written.items():
        result = run("export", "onnx", "--model", models / name, "--output", target, *front_ends[name])
        assert result.exit_code == 0, result.output
        assert "ONNX Runtime matches torch within" in result.output
    return written


def noise(clips: int, seconds: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((clips, int(seconds * 16_000))) * 0.3).astype(np.float32)


@pytest.mark.parametrize("name", ["ae", "cnn"])
def test_onnx_runtime_scores_as_torch_does(models, exports, name):
    """|ONNX Runtime − torch| ≤ 1e-4 on every output (clip scores, the AE's frame scores, the CNN's logits),
    for 1 to 4 clips of 0.25 s to 10 s (not multiples of the hop: the time axis is dynamic); torch computes
    its log-mel with ``torch.stft``, the AE's graph as a factored DFT and the CNN's with ONNX ``STFT``."""
    model, extractor = load_lib_trad_model(models / name)
    torch_side, onnx_side = TorchWaveformScorer(model, extractor), OnnxWaveformScorer(exports[name], threads=1)
    assert onnx_side.output_names == torch_side.output_names
    operators = {node.op_type for node in onnx.load(str(onnx_side.path)).graph.node}
    assert onnx_side.metadata["front_end"] == {"ae": "matmul", "cnn": "stft"}[name]
    assert ("STFT" in operators) == (name == "cnn") and "DFT" not in operators, operators
    for seed, (clips, seconds) in enumerate([(1, 0.25), (4, 10.0), (3, 1.37), (2, 3.01)]):
        audio = noise(clips, seconds, seed)
        want, got = torch_side.score(audio), onnx_side.score(audio)
        for field in ("scores", "frame_scores", "logits"):
            if getattr(want, field) is None:
                assert getattr(got, field) is None
                continue
            assert got.__dict__[field].shape == want.__dict__[field].shape
            assert np.abs(got.__dict__[field] - want.__dict__[field]).max() <= 1e-4, (field, clips, seconds)
    mixed = [noise(1, s, 9)[0] for s in (0.5, 2.0, 0.5)]
    np.testing.assert_allclose(onnx_side.score(mixed).scores, torch_side.score(mixed).scores, atol=1e-4, rtol=0)


def test_the_metadata_carries_the_config_provenance_and_audio_facts(models, exports):
    proto = onnx.load(str(exports["ae"]))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["libtrad.config"] == (models / "ae" / "config.json").read_text()  # byte for byte
    assert proto.producer_name == "libtrad" and proto.opset_import[0].version == 18
    meta = OnnxWaveformScorer(exports["ae"]).metadata
    assert meta["config"]["detection"] == DETECTION
    assert meta["config"]["context_frames"] == 3 and meta["config"]["score_reduction"] == "percentile"
    assert meta["sha256"] == {
        f: sha256_file(models / "ae" / f) for f in ("config.json", "model.safetensors", "preprocessor_config.json")
    }
    assert meta["source"] == {"model_dir": str((models / "ae").resolve())}
    assert (meta["audio"].sampling_rate, meta["audio"].hop_length, meta["audio"].n_fft) == (16_000, 512, 2048)
    assert [o["name"] for o in meta["outputs"]] == ["scores", "frame_scores"]
    assert max(meta["parity"]["max_abs_diff"].values()) <= 1e-4
    assert json.loads(props["libtrad.preprocessor_config"])["n_fft"] == 2048


def test_a_folder_export_is_a_libtrad_onnx_folder(models, exports):
    folder = exports["cnn"]
    assert read_marker(folder)["kind"] == "onnx"
    assert sorted(read_marker(folder)["files"]) == ["config.json", "model.onnx", "preprocessor_config.json"]
    assert (folder / "config.json").read_bytes() == (models / "cnn" / "config.json").read_bytes()
    scorer = OnnxWaveformScorer(folder)
    assert scorer.model_type == "libtrad-cnn" and scorer.audio.min_samples == 3584
    check_onnx_output(folder)  # libtrad's own: may be replaced
    check_onnx_output(exports["ae"])


def test_a_file_libtrad_did_not_write_is_never_replaced(models, tmp_path, rel):
    theirs = tmp_path / "theirs.onnx"
    plain = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])],
            "g",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        )
    )
    onnx.save(plain, theirs)  # a valid ONNX file, but not libtrad's
    notes = tmp_path / "notes.onnx"
    notes.write_text("my notes, named .onnx by mistake")
    for target in (theirs, notes):
        before = target.read_bytes()
        result = run("export", "onnx", "--model", models / "ae", "--output", target)
        rel.assert_error_line(result, "exists and is not a libtrad ONNX export")
        assert target.read_bytes() == before


def test_command_errors_are_one_line_and_write_nothing(models, echo_dir, tmp_path, monkeypatch, rel):
    error_line = rel.assert_error_line
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    user = tmp_path / "user-folder"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    out = tmp_path / "out.onnx"
    cases = [
        (["--model", tmp_path / "nope", "--output", out], "not a saved model folder"),
        (["--model", broken, "--output", out], "config.json: not readable as UTF-8 JSON"),
        (["--model", echo_dir, "--output", out], "model type 'libtrad-echo' is not a LiB-TRAD model"),
        (["--model", models / "ae", "--output", user], "is not a libtrad folder"),
        (["--model", models / "ae", "--output", models / "ae" / "m.onnx"], "lies inside the input --model"),
        (["--model", models / "ae", "--output", models / "ae"], "is the input --model"),
        (["--model", models / "ae", "--output", tmp_path / "dir.onnx" / "x"], None),
        (["--model", models / "ae", "--output", out, "--opset", "16"], "--opset"),
    ]
    (tmp_path / "dir.onnx").write_text("a file where a folder would go")
    for args, fragment in cases:
        line = error_line(run("export", "onnx", *args))
        assert fragment is None or fragment in line, line
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    line = error_line(run("export", "onnx", "--model", models / "cnn", "--output", out))
    assert "onnxruntime is not installed" in line and "pip install 'libtrad[onnx]'" in line
    assert not out.exists() and sorted(p.name for p in user.iterdir()) == ["notes.txt"]


def test_export_refuses_an_unfitted_auto_encoder(tmp_path):
    from libtrad.convert.onnx_export import export_onnx

    model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig(hidden_size=16, latent_size=8))
    with pytest.raises(LibtradError, match="not fitted"):
        export_onnx(model, LibTradAttentionAEFeatureExtractor(), tmp_path / "m.onnx", progress=False)
    assert not (tmp_path / "m.onnx").exists()
