"""A LiB-TRAD model exported to ONNX (``libtrad export onnx``), scored with ONNX Runtime.

:class:`OnnxWaveformScorer` loads the file, checks the metadata libtrad wrote into it and gives the
same call as the torch model's backend (:class:`~libtrad.models.waveform_scorer.WaveformScorer`:
``score(audio) -> WaveformScores``), so ``detect --backend onnx`` can swap it in.

The metadata (ONNX ``metadata_props``, string → string; the JSON values are compact JSON) is the
one format both sides share — :func:`metadata_props` writes it, :func:`parse_metadata` reads it:

==============================  =====================================================================
``libtrad.format``              this layout's version (``1``)
``libtrad.version``             the libtrad that exported the file
``libtrad.model_type``          ``libtrad-attention-ae`` or ``libtrad-cnn``
``libtrad.config``              the model's whole ``config.json``, byte for byte (so a section libtrad
                                adds later — a ``detection`` threshold, score normalisation,
                                calibration — travels untouched)
``libtrad.preprocessor_config`` the model's ``preprocessor_config.json``
``libtrad.source``              JSON: the model folder, and for a Hub model its repo, revision, commit
``libtrad.sha256``              JSON: file name → SHA-256 of the model folder's files
``libtrad.opset``               the ONNX opset of the graph
``libtrad.front_end``           how the log-mel is written: ``matmul`` (factored DFT) or ``stft``
                                (ONNX ``STFT``); absent in files from before it was recorded (``stft``)
``libtrad.inputs``              JSON: ``[{"name", "shape", "dtype"}]`` (``waveform`` (batch, samples))
``libtrad.outputs``             JSON: the same for the outputs (``scores`` first)
``libtrad.audio``               JSON: sampling rate, n_fft, hop, mel bins, top_db, ``min_samples``,
                                the frame convention (centred; ``1 + samples // hop_length`` frames)
``libtrad.parity``              JSON: max |torch − ONNX Runtime| per output, measured at export
==============================  =====================================================================

onnxruntime is an optional dependency (the ``onnx`` extra); without it the scorer is one line
naming the extra.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np

from libtrad.core.errors import LibtradError, first_line
from libtrad.core.version import __version__
from libtrad.models.waveform_scorer import INPUT, OUTPUTS, AudioFacts, WaveformScorer

FORMAT = 1
PREFIX = "libtrad."
JSON_KEYS = ("source", "sha256", "inputs", "outputs", "audio", "parity")
REQUIRED = ("format", "version", "model_type", "config", "opset", "inputs", "outputs", "audio")
EXTRA = "onnx"  # pip install 'libtrad[onnx]'


def import_onnx_package(name: str):
    """``onnxruntime``, ``onnx`` or ``onnxscript``; missing, one line naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise LibtradError(
            f"{name} is not installed ({first_line(exc)}): install libtrad's {EXTRA} extra "
            f"(pip install 'libtrad[{EXTRA}]')"
        ) from None


def tensor_specs(model_type: str, n_samples: str = "samples") -> tuple[list[dict], list[dict]]:
    """The graph's (inputs, outputs) as ``{"name", "shape", "dtype"}`` records (symbolic dimensions by name)."""
    shapes = {"scores": ["batch"], "frame_scores": ["batch", "frames"], "logits": ["batch", 2]}
    inputs = [{"name": INPUT, "shape": ["batch", n_samples], "dtype": "float32"}]
    outputs = [{"name": name, "shape": shapes[name], "dtype": "float32"} for name in OUTPUTS[model_type]]
    return inputs, outputs


def metadata_props(
    *,
    model_type: str,
    config_text: str,
    preprocessor_text: str | None,
    audio: AudioFacts,
    opset: int,
    source: dict | None,
    front_end: str | None = None,
    sha256: dict | None,
    parity: dict | None,
) -> dict[str, str]:
    """The ``metadata_props`` of an export (all values strings)."""
    inputs, outputs = tensor_specs(model_type)
    values = {
        "format": str(FORMAT),
        "version": __version__,
        "model_type": model_type,
        "config": config_text,
        "preprocessor_config": preprocessor_text,
        "source": source,
        "sha256": sha256,
        "opset": str(int(opset)),
        "front_end": front_end,
        "inputs": inputs,
        "outputs": outputs,
        "audio": audio.to_dict(),
        "parity": parity,
    }
    return {
        PREFIX + key: value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
        for key, value in values.items()
        if value is not None
    }


