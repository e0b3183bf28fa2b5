"""ONNX Runtime vs the torch CPU path for the LiB-TRAD models (issue 31's target: ONNX Runtime ≥ torch on CPU).

The workload is one LiB-TRAD segment: 4 microphones × 10 s at 16 kHz, scored as a batch of 4 clips from raw
audio (log-mel front end included), by the paper-size models (attention AE 64→128→64 with the literal
one-frame attention and mean reduction; CNN 16/32/64 channels) with seeded weights and a fitted scorer; then
one 4-channel 1-s block, what ``libtrad detect`` scores. Backends, each on ``--threads`` threads (default 2):

* ``torch (extractor + forward)``: what libtrad's evaluation runs: the feature extractor, then
  ``model(**features)``;
* ``torch (scoring graph)``: :class:`libtrad.models.onnx_graph.TorchWaveformScorer`, what ``detect`` runs;
* ``ONNX Runtime, matmul front end``: :class:`libtrad.models.onnx_runtime.OnnxWaveformScorer` on the file
  ``libtrad export onnx`` writes by default (the log-mel as a grouped Conv and MatMuls,
  :mod:`libtrad.models.log_mel_graph`; its export time is reported too);
* ``ONNX Runtime, STFT front end``: the same with ``--front-end stft`` (ONNX's ``STFT`` operator).

Timing: median seconds per call over ``--repeats`` calls in blocks, each backend's block after a few warm-up
calls, the blocks alternating over ``ROUNDS`` rounds. Not call by call: both libraries' thread pools keep
spinning for a while after a call returns (ONNX Runtime's intra-op threads, torch's OpenMP threads), so a
call made right after the other backend's finds its two cores busy — interleaving calls one by one measured
torch's 1-s block at 7 ms instead of 2 ms (2026-12-07).

Prints two tables and writes their section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402

import libtrad  # noqa: E402,F401
from libtrad.convert.onnx_export import export_onnx  # noqa: E402
from libtrad.models.attention_ae import (  # noqa: E402
    LibTradAttentionAEConfig,
    LibTradAttentionAEFeatureExtractor,
    LibTradAttentionAEForAnomalyDetection,
)
from libtrad.models.cnn import LibTradCNNConfig, LibTradCNNFeatureExtractor, LibTradCNNForAudioClassification  # noqa: E402
from libtrad.models.onnx_graph import TorchWaveformScorer  # noqa: E402
from libtrad.models.onnx_runtime import OnnxWaveformScorer  # noqa: E402

CHANNELS, SECONDS, RATE = 4, 10.0, 16_000


def paper_models():
    torch.manual_seed(0)
    ae = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig()).eval()
    ae.fit_scorer(torch.randn(4096, 64))
    cnn = LibTradCNNForAudioClassification(LibTradCNNConfig()).eval()
    return {
        "attention AE": (ae, LibTradAttentionAEFeatureExtractor()),
        "CNN": (cnn, LibTradCNNFeatureExtractor()),
    }


ROUNDS, WARM_UP = 4, 3


def timed_blocks(backends: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each backend: ``repeats`` calls per backend, in ``ROUNDS`` alternating blocks."""
    times = {name: [] for name in backends}
    per_block = max(1, repeats // ROUNDS)
    for _ in range(ROUNDS):
        for name, fn in backends.items():
            for _ in range(WARM_UP):  # the other backend's threads wind down; allocators and kernels warm
                fn()
            for _ in range(per_block):
                started = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in times.items()}


def backends(model, extractor, folder: Path, threads: int) -> tuple[dict, dict]:
    """The scorers of one model (torch's extractor + forward as a callable taking audio) and its two exports."""
    torch_graph = TorchWaveformScorer(model, extractor)

    @torch.inference_mode()
    def forward(audio):
        return model(**extractor(list(audio))).scores

    scorers = {"torch (extractor + forward)": forward, "torch (scoring graph)": torch_graph.score}
    exports = {}
    for front_end in ("matmul", "stft"):
        exported = export_onnx(model, extractor, folder / f"{front_end}.onnx", progress=False, front_end=front_end)
        exports[front_end] = exported
        scorers[f"ONNX Runtime, {front_end} front end"] = OnnxWaveformScorer(exported.path, threads=threads).score
    return scorers, exports


