"""Figures for cards: what a person expects to see on a Hub page."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf


def spectrogram_comparison(examples: list[tuple[str, bytes]], path: Path, sample_rate: int = 16_000) -> Path:
    """A PNG of log-mel spectrograms side by side (e.g. normal vs abnormal), one panel per (title, WAV bytes).

    Uses matplotlib's object API with the Agg canvas (no pyplot state), so it is safe to render
    in a worker thread while the export writes Parquet. The margins are fixed in inches rather
    than solved by constrained layout, which took over half the drawing time (~0.14 s of CPU
    that the export's own threads need).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from libtrad.models.mel_scale import log_mel_image  # NumPy: a card figure must not import torch (~0.9 s)

    width, height = 5.0 * len(examples), 3.4
    left, right, bottom, top, gap, bar = 0.8, 1.0, 0.55, 0.35, 0.75, 0.15  # inches
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap / ((width - left - right - gap * (len(examples) - 1)) / len(examples)),
    )
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
    colorbar = fig.add_axes(((width - right + 0.2) / width, bottom / height, bar / width, 1 - (bottom + top) / height))
    fig.colorbar(image, cax=colorbar, label="dB")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