def parse_metadata(props: dict[str, str], where) -> dict:
    """``metadata_props`` -> a dict (JSON values parsed, ``config`` as a dict), every key checked;
    anything missing or malformed is one line naming ``where``."""
    if PREFIX + "format" not in props:
        raise LibtradError(f"{where}: not a libtrad ONNX export (no {PREFIX}format metadata)")
    missing = [PREFIX + key for key in REQUIRED if PREFIX + key not in props]
    if missing:
        raise LibtradError(f"{where}: libtrad metadata incomplete (missing {', '.join(missing)})")
    meta: dict = {key[len(PREFIX) :]: value for key, value in props.items() if key.startswith(PREFIX)}
    try:
        version = int(meta["format"])
        for key in (*JSON_KEYS, "config", "preprocessor_config"):
            if key in meta:
                meta[key] = json.loads(meta[key])
        meta["opset"] = int(meta["opset"])
        meta.setdefault("front_end", "stft")  # files exported before it was recorded hold ONNX STFT
    except ValueError as exc:
        raise LibtradError(f"{where}: unreadable libtrad metadata ({first_line(exc)})") from None
    if version > FORMAT:
        raise LibtradError(f"{where}: libtrad ONNX format {version} is newer than this libtrad reads ({FORMAT})")
    if meta["model_type"] not in OUTPUTS:
        raise LibtradError(f"{where}: model type {meta['model_type']!r} has no libtrad ONNX scorer")
    if not isinstance(meta["config"], dict) or meta["config"].get("model_type") != meta["model_type"]:
        raise LibtradError(f"{where}: {PREFIX}config is not the config.json of a {meta['model_type']} model")
    try:
        meta["audio"] = AudioFacts.from_dict(meta["audio"])
    except (KeyError, TypeError) as exc:
        raise LibtradError(f"{where}: {PREFIX}audio incomplete ({first_line(exc)})") from None
    return meta


class OnnxWaveformScorer(WaveformScorer):
    """ONNX Runtime backend: ``OnnxWaveformScorer("model.onnx").score(audio)`` (or a folder holding
    ``model.onnx``). ``threads`` sets ONNX Runtime's intra-op threads (default: its own choice);
    ``providers`` its execution providers (default: the CPU).

    ``metadata``: the parsed libtrad metadata; ``config``: the model's ``config.json`` as exported.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None, providers: list[str] | None = None):
        ort = import_onnx_package("onnxruntime")
        path = Path(path).expanduser()
        if path.is_dir():
            path = path / "model.onnx"
        if not path.is_file():
            raise LibtradError(f"{path}: no such ONNX file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its constant-folding warnings are not the user's concern
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types: one line naming the file
            raise LibtradError(f"{path}: not a loadable ONNX model ({first_line(exc)})") from None
        self.path = path
        self.metadata = parse_metadata(dict(self.session.get_modelmeta().custom_metadata_map), path)
        self.model_type = self.metadata["model_type"]
        self.audio = self.metadata["audio"]
        self.config = self.metadata["config"]
        found = (
            [i.name for i in self.session.get_inputs()],
            [o.name for o in self.session.get_outputs()],
        )
        recorded = ([i["name"] for i in self.metadata["inputs"]], [o["name"] for o in self.metadata["outputs"]])
        if found != recorded or recorded[1] != list(OUTPUTS[self.model_type]):
            raise LibtradError(
                f"{path}: the graph's inputs/outputs {found} differ from its libtrad metadata {recorded}"
            )

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(list(self.output_names), {INPUT: batch})
        return dict(zip(self.output_names, values))


__all__ = ["FORMAT", "OnnxWaveformScorer", "import_onnx_package", "metadata_props", "parse_metadata", "tensor_specs"]
