"""``libtrad export onnx``: a LiB-TRAD model -> one ONNX graph from raw audio to anomaly scores, with
the model's config and provenance inside (:mod:`libtrad.models.onnx_runtime` documents the metadata).

What is exported is :mod:`libtrad.models.onnx_graph`'s scoring graph (log-mel front end included,
opset 18 by default: the exporter cannot convert its ``Pad`` below 18, and ONNX ``STFT`` needs ≥ 17; a
graph whose opset is not the one asked for is refused), written by torch's dynamo-based exporter
(``torch.onnx.export(dynamo=True)``, which needs ``onnxscript``; the older TorchScript exporter
refuses the complex STFT). The log-mel goes in as ``front_end="matmul"`` by default (the factored DFT of
:mod:`libtrad.models.log_mel_graph`: a grouped ``Conv`` and ``MatMul`` operators, several times faster in ONNX
Runtime than its ``STFT`` kernel and runnable where ``STFT`` is not implemented) or ``"stft"`` (ONNX
``STFT``, the smaller graph); a model whose STFT does not factor gets ``STFT`` either way, and the
metadata's ``libtrad.front_end`` says which the graph holds. Either is checked against the torch path's
``torch.stft``. Both the batch and the time axis are dynamic: one file scores clips of
any length the model accepts, any number at a time.

Before anything is written the export is checked: ONNX Runtime runs the graph on seeded noise
(:data:`PROBES`: several batch sizes and lengths) and every output must agree with torch's within
``|Δ| ≤ ATOL + RTOL·|torch|`` (the measured maxima go into ``libtrad.parity``); otherwise nothing is
written.

``--output`` is a file when it ends in ``.onnx`` (replaced only when it is a libtrad ONNX export,
recognised by its metadata) and otherwise a libtrad folder of kind ``onnx`` (:mod:`libtrad.folders.outputs`:
``model.onnx`` beside the model's ``config.json`` and ``preprocessor_config.json``, as Hugging Face
Optimum lays out an exported model), replaced only when it is libtrad's ``onnx`` folder. Neither may
lie inside the model folder.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from libtrad.core.errors import LibtradError, first_line
from libtrad.folders.checksums import sha256_file
from libtrad.folders.outputs import atomic_output, check_output, follow_umask
from libtrad.models.onnx_graph import audio_facts, scoring_graph
from libtrad.models.onnx_runtime import PREFIX, import_onnx_package, metadata_props
from libtrad.models.waveform_scorer import INPUT, OUTPUTS, AudioFacts

OPSET = 18
ATOL, RTOL = 1e-4, 1e-5
# (clips, seconds) of the parity probes: several batch sizes and lengths, none a multiple of the hop
PROBES = ((1, 0.75), (3, 2.1), (2, 10.0))
MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
ONNX_FILE = "model.onnx"


@dataclass
class OnnxExport:
    """What :func:`export_onnx` wrote: the ``.onnx`` file, its model type, parity and timing."""

    path: Path
    model_type: str
    parity: dict
    seconds: float
    front_end: str = "stft"

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def check_onnx_output(output: str | Path, *, option: str = "--output", model_dir: str | Path | None = None) -> Path:
    """Resolve ``output`` and refuse it (one line) unless libtrad may write the export there; nothing is written.

    A ``.onnx`` path must be absent or a libtrad ONNX export; any other path is a folder of kind
    ``onnx`` (:func:`libtrad.folders.outputs.check_output`). Neither may lie inside ``model_dir``.
    """
    inputs = {"--model": model_dir}
    if not str(output).endswith(".onnx"):
        return check_output(output, "onnx", option=option, inputs=inputs)
    path = Path(output).expanduser().resolve()
    if model_dir is not None and path.is_relative_to(Path(model_dir).expanduser().resolve()):
        raise LibtradError(f"{option} {path}: lies inside the input --model {model_dir}; choose an output outside it")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise LibtradError(f"{option} {path}: exists and is not a regular file; refusing to replace it")
    if path.exists() and not _is_libtrad_export(path):
        raise LibtradError(
            f"{option} {path}: exists and is not a libtrad ONNX export; libtrad never overwrites a file it "
            "did not write (choose another path)"
        )
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise LibtradError(f"{option} {path}: cannot write in {parent}")
    return path


def _is_libtrad_export(path: Path) -> bool:
    onnx = import_onnx_package("onnx")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - not ONNX at all: not ours
        return False
    return any(p.key == PREFIX + "format" for p in proto.metadata_props)


def export_onnx(
    model,
    extractor,
    output: str | Path,
    *,
    model_dir: str | Path | None = None,
    source: dict | None = None,
    opset: int = OPSET,
    option: str = "--output",
    progress: bool = True,
    front_end: str = "matmul",
) -> OnnxExport:
    """Export ``model`` (a loaded LiB-TRAD model, e.g. from ``load_lib_trad_model``) with its ``extractor``.

    ``model_dir``: the folder it was loaded from (its ``config.json`` and ``preprocessor_config.json``
    go into the metadata byte for byte, with the SHA-256 of its files); ``source``: where a Hub model
    came from (repo, revision, commit). The model is moved to the CPU. ``progress`` shows the three
    steps (export, the parity check, writing) on stderr. ``front_end``: how the log-mel is written
    (``matmul`` or ``stft``, :data:`libtrad.models.onnx_graph.FRONT_ENDS`). Returns where the ``.onnx``
    file is.
    """
    started = time.perf_counter()
    check_onnx_output(output, option=option, model_dir=model_dir)
    for name in ("onnx", "onnxscript", "onnxruntime"):
        import_onnx_package(name)  # the one-line hint before minutes of work, not after
    model = model.to("cpu").eval()
    graph = scoring_graph(model, extractor)  # the torch path: what the export must reproduce
    exported = scoring_graph(model, extractor, front_end)
    audio = audio_facts(model, extractor)
    model_type = model.config.model_type
    folder = None if model_dir is None else Path(model_dir)
    with tqdm(total=3, desc=f"ONNX export of the {model_type} model", unit="step", disable=not progress) as steps:
        proto = _export_graph(exported, audio, model_type, opset)
        steps.update()
        parity = _parity(graph, proto.SerializeToString(), audio, model_type)
        steps.update()
        kind = exported.front_end.kind
        _describe(proto, model, extractor, folder, source, audio, opset, parity, kind)
        path = _write(proto.SerializeToString(), output, option, folder, proto)
        steps.update()
    seconds = time.perf_counter() - started
    return OnnxExport(path=path, model_type=model_type, parity=parity, seconds=seconds, front_end=kind)


def _describe(
    proto, model, extractor, folder: Path | None, source, audio: AudioFacts, opset: int, parity, front_end: str
) -> None:
    """Write libtrad's metadata (:func:`libtrad.models.onnx_runtime.metadata_props`) into ``proto``."""
    model_type = model.config.model_type
    props = metadata_props(
        model_type=model_type,
        config_text=_text(folder, "config.json", model.config.to_json_string),
        preprocessor_text=_text(folder, "preprocessor_config.json", extractor.to_json_string),
        audio=audio,
        opset=opset,
        front_end=front_end,
        source={"model_dir": None if folder is None else str(folder.resolve()), **(source or {})},
        sha256=None if folder is None else {f: sha256_file(folder / f) for f in MODEL_FILES if (folder / f).is_file()},
        parity=parity,
    )
    onnx = import_onnx_package("onnx")
    onnx.helper.set_model_props(proto, props)
    proto.producer_name, proto.producer_version = "libtrad", props[PREFIX + "version"]
    proto.doc_string = f"libtrad {model_type}: {INPUT} (batch, samples) -> {', '.join(OUTPUTS[model_type])}"


