"""Figures for cards: what a person expects to see on a Hub page."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf


def spectrogram_comparison(examples: list[tuple[str, bytes]], path: Path, sample_rate: int = 16_000) -> Path:
    """A PNG of log-mel spectrograms side by side (e.g. normal vs abnormal), one panel per (title, WAV bytes).

    Uses matplotlib's object API with the Agg canvas (no pyplot state), so it is safe to render
    in a worker thread while the export writes Parquet.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from libtrad.models.mel_scale import log_mel_image  # NumPy: a card figure must not import torch (~0.9 s)

    fig = Figure(figsize=(5 * len(examples), 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(examples)))
    hop = 512
    image = None
    for ax, (title, wav) in zip(axes, examples):
        samples, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
        mel = log_mel_image(samples[:, 0], sr, n_mels=64, hop_length=hop)
        extent = (0.0, samples.shape[0] / sr, 0, mel.shape[0])
        image = ax.imshow(mel, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=mel.max() - 80)
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mel band (64, 0–8 kHz)")
    fig.colorbar(image, ax=list(axes), label="dB")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
