"""ONNX Runtime vs the torch CPU path for the LiB-TRAD models (issue 31's target: ONNX Runtime ≥ torch on CPU).

The workload is one LiB-TRAD segment: 4 microphones × 10 s at 16 kHz, scored as a batch of 4 clips from raw
audio (log-mel front end included), by the paper-size models (attention AE 64→128→64 with the literal
one-frame attention and mean reduction; CNN 16/32/64 channels) with seeded weights and a fitted scorer.
Three backends, each on ``--threads`` threads (default 2), timed interleaved (round-robin, median of
``--repeats``) so a busy machine slows all of them alike:

* ``torch (extractor + forward)``: what libtrad's evaluation runs: the feature extractor, then
  ``model(**features)``;
* ``torch (scoring graph)``: :class:`libtrad.models.onnx_graph.TorchWaveformScorer`, the module that is exported;
* ``ONNX Runtime``: :class:`libtrad.models.onnx_runtime.OnnxWaveformScorer` on the file ``libtrad export onnx``
  writes (its export time is reported too).

Then where ONNX Runtime's time goes on what ``libtrad detect`` scores (one 4-channel 1-s block, attention AE):
its per-operator profile (the ``STFT`` kernel apart), against the torch scoring graph and a NumPy front end
on the host (rFFT, the same mel filterbank, dB) — what moving the front end out of the graph could save.

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
from libtrad.models.mel_scale import mel_filterbank  # noqa: E402
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


def timed_round_robin(backends: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each backend, calls interleaved."""
    for fn in backends.values():  # warm-up: allocators, kernel choice, ORT's first-run planning
        fn()
    times = {name: [] for name in backends}
    for _ in range(repeats):
        for name, fn in backends.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in times.items()}


def numpy_front_end(block: np.ndarray, extractor) -> np.ndarray:
    """log-mel of (clips, samples) on the host: centred zero padding, periodic Hann, rFFT power, the model's mel
    filterbank, dB floored ``top_db`` below each clip's maximum (the graph's front end, in NumPy)."""
    import scipy.fft

    n_fft, hop = extractor.n_fft, extractor.hop_length
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    bank = mel_filterbank(extractor.sampling_rate, n_fft, extractor.feature_size).astype(np.float32)
    padded = np.pad(block, ((0, 0), (n_fft // 2, n_fft // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop] * window
    spectrum = scipy.fft.rfft(frames, axis=-1, workers=2)
    mel = (spectrum.real**2 + spectrum.imag**2) @ bank.T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max(axis=(1, 2), keepdims=True) - extractor.top_db)


def ort_profile(path: Path, block: np.ndarray, threads: int, runs: int) -> tuple[float, float]:
    """(ms per run in ONNX Runtime's STFT kernel, ms in every other operator) from its own profiler."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.enable_profiling, options.log_severity_level = threads, True, 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for _ in range(runs):
        session.run(names, {session.get_inputs()[0].name: block})
    trace = Path(session.end_profiling())
    events = [e for e in json.loads(trace.read_text()) if e.get("cat") == "Node"]
    trace.unlink()
    stft = sum(e["dur"] for e in events if e["args"].get("op_name") == "STFT") / runs / 1e3
    return stft, sum(e["dur"] for e in events) / runs / 1e3 - stft


def block_breakdown(model, extractor, path: Path, threads: int, repeats: int) -> list[list[str]]:
    """Rows of the 1-s block table (attention AE)."""
    block = (0.1 * np.random.default_rng(1).standard_normal((CHANNELS, RATE))).astype(np.float32)
    graph, onnx_scorer = TorchWaveformScorer(model, extractor), OnnxWaveformScorer(path, threads=threads)
    seconds = timed_round_robin(
        {
            "torch scoring graph": lambda: graph.score(block),
            "ONNX Runtime": lambda: onnx_scorer.score(block),
            "NumPy front end (host)": lambda: numpy_front_end(block, extractor),
        },
        repeats * 5,
    )
    stft, rest = ort_profile(path, block, threads, repeats * 5)
    return [[name, f"{s * 1e3:.2f}"] for name, s in seconds.items()] + [
        ["ONNX Runtime: its STFT kernel (profiler)", f"{stft:.2f}"],
        ["ONNX Runtime: every other operator (profiler)", f"{rest:.2f}"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    segment = (0.1 * np.random.default_rng(0).standard_normal((CHANNELS, int(SECONDS * RATE)))).astype(np.float32)
    rows, block_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (model, extractor) in paper_models().items():
            exported = export_onnx(model, extractor, Path(tmp) / f"{label}.onnx", progress=False)
            onnx_scorer = OnnxWaveformScorer(exported.path, threads=args.threads)
            graph = TorchWaveformScorer(model, extractor)

            @torch.inference_mode()
            def forward(model=model, extractor=extractor):
                return model(**extractor(list(segment))).scores

            seconds = timed_round_robin(
                {
                    "torch (extractor + forward)": forward,
                    "torch (scoring graph)": lambda graph=graph: graph.score(segment),
                    "ONNX Runtime": lambda scorer=onnx_scorer: scorer.score(segment),
                },
                args.repeats,
            )
            if label == "attention AE":
                block_rows = block_breakdown(model, extractor, exported.path, args.threads, args.repeats)
            worst = max(exported.parity["max_abs_diff"].values())
            base = seconds["torch (extractor + forward)"]
            for backend, s in seconds.items():
                rows.append(
                    [
                        label,
                        backend,
                        f"{s * 1e3:.1f}",
                        f"{CHANNELS / s:.0f}",
                        f"{SECONDS / s:.0f}×",
                        f"{base / s:.2f}",
                        f"{exported.seconds:.1f} s, {exported.size / 1e6:.2f} MB, max Δ {worst:.1g}"
                        if backend == "ONNX Runtime"
                        else "",
                    ]
                )
    load = os.getloadavg()[0]  # on a shared machine the absolute times say as much about the neighbours
    headers = ["model", "backend", "ms / segment", "clips/s", "× real time", "speed vs torch", "export"]
    table = markdown_table(headers, rows)
    blocks = markdown_table(["one 4-channel 1-s block, attention AE", "ms"], block_rows)
    print(table + "\n" + blocks)
    if args.no_write:
        return
    body = (
        "## ONNX Runtime vs torch on CPU (`bench_onnx`)\n\n"
        f"One LiB-TRAD segment ({CHANNELS} channels × {SECONDS:g} s at {RATE // 1000} kHz) scored from raw audio "
        f"as a batch of {CHANNELS} clips, log-mel front end included, paper-size models; {args.threads} threads "
        f"for torch and ONNX Runtime alike; median of {args.repeats} interleaved calls. × real time = audio "
        "seconds per wall second for the whole 4-channel segment; speed vs torch = the extractor + forward "
        "time / the backend's. Export: `export_onnx` wall time (export, parity check, write), file size and "
        "the largest |torch − ONNX Runtime| it measured. The machine's 1-minute load average at the end was "
        f"{load:.1f} (other jobs shared its cores: the absolute times are pessimistic, the ratios are not, "
        "as the backends' calls alternate).\n\n"
        f"{table}\n\n"
        "Where ONNX Runtime's time goes on what `libtrad detect` scores (one 4-channel 1-s block, attention AE; "
        "medians of interleaved calls, the operator split from ONNX Runtime's profiler over as many runs): "
        "a NumPy front end on the host plus the network's operators is what a graph without the front end "
        "would cost.\n\n"
        f"{blocks}\n"
    )
    print(f"wrote {write_section('bench_onnx', body)}")


if __name__ == "__main__":
    main()