def _text(folder: Path | None, name: str, fallback) -> str:
    """A model folder's JSON file as it is on disk (a model object's own JSON without a folder)."""
    if folder is not None and (folder / name).is_file():
        return (folder / name).read_text(encoding="utf-8")
    return fallback()


def _probe(clips: int, seconds: float, audio: AudioFacts, seed: int) -> np.ndarray:
    samples = max(audio.min_samples, int(seconds * audio.sampling_rate) + 1)
    return (np.random.default_rng(seed).standard_normal((clips, samples)) * 0.1).astype(np.float32)


def _export_graph(graph, audio: AudioFacts, model_type: str, opset: int):
    """The graph as an ONNX ``ModelProto`` with dynamic batch and time axes (the exporter's chatter hidden)."""
    example = torch.from_numpy(_probe(2, 1.0, audio, seed=0))
    with torch.no_grad():
        graph(example)  # eager first: the front end's filterbank cache is filled outside the exporter's fake tensors
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("samples", min=max(2, audio.min_samples))}
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            logger.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping torchvision::nms" and the like
            program = torch.onnx.export(
                graph,
                (example,),
                dynamo=True,
                opset_version=int(opset),
                input_names=[INPUT],
                output_names=list(OUTPUTS[model_type]),
                dynamic_shapes={INPUT: dims},
                optimize=True,
                verbose=False,
            )
    except Exception as exc:  # noqa: BLE001 - the exporter's many error types: one line
        raise LibtradError(f"cannot export the {model_type} model to ONNX opset {opset} ({first_line(exc)})") from None
    finally:
        logger.setLevel(level)
    proto = program.model_proto
    written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != int(opset):  # the exporter falls back to its own opset where it cannot convert
        raise LibtradError(f"--opset {opset}: the exporter wrote opset {written}; choose an opset from 18 to 23")
    return proto


