"""GPU benchmark (run by ``bench/gpu_check.sh`` on a machine with CUDA): ECHO-Small embed throughput,
GPU-vs-CPU parity, and AE / probe training speed; writes its section of ``bench/RESULTS.md``.

* in-process: ECHO-Small (random weights, D 384, 12 layers) on 10-s 16 kHz clips, fp32 and bf16,
  batch sizes 1/8/32/128 (clips/s after a warm-up, ``torch.cuda.synchronize`` around each timing);
* ``libtrad embed`` on one GPU (one actor per GPU, a synthetic dataset of 10-s clips): clips/s after
  the job's start (the first unit excluded), so it compares with the in-process number;
* parity: fp32 GPU vs CPU utterance embeddings, max abs difference (target <= 1e-4); bf16/fp16 vs
  fp32 on the GPU;
* training: attention-AE and linear-probe steps per second on the GPU and the CPU.

Without CUDA it says so and exits 2 (there is nothing to measure; no number is invented).

    python bench/bench_gpu.py [--clips 512] [--embed-clips 2048] [--no-write] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402

import libtrad  # noqa: E402,F401
from libtrad.models.echo import EchoConfig, EchoModel, EchoWaveformEncoder  # noqa: E402

SR, SECONDS = 16000, 10
BATCHES = (1, 8, 32, 128)


def clips_per_second(encoder, clips, batch_size: int, precision: str, device: torch.device, rounds: int = 2) -> float:
    encoder.embed(clips[: max(batch_size, 2)], batch_size=batch_size, precision=precision)  # warm-up
    best = 0.0
    for _ in range(rounds):
        sync(device)
        start = time.perf_counter()
        encoder.embed(clips, batch_size=batch_size, precision=precision)
        sync(device)
        best = max(best, len(clips) / (time.perf_counter() - start))
    return best


def parity(encoder_gpu, encoder_cpu, clips, precisions=("bf16", "fp16")) -> dict[str, float]:
    ref = encoder_cpu.embed(clips, batch_size=8).pooler_output
    out = {"fp32 GPU vs CPU": (encoder_gpu.embed(clips, batch_size=8).pooler_output.cpu() - ref).abs().max().item()}
    gpu32 = encoder_gpu.embed(clips, batch_size=8).pooler_output
    for precision in precisions:
        low = encoder_gpu.embed(clips, batch_size=8, precision=precision).pooler_output
        out[f"{precision} vs fp32 (GPU)"] = (low - gpu32).abs().max().item()
    return out


def embed_job(n_clips: int, actors: int, device: str) -> tuple[float, float]:
    """``libtrad embed`` with an ECHO-Small folder on a synthetic dataset of 10-s clips -> (clips/s after the
    first unit, seconds in all)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    import soundfile as sf

    from libtrad.folders.outputs import write_marker
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    work = Path(tempfile.mkdtemp(prefix="libtrad-gpu-bench-"))
    model_dir = work / "echo-small"
    torch.manual_seed(0)
    EchoModel(EchoConfig()).save_pretrained(model_dir)
    from libtrad.models.echo import EchoFeatureExtractor

    EchoFeatureExtractor().save_pretrained(model_dir)
    write_marker(model_dir, "model")
    data = work / "ds" / "data"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows_per_shard = 256
    for shard in range(-(-n_clips // rows_per_shard)):
        cells = []
        for _ in range(min(rows_per_shard, n_clips - shard * rows_per_shard)):
            buf = io.BytesIO()
            sf.write(
                buf, (0.1 * rng.standard_normal(SR * SECONDS)).astype(np.float32), SR, format="WAV", subtype="FLOAT"
            )
            cells.append({"bytes": buf.getvalue(), "path": None})
        table = pa.table(
            {
                "audio": pa.array(cells, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                "file": [f"c{shard:03d}_{i:04d}.wav" for i in range(len(cells))],
            }
        )
        pq.write_table(table, data / f"train-{shard:05d}.parquet")
    start = time.perf_counter()
    summary = embed_dataset(
        str(work / "ds"), f"echo:{model_dir}", work / "emb", actors=actors, batch_size=64, device=device, progress=False
    )
    total = time.perf_counter() - start
    first = summary.seconds.get("until first unit", 0.0)
    return n_clips / max(total - first, 1e-9), total


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_speed(device: torch.device, steps: int = 50) -> dict[str, float]:
    """Optimiser steps per second: the attention AE (256 clips x 64 frames) and a linear probe."""
    from libtrad.models.attention_ae import LibTradAttentionAEConfig, LibTradAttentionAEForAnomalyDetection

    torch.manual_seed(0)
    model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig()).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(256, 64, model.config.num_mel_bins, device=device)

    def timed(fn) -> float:
        fn()
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        return steps / (time.perf_counter() - start)

    def ae_step():
        optimiser.zero_grad()
        model(input_features=x).loss.backward()
        optimiser.step()

    probe = torch.nn.Linear(384, 10).to(device)
    popt = torch.optim.AdamW(probe.parameters(), lr=1e-3)
    px, py = torch.randn(4096, 384, device=device), torch.randint(0, 10, (4096,), device=device)

    def probe_step():
        popt.zero_grad()
        torch.nn.functional.cross_entropy(probe(px), py).backward()
        popt.step()

    return {"attention AE step (256 x 64 frames)": timed(ae_step), "linear probe step (batch 4096)": timed(probe_step)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=512, help="clips per in-process timing")
    parser.add_argument("--embed-clips", type=int, default=2048, help="clips in the libtrad embed job")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes on the CPU, nothing written: checks the script itself where there is no GPU",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        device, args.clips, args.embed_clips, batches, args.no_write = torch.device("cpu"), 2, 4, (1, 2), True
        name, precisions = "CPU (smoke run)", ("bf16",)
    elif not torch.cuda.is_available():
        print(
            "error: no CUDA GPU visible to torch here; bench_gpu measures nothing on a CPU-only machine "
            "(--smoke checks the script on the CPU)"
        )
        sys.exit(2)
    else:
        device, batches, precisions = torch.device("cuda", 0), BATCHES, ("bf16", "fp16")
        name = torch.cuda.get_device_name(device)
    torch.manual_seed(0)
    model = EchoModel(EchoConfig()).eval()
    encoder_cpu = EchoWaveformEncoder(model)
    encoder_dev = EchoWaveformEncoder(EchoModel(EchoConfig()).eval())
    encoder_dev.model.load_state_dict(model.state_dict())
    encoder_dev.model.to(device)
    clips = [0.1 * torch.randn(SR * SECONDS) for _ in range(args.clips)]

    rows = [
        [precision, b, f"{clips_per_second(encoder_dev, clips, b, precision, device):,.1f}"]
        for precision in ("fp32", "bf16")
        for b in batches
    ]
    diffs = parity(encoder_dev, encoder_cpu, clips[:16], precisions)
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    job_rate, job_seconds = embed_job(args.embed_clips, max(gpus, 1), "cuda" if gpus else "cpu")
    speeds = {
        "device": train_speed(device, steps=2 if args.smoke else 50),
        "CPU": train_speed(torch.device("cpu"), steps=2 if args.smoke else 10),
    }

    body = "\n\n".join(
        [
            f"## GPU ({name})",
            f"torch {torch.__version__}, CUDA {torch.version.cuda}, {gpus} GPU(s). Random ECHO-Small, {SECONDS}-s "
            f"clips at {SR // 1000} kHz, feature extraction (CPU) included, best of 2 timings after a warm-up.",
            markdown_table(["precision", "batch", "clips / s (in-process)"], rows),
            f"`libtrad embed` (one actor per GPU, batch 64, {args.embed_clips} clips): {job_rate:,.1f} clips/s after "
            f"the first unit ({job_seconds:.1f} s in all, the job's start included).",
            markdown_table(["parity", "max abs difference"], [[k, f"{v:.2e}"] for k, v in diffs.items()]),
            markdown_table(
                ["training", "steps / s here", "CPU steps / s"],
                [[k, f"{speeds['device'][k]:.1f}", f"{speeds['CPU'][k]:.1f}"] for k in speeds["device"]],
            ),
        ]
    )
    print(body)
    if not args.no_write:
        print(f"\nwrote {write_section('bench_gpu', body)}")


if __name__ == "__main__":
    main()
