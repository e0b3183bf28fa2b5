"""CPU inference speed of the LiB-TRAD attention auto-encoder (paper: 0.17 ms average inference time).

Measures frames/s and ms per 10-s clip (313 log-mel frames), model only and with the log-mel
front end, for the literal attention (context_frames=1) and a 5-frame context; writes its
section of bench/RESULTS.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402

import libtrad  # noqa: E402,F401
from libtrad.models.attention_ae import (  # noqa: E402
    LibTradAttentionAEConfig,
    LibTradAttentionAEFeatureExtractor,
    LibTradAttentionAEForAnomalyDetection,
)

CLIP_SECONDS = 10
REPEATS = 200


def _best_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


@torch.inference_mode()
def main() -> None:
    torch.manual_seed(0)
    wave = (0.1 * np.random.default_rng(0).standard_normal(16_000 * CLIP_SECONDS)).astype(np.float32)
    fe = LibTradAttentionAEFeatureExtractor()
    features = fe(wave)
    frames = features["input_features"].shape[1]
    front_end_s = _best_seconds(lambda: fe(wave), REPEATS)
    rows = []
    for context in (1, 5):
        model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig(context_frames=context)).eval()
        model.fit_scorer(torch.randn(4096, 64))
        clip_s = _best_seconds(lambda: model(**features), REPEATS)  # noqa: B023
        batch = {"input_features": features["input_features"].repeat(32, 1, 1)}
        batch_s = _best_seconds(lambda: model(**batch), max(REPEATS // 10, 5))  # noqa: B023
        rows.append(
            [
                context,
                frames,
                f"{clip_s * 1e3:.3f}",
                f"{(clip_s + front_end_s) * 1e3:.3f}",
                f"{frames / clip_s:,.0f}",
                f"{32 * frames / batch_s:,.0f}",
            ]
        )
    md = "\n".join(
        [
            "## LiB-TRAD attention auto-encoder: CPU inference",
            "",
            f"One 10-s, 16 kHz clip = {frames} log-mel frames (n_fft 2048, hop 512, 64 mels). Median "
            f"of {REPEATS} runs, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads. Model = encoder + attention + decoder + "
            "Mahalanobis clip score; front end = librosa-equivalent log-mel "
            f"({front_end_s * 1e3:.3f} ms per clip). Paper: 0.17 ms average inference time (hardware not comparable).",
            "",
            markdown_table(
                [
                    "context_frames",
                    "frames / clip",
                    "ms / clip (model)",
                    "ms / clip (front end + model)",
                    "frames/s (batch 1 clip)",
                    "frames/s (batch 32 clips)",
                ],
                rows,
            ),
        ]
    )
    path = write_section("bench_attention_ae", md)
    print(md)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
