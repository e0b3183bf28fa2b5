"""The one spectrogram front end shared by every libtrad model (pure ``torch.stft``).

torchaudio is not required (its PyPI builds are CUDA-only and fail beside CPU torch); the
numbers here are checked against librosa in the tests.
"""

from __future__ import annotations

import functools
import math

import torch

from libtrad.models.mel_scale import mel_filterbank


def stft_magnitude(
    waveform: torch.Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    *,
    center: bool = False,
    pad_mode: str = "constant",
    power: float = 1.0,
) -> torch.Tensor:
    """|STFT|**power of ``waveform`` (..., samples) with a periodic Hann window -> (..., F, T).

    ``F = n_fft // 2 + 1``. ``center=True`` pads ``n_fft // 2`` on both sides with ``pad_mode``
    (librosa's convention); ``center=False`` keeps only full frames (ECHO's convention).
    """
    win_length = n_fft if win_length is None else win_length
    window = torch.hann_window(win_length, periodic=True, dtype=waveform.dtype, device=waveform.device)
    shape = waveform.shape
    flat = waveform.reshape(-1, shape[-1])
    if center:
        flat = torch.nn.functional.pad(flat.unsqueeze(1), (n_fft // 2, n_fft // 2), mode=pad_mode).squeeze(1)
    spec = torch.stft(
        flat,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=False,
        return_complex=True,
    ).abs()
    if power != 1.0:
        spec = spec.pow(power)
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


# --------------------------------------------------------------------------- log-mel (LiB-TRAD)
# The LiB-TRAD paper computes features with ``librosa.feature.melspectrogram(n_mels=64)`` followed
# by ``librosa.power_to_db``. librosa is only a test dependency, so its defaults are restated here
# (Slaney mel scale and area normalisation, zero-padded centred frames, power 2, 80 dB floor); the
# filterbank itself lives in the torch-free :mod:`libtrad.models.mel_scale`.


@functools.lru_cache(maxsize=16)
def _cached_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> torch.Tensor:
    return torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax))


def power_to_db(
    power: torch.Tensor, *, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> torch.Tensor:
    """10·log10(max(S, amin)/ref), floored ``top_db`` below each spectrogram's maximum.

    librosa floors relative to the maximum of the array it is given; here "the array" is each
    trailing (F, T) spectrogram, so a batch gives the same numbers as one librosa call per clip.
    """
    db = 10.0 * torch.log10(torch.clamp(power, min=amin)) - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def log_mel_spectrogram(
    waveform: torch.Tensor,
    sample_rate: int = 16_000,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
) -> torch.Tensor:
    """librosa-equivalent ``power_to_db(melspectrogram(y, sr, n_fft, hop, n_mels))`` -> (..., n_mels, T).

    Defaults are librosa's (n_fft 2048, hop 512, centred zero padding); the LiB-TRAD CNN uses
    n_fft 1024. ``T = 1 + samples // hop_length``.
    """
    if waveform.shape[-1] == 0:
        raise ValueError("cannot compute a spectrogram of an empty waveform")
    power = stft_magnitude(waveform, n_fft, hop_length, center=True, pad_mode="constant", power=2.0)
    filters = _cached_filterbank(int(sample_rate), int(n_fft), int(n_mels), float(fmin), fmax).to(power.dtype)
    mel = torch.matmul(filters.to(power.device), power)
    return power_to_db(mel, top_db=top_db)
