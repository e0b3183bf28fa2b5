"""The one spectrogram front end shared by every libtrad model (pure ``torch.stft``).

torchaudio is not required (its PyPI builds are CUDA-only and fail beside CPU torch); the
numbers here are checked against librosa in the tests.
"""

from __future__ import annotations

import torch


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
        flat, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=False, return_complex=True,
    ).abs()
    if power != 1.0:
        spec = spec.pow(power)
    return spec.reshape(*shape[:-1], *spec.shape[-2:])
