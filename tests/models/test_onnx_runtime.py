"""The metadata both sides of an ONNX export share, and what the ONNX Runtime scorer refuses (one line each).

Parity of real exports with torch is in tests/convert/test_onnx_export.py; these tests need no export.
"""

from __future__ import annotations

import json
import sys

import pytest

from libtrad.core.errors import LibtradError
from libtrad.models.onnx_runtime import FORMAT, OnnxWaveformScorer, metadata_props, parse_metadata
from libtrad.models.waveform_scorer import AudioFacts

FACTS = AudioFacts(sampling_rate=16_000, n_fft=2048, hop_length=512, n_mels=64, top_db=80.0, min_samples=1)
CONFIG = '{\n  "model_type": "libtrad-attention-ae",\n  "detection": {"threshold": 3.5, "calibration": "tr1 val"}\n}\n'


def props(**changes) -> dict[str, str]:
    values = metadata_props(
        model_type="libtrad-attention-ae",
        config_text=CONFIG,
        preprocessor_text='{"feature_size": 64}',
        audio=FACTS,
        opset=18,
        source={"model_dir": "/m", "repo_id": "org/ae", "revision": "main", "commit": "c" * 40},
        sha256={"model.safetensors": "ab" * 32},
        parity={"max_abs_diff": {"scores": 1e-7}},
    )
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_metadata_round_trip_keeps_the_whole_config_and_every_fact():
    written = props()
    assert all(isinstance(v, str) for v in written.values())
    assert written["libtrad.config"] == CONFIG  # byte for byte: a detection section travels untouched
    meta = parse_metadata(written, "m.onnx")
    assert meta["config"]["detection"] == {"threshold": 3.5, "calibration": "tr1 val"}
    assert meta["audio"] == FACTS and meta["opset"] == 18 and meta["model_type"] == "libtrad-attention-ae"
    assert meta["source"]["commit"] == "c" * 40 and meta["sha256"] == {"model.safetensors": "ab" * 32}
    assert [o["name"] for o in meta["outputs"]] == ["scores", "frame_scores"]
    assert meta["inputs"] == [{"name": "waveform", "shape": ["batch", "samples"], "dtype": "float32"}]
    assert meta["audio"].to_dict()["frames"] == "1 + samples // hop_length"


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"libtrad.format": None}, "not a libtrad ONNX export (no libtrad.format metadata)"),
        ({"libtrad.audio": None}, "libtrad metadata incomplete (missing libtrad.audio)"),
        ({"libtrad.format": str(FORMAT + 1)}, f"libtrad ONNX format {FORMAT + 1} is newer"),
        ({"libtrad.outputs": "[not json"}, "unreadable libtrad metadata"),
        ({"libtrad.model_type": "libtrad-echo"}, "model type 'libtrad-echo' has no libtrad ONNX scorer"),
        ({"libtrad.config": '{"model_type": "libtrad-cnn"}'}, "is not the config.json of a libtrad-attention-ae"),
        ({"libtrad.audio": json.dumps({"sampling_rate": 16000})}, "libtrad.audio incomplete"),
    ],
)
def test_broken_metadata_is_one_line(changes, fragment):
    with pytest.raises(LibtradError) as info:
        parse_metadata(props(**changes), "m.onnx")
    assert str(info.value).startswith("m.onnx: ") and fragment in str(info.value)


def test_without_onnxruntime_the_scorer_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(LibtradError, match=r"onnxruntime is not installed .*pip install 'libtrad\[onnx\]'"):
        OnnxWaveformScorer(tmp_path / "m.onnx")


def identity_graph(output: str = "scores"):
    """A one-node ONNX graph (waveform -> ``output``), built with onnx's helpers: no export needed."""
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Identity", ["waveform"], [output])],
        "g",
        [helper.make_tensor_value_info("waveform", onnx.TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, ["batch", "samples"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def test_files_that_are_not_libtrad_exports_are_one_line(tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    with pytest.raises(LibtradError, match="no such ONNX file"):
        OnnxWaveformScorer(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(LibtradError, match="junk.onnx: not a loadable ONNX model"):
        OnnxWaveformScorer(tmp_path / "junk.onnx")
    plain = identity_graph()
    onnx.save(plain, tmp_path / "plain.onnx")
    with pytest.raises(LibtradError, match="plain.onnx: not a libtrad ONNX export"):
        OnnxWaveformScorer(tmp_path / "plain.onnx")
    onnx.helper.set_model_props(plain, props())  # an AE's metadata on a graph without frame_scores
    (tmp_path / "folder").mkdir()
    onnx.save(plain, tmp_path / "folder" / "model.onnx")
    with pytest.raises(LibtradError, match=r"model.onnx: the graph's inputs/outputs .* differ from its libtrad"):
        OnnxWaveformScorer(tmp_path / "folder")  # a folder: its model.onnx
