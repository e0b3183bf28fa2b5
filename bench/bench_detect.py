"""``libtrad detect`` on CPU: speed per 4-channel stream and stream latency (issue 31's targets).

Targets: detect ≥ 100× real time per 4-channel stream with the attention AE; stream latency ≤ 1 s beyond the
model's window; ONNX Runtime ≥ the torch CPU path.

Workload: a paper-size attention AE (64→128→64, one-frame attention; seeded weights, a scorer fitted on seeded
latents, as ``bench_onnx``) with a ``detection`` section (1 s blocks, the calibration's post-processing; the
threshold at the 97th percentile of the recording's own fused scores, so events occur: speed does not depend on
it). The audio: ``--seconds`` (default 120) of 4-microphone noise with loud bursts, 16 kHz.

* **offline**: :func:`libtrad.ray_jobs.lib_trad.detect.detect_one` on the whole recording (the path of
  ``libtrad detect FILE``), torch and ONNX Runtime, median of ``--repeats`` interleaved runs; × real time =
  audio seconds per wall second of the whole 4-channel stream;
* **stream**: :class:`libtrad.models.detection.StreamDetector` fed 0.1 s chunks as ``--stream`` reads them.
  For every event: *compute latency* = wall time from the chunk's arrival (``push`` called) to the event being
  returned (what ``--stream`` prints at once, flushed), and *audio wait* = how much audio after the moment the
  event closed (its end + the merge gap) had to arrive first — bounded by one block (the model's window) plus
  half the median window and one chunk.

Prints a table and writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
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
from libtrad.models.detection import DetectionSection, StreamDetector, block_frame_scores, fuse  # noqa: E402
from libtrad.models.onnx_graph import TorchWaveformScorer  # noqa: E402
from libtrad.models.onnx_runtime import OnnxWaveformScorer  # noqa: E402
from libtrad.ray_jobs.lib_trad.calibration import POST_PROCESSING  # noqa: E402
from libtrad.ray_jobs.lib_trad.detect import detect_one  # noqa: E402

CHANNELS, RATE, CHUNK_S = 4, 16_000, 0.1


def recording(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    audio = 0.05 * rng.standard_normal((CHANNELS, int(seconds * RATE)))
    for start in np.arange(5.0, seconds - 3, 13.0):  # a 2-s hiss burst every 13 s
        a, b = int(start * RATE), int((start + 2.0) * RATE)
        audio[:, a:b] += 0.5 * rng.standard_normal((CHANNELS, b - a)) * np.linspace(1, 0.2, b - a)
    return audio.astype(np.float32)


def section_for(scorer, audio: np.ndarray) -> DetectionSection:
    probe = DetectionSection(threshold=0.0, loc=0.0, scale=1.0, **POST_PROCESSING)
    raw = np.stack([block_frame_scores(scorer, probe, channel).scores for channel in audio])
    loc, scale = float(np.median(raw)), float(np.std(raw)) or 1.0
    fused = fuse((raw - loc) / scale, "mean")
    return DetectionSection(threshold=float(np.percentile(fused, 97)), loc=loc, scale=scale, **POST_PROCESSING)


def stream_latencies(scorer, section, audio) -> tuple[list[float], list[float], int]:
    detector = StreamDetector(scorer, section, tuple("0123"))
    step, compute, wait, events = int(CHUNK_S * RATE), [], [], 0
    for at in range(0, audio.shape[1], step):
        arrived = time.perf_counter()
        found = detector.push(audio[:, at : at + step])
        done = time.perf_counter()
        for event in found:
            compute.append(done - arrived)
            wait.append((at + step) / RATE - (event.end_s + section.merge_gap_s))
        events += len(found)
    return compute, wait, events + len(detector.flush())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig()).eval()
    model.fit_scorer(torch.randn(4096, 64))
    extractor = LibTradAttentionAEFeatureExtractor()
    audio = recording(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_onnx(model, extractor, Path(tmp) / "ae.onnx", progress=False)
        backends = {
            "torch": TorchWaveformScorer(model, extractor),
            "ONNX Runtime": OnnxWaveformScorer(exported.path, threads=args.threads),
        }
        section = section_for(backends["torch"], audio)
        times = {name: [] for name in backends}
        events = {}
        for _ in range(args.repeats):
            for name, scorer in backends.items():
                started = time.perf_counter()
                events[name] = detect_one(scorer, section, audio, "mean")
                times[name].append(time.perf_counter() - started)
        rows = []
        for name, scorer in backends.items():
            offline = float(np.median(times[name]))
            compute, wait, count = stream_latencies(scorer, section, audio)
            rows.append(
                [
                    name,
                    f"{offline:.2f}",
                    f"{args.seconds / offline:.0f}×",
                    f"{np.median(times['torch']) / offline:.2f}",
                    str(len(events[name])),
                    f"{np.median(compute) * 1e3:.0f} / {max(compute) * 1e3:.0f}" if compute else "—",
                    f"{max(wait):.2f}" if wait else "—",
                    "yes" if count == len(events[name]) else "no",
                ]
            )
    same = [(e.start_s, e.end_s) for e in events["torch"]] == [(e.start_s, e.end_s) for e in events["ONNX Runtime"]]
    load = os.getloadavg()[0]
    headers = [
        "backend",
        f"offline s / {args.seconds:g} s",
        "× real time (4-ch stream)",
        "speed vs torch",
        "events",
        "stream: chunk → event ms (median / max)",
        "stream: audio wait s (max)",
        "stream = offline count",
    ]
    table = markdown_table(headers, rows)
    print(table)
    print(f"torch and ONNX Runtime events identical: {same}; load average {load:.1f}")
    if args.no_write:
        return
    body = (
        "## `libtrad detect` on CPU (`bench_detect`)\n\n"
        f"A paper-size attention AE on {args.seconds:g} s of {CHANNELS}-microphone 16 kHz audio with bursts, 1 s "
        f"blocks, `--fusion mean`; {args.threads} threads for torch and ONNX Runtime alike; offline = median of "
        f"{args.repeats} interleaved runs of `detect FILE`'s path. Stream: 0.1 s chunks into `StreamDetector` (the "
        "path of `--stream`); chunk → event = wall time from a chunk's arrival to its events being returned "
        "(printed and flushed at once); audio wait = audio that had to arrive after an event closed (its end + "
        "the 1 s merge gap) before it could be known: at most one block (0.99 s) + half the 0.1 s median + one "
        "chunk. Stream latency beyond the model's "
        "window = the chunk → event time. Targets: ≥ 100× real time per 4-channel stream; ≤ 1 s beyond the "
        f"window; ONNX Runtime ≥ torch. Events identical across backends: {'yes' if same else 'no'}. The "
        f"machine's 1-minute load average at the end was {load:.1f} (shared cores: absolute times are "
        "pessimistic).\n\n"
        f"{table}\n"
    )
    print(f"wrote {write_section('bench_detect', body)}")


if __name__ == "__main__":
    main()
