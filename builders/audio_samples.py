"""Samples in and out: decoding a validated file, the one resampler, WAV encoding for the exports.

Apart from :mod:`libtrad.builders.audio_io` (which validates and reads source files without trusting
them): what is done here works on files and arrays already checked, so it needs none of those rules.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf


def read_samples(path: Path) -> tuple[np.ndarray, int, str]:
    """(frames × channels float32, sample rate, subtype) of an already validated file."""
    with sf.SoundFile(str(path)) as f:
        return f.read(dtype="float32", always_2d=True), f.samplerate, f.subtype


def resample(samples: np.ndarray, sr_from: int, sr_to: int, axis: int = 0) -> np.ndarray:
    """Polyphase resampling along ``axis`` (exact rational ratio, anti-aliased): the one resampler of libtrad,
    for a build's frames × channels (axis 0) and ``embed``'s channels × samples (axis -1) alike."""
    if sr_from == sr_to:
        return samples
    from scipy.signal import resample_poly

    ratio = Fraction(sr_to, sr_from)
    return resample_poly(samples, ratio.numerator, ratio.denominator, axis=axis).astype(np.float32)


_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sf_command id (sndfile.h)


def encode_wav(samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> bytes:
    """WAV bytes of ``samples`` (frames × channels); integer subtypes are clipped, never wrapped."""
    if subtype.startswith("PCM") and subtype != "PCM_U8":
        bits = int(subtype.split("_")[1])
        samples = np.clip(samples, -1.0, 1.0 - 2.0 ** (1 - bits))
    buffer = io.BytesIO()
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(buffer, "w", sample_rate, channels, subtype, format="WAV") as f:
        # libsndfile stamps float WAVs with a PEAK chunk holding the wall-clock time: leave it out so
        # that a rebuild writes byte-identical rows (the chunk is optional metadata).
        sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        f.write(samples)
    return buffer.getvalue()