def stft_profile(path: Path, block: np.ndarray, threads: int, runs: int) -> tuple[float, float]:
    """(ms per run in ONNX Runtime's ``STFT`` kernel, ms in every other operator), from its own profiler."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.enable_profiling, options.log_severity_level = threads, True, 3
    options.profile_file_prefix = str(path.with_suffix(""))  # its trace beside the export, not in the cwd
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for _ in range(runs):
        session.run(names, {session.get_inputs()[0].name: block})
    trace = Path(session.end_profiling())
    events = [e for e in json.loads(trace.read_text()) if e.get("cat") == "Node"]
    trace.unlink()
    stft = sum(e["dur"] for e in events if e["args"].get("op_name") == "STFT") / runs / 1e3
    return stft, sum(e["dur"] for e in events) / runs / 1e3 - stft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    segment = (0.1 * np.random.default_rng(0).standard_normal((CHANNELS, int(SECONDS * RATE)))).astype(np.float32)
    block = segment[:, :RATE].copy()
    rows, block_rows, profile_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (model, extractor) in paper_models().items():
            folder = Path(tmp) / label.replace(" ", "-")
            folder.mkdir()
            scorers, exports = backends(model, extractor, folder, args.threads)
            seconds = timed_blocks({name: (lambda fn=fn: fn(segment)) for name, fn in scorers.items()}, args.repeats)
            graph_s = seconds["torch (scoring graph)"]
            for backend, s in seconds.items():
                front_end = backend.split(", ")[1].split()[0] if backend.startswith("ONNX") else None
                exported = exports.get(front_end)
                rows.append(
                    [
                        label,
                        backend,
                        f"{s * 1e3:.1f}",
                        f"{CHANNELS / s:.0f}",
                        f"{SECONDS / s:.0f}×",
                        f"{graph_s / s:.2f}",
                        f"{exported.seconds:.1f} s, {exported.size / 1e6:.2f} MB, max Δ "
                        f"{max(exported.parity['max_abs_diff'].values()):.1g}"
                        if exported
                        else "",
                    ]
                )
            detect_like = {name: fn for name, fn in scorers.items() if name != "torch (extractor + forward)"}
            block_s = timed_blocks(
                {name: (lambda fn=fn: fn(block)) for name, fn in detect_like.items()}, args.repeats * 4
            )
            for backend, s in block_s.items():
                block_rows.append([label, backend, f"{s * 1e3:.2f}", f"{block_s['torch (scoring graph)'] / s:.2f}"])
            kernel, rest = stft_profile(exports["stft"].path, block, args.threads, args.repeats * 4)
            profile_rows.append([label, f"{kernel:.2f}", f"{rest:.2f}"])
    load = os.getloadavg()[0]  # on a shared machine the absolute times say as much about the neighbours
    headers = ["model", "backend", "ms / segment", "clips/s", "× real time", "speed vs torch graph", "export"]
    table = markdown_table(headers, rows)
    blocks = markdown_table(["model", "backend", "ms / 4-channel 1-s block", "speed vs torch graph"], block_rows)
    profile = markdown_table(["model", "STFT kernel ms", "every other operator ms"], profile_rows)
    print(table + "\n" + blocks + "\n" + profile)
    if args.no_write:
        return
    body = (
        "## ONNX Runtime vs torch on CPU (`bench_onnx`)\n\n"
        f"One LiB-TRAD segment ({CHANNELS} channels × {SECONDS:g} s at {RATE // 1000} kHz) scored from raw audio "
        f"as a batch of {CHANNELS} clips, log-mel front end included, paper-size models; {args.threads} threads "
        f"for torch and ONNX Runtime alike; median of {args.repeats} calls per backend, timed in blocks that "
        f"alternate over {ROUNDS} rounds (call-by-call interleaving times each backend against the other's "
        "still-spinning threads). × real time = audio seconds per wall second for the whole 4-channel segment; "
        "speed vs torch graph = the torch scoring graph's time (what `libtrad detect --backend torch` runs) / "
        "the backend's. ONNX Runtime runs the file `libtrad export onnx` writes: by default the log-mel as a "
        "grouped Conv and MatMuls (`matmul`), or ONNX's `STFT` operator (`--front-end stft`). Export: "
        "`export_onnx` wall time (export, parity check, write), file size and the largest |torch − ONNX "
        f"Runtime| it measured. The machine's 1-minute load average at the end was {load:.1f}.\n\n"
        f"{table}\n\n"
        "What `libtrad detect` scores: one 4-channel 1-s block (median of "
        f"{args.repeats * 4} calls per backend, in blocks as above).\n\n"
        f"{blocks}\n\n"
        "Why the `stft` front end loses: ONNX Runtime's profiler on the same 1-s block (as many runs), its `STFT` "
        "kernel against every other operator of the graph.\n\n"
        f"{profile}\n"
    )
    print(f"wrote {write_section('bench_onnx', body)}")


if __name__ == "__main__":
    main()
