"""The Slaney mel scale and filterbank, and a NumPy log-mel image, with no torch import.

Why a separate module: the dataset builders draw a log-mel figure for every card, and importing
torch for it cost about 0.9 s per build (half the build time of a small dataset). The models'
front end (:mod:`libtrad.models.frontend`) builds its filters from the same functions here, so the
figure and the models cannot drift apart.
"""

from __future__ import annotations

import math

import numpy as np

# The LiB-TRAD paper computes features with ``librosa.feature.melspectrogram(n_mels=64)`` followed
# by ``librosa.power_to_db``. librosa is only a test dependency, so its defaults are restated here
# (Slaney mel scale and area normalisation, zero-padded centred frames, power 2, 80 dB floor).

_SLANEY_F_SP = 200.0 / 3.0  # Hz per mel below 1 kHz (linear part of the Slaney scale)
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _SLANEY_F_SP
    min_log_mel = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
    log_part = hz >= _SLANEY_MIN_LOG_HZ
    mel = np.where(log_part, min_log_mel + np.log(np.maximum(hz, 1e-300) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP, mel)
    return mel


def mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_slaney`."""
    mel = np.asarray(mel, dtype=np.float64)
    min_log_mel = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
    return np.where(
        mel >= min_log_mel, _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (mel - min_log_mel)), _SLANEY_F_SP * mel
    )


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular Slaney-scale filters with Slaney (constant-area) normalisation -> (n_mels, n_fft//2+1).

    Same construction as ``librosa.filters.mel(htk=False, norm="slaney")`` (float64 here).
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges_hz = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - fft_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights


def log_mel_image(
    samples: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 64,
    top_db: float = 80.0,
) -> np.ndarray:
    """librosa-equivalent ``power_to_db(melspectrogram(y))`` of a 1-D signal in NumPy -> (n_mels, T), float64.

    The same numbers as :func:`libtrad.models.frontend.log_mel_spectrogram` (tested), for callers
    that draw pictures and must not import torch.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError("log_mel_image needs a non-empty 1-D signal")
    padded = np.pad(samples, (n_fft // 2, n_fft // 2))
    if padded.size < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = mel_filterbank(sample_rate, n_fft, n_mels) @ power.T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - top_db)
