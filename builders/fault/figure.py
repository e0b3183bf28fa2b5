"""The fault cards' figure: one panel per class, from the first file of each class.

Sound gets a spectrogram (what a listener's ear resolves); vibration gets a power spectrum on a
log-frequency axis, where the 1×/2× shaft harmonics and the bearing resonances that tell its
classes apart are visible (a spectrogram's linear axis hides the low orders). Arrays show one
channel (the layout says which). At most the first :data:`MAX_SECONDS` are used, so a 30-s
recording costs no more than a 3-s cut. Drawn
with matplotlib's object API on the Agg canvas (no pyplot state): the export renders it in a
worker thread while Parquet is written.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

MAX_SECONDS = 5.0
COLUMNS = 5


def class_panels(panels: list[tuple[str, np.ndarray, int, str]], path: Path, kind: str = "spectrogram") -> Path:
    """A PNG with one panel per (class, 1-D signal, sample rate, channel name): ``spectrogram`` or ``spectrum``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).reshape(-1)
    image = None
    for ax, (label, signal, rate, channel) in zip(axes, panels):
        signal = np.asarray(signal[: int(MAX_SECONDS * rate)], dtype=np.float64)
        if kind == "spectrum":
            _spectrum(ax, signal, rate)
        else:
            image = _spectrogram(ax, signal, rate)
        ax.set_title(f"{label} ({channel})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(panels)]), label="dB (per panel, top 80 dB)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def _spectrogram(ax, signal: np.ndarray, rate: int):
    from scipy.signal import spectrogram

    window = min(1024, max(16, len(signal) // 8))
    freqs, times, power = spectrogram(signal, fs=rate, nperseg=window, noverlap=window // 2)
    db = 10 * np.log10(power + 1e-20)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("kHz", fontsize=8)
    return ax.pcolormesh(
        times, freqs / 1000, db, shading="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(), rasterized=True
    )


def _spectrum(ax, signal: np.ndarray, rate: int) -> None:
    """Welch power spectral density in dB over a log-frequency axis (from ~2 Hz, or the resolution)."""
    from scipy.signal import welch

    window = min(len(signal), 2 ** int(np.log2(max(16, rate // 2))))  # ~2 Hz bins when the signal is long enough
    freqs, power = welch(signal, fs=rate, nperseg=window)
    keep = freqs > 0
    ax.semilogx(freqs[keep], 10 * np.log10(power[keep] + 1e-20), linewidth=0.7)
    ax.set_xlabel("Hz", fontsize=8)
    ax.set_ylabel("dB / Hz", fontsize=8)
    ax.grid(True, which="major", linewidth=0.3)