def _parity(graph, data: bytes, audio: AudioFacts, model_type: str) -> dict:
    """Max |torch − ONNX Runtime| per output over :data:`PROBES`; refused beyond ``ATOL + RTOL·|torch|``."""
    ort = import_onnx_package("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = list(OUTPUTS[model_type])
    worst = dict.fromkeys(names, 0.0)
    for seed, (clips, seconds) in enumerate(PROBES):
        x = _probe(clips, seconds, audio, seed=seed + 1)
        with torch.no_grad():
            expected = [t.numpy() for t in graph(torch.from_numpy(x))]
        found = session.run(names, {INPUT: x})
        for name, want, got in zip(names, expected, found):
            if want.shape != got.shape:
                raise LibtradError(f"ONNX export: output {name} has shape {got.shape}, torch's {want.shape}")
            diff = np.abs(want.astype(np.float64) - got)
            if not np.all(diff <= ATOL + RTOL * np.abs(want)):
                raise LibtradError(
                    f"ONNX export: ONNX Runtime's {name} differ from torch's by {diff.max():.3g} "
                    f"(allowed {ATOL:g} + {RTOL:g}·|value|); nothing written"
                )
            worst[name] = max(worst[name], float(diff.max()))
    return {"max_abs_diff": worst, "atol": ATOL, "rtol": RTOL, "probes": [list(p) for p in PROBES]}


def _write(data: bytes, output: str | Path, option: str, folder: Path | None, proto) -> Path:
    """The file, replaced atomically (``.onnx``), or the ``onnx`` folder with the model's JSON beside it."""
    props = {p.key: p.value for p in proto.metadata_props}
    if not str(output).endswith(".onnx"):
        with atomic_output(output, "onnx", option=option, inputs={"--model": folder}) as staging:
            (staging / ONNX_FILE).write_bytes(data)
            (staging / "config.json").write_text(props[PREFIX + "config"], encoding="utf-8")
            if PREFIX + "preprocessor_config" in props:
                (staging / "preprocessor_config.json").write_text(
                    props[PREFIX + "preprocessor_config"], encoding="utf-8"
                )
        return Path(output).expanduser().resolve() / ONNX_FILE
    path = check_onnx_output(output, option=option, model_dir=folder)  # it may have changed meanwhile
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        follow_umask(Path(temporary))  # mkstemp's 0600: the export follows the umask like any file the user writes
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


__all__ = ["ATOL", "OPSET", "PROBES", "RTOL", "OnnxExport", "check_onnx_output", "export_onnx"]
