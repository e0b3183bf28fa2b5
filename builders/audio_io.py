"""Reading, validating and re-encoding source WAV files, shared by every builder.

Validation happens once per source file: one disk read gives the bytes for the checksum and the
decoded samples for the content checks, so a build never hashes or decodes a file twice.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf


_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}


@dataclass(frozen=True)
class AudioCheck:
    """What a builder requires of one source file."""

    sample_rate: int
    channels: int
    duration_s: float | None = None
    duration_tolerance_s: float = 0.1
    resample: bool = False


@dataclass(frozen=True)
class SourceAudio:
    """A validated source file: checksum and format facts (no samples are kept)."""

    path: Path
    sha256: str
    size: int
    sample_rate: int
    channels: int
    frames: int
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


class InvalidAudio(Exception):
    """A source file failed validation; ``reason`` is a short phrase for errors and manifests."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def validate_audio(path: Path, check: AudioCheck) -> SourceAudio:
    """Read ``path`` once, check it against ``check`` and return its facts, or raise InvalidAudio."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidAudio(path, f"unreadable ({exc.strerror or exc})") from None
    if not data:
        raise InvalidAudio(path, "empty file (0 bytes)")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            sample_rate, channels, subtype, frames = f.samplerate, f.channels, f.subtype, f.frames
            # Integer PCM cannot hold NaN/inf: only floating-point files need their samples decoded.
            samples = f.read(dtype="float32", always_2d=True) if subtype in _FLOAT_SUBTYPES else None
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        detail = getattr(exc, "error_string", None) or _first_line(exc)
        raise InvalidAudio(path, f"not a readable audio file ({detail})") from None
    if frames == 0:
        raise InvalidAudio(path, "empty audio (0 samples)")
    if channels != check.channels:
        raise InvalidAudio(path, f"has {channels} channel(s), expected {check.channels}")
    if sample_rate != check.sample_rate and not check.resample:
        raise InvalidAudio(
            path, f"sample rate {sample_rate} Hz, expected {check.sample_rate} Hz (pass --resample to convert)"
        )
    if check.duration_s is not None and abs(frames / sample_rate - check.duration_s) > check.duration_tolerance_s:
        raise InvalidAudio(
            path,
            f"duration {frames / sample_rate:.3f} s, expected {check.duration_s:g} ± {check.duration_tolerance_s:g} s",
        )
    if samples is not None and not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise InvalidAudio(path, f"{bad} non-finite sample(s) (NaN/inf)")
    return SourceAudio(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        sample_rate=sample_rate,
        channels=channels,
        frames=frames,
        subtype=subtype,
    )


def read_samples(path: Path) -> tuple[np.ndarray, int, str]:
    """(frames × channels float32, sample rate, subtype) of an already validated file."""
    with sf.SoundFile(str(path)) as f:
        return f.read(dtype="float32", always_2d=True), f.samplerate, f.subtype


def resample(samples: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (exact rational ratio, anti-aliased)."""
    if sr_from == sr_to:
        return samples
    from scipy.signal import resample_poly

    ratio = Fraction(sr_to, sr_from)
    return resample_poly(samples, ratio.numerator, ratio.denominator, axis=0).astype(np.float32)


def encode_wav(samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> bytes:
    """WAV bytes of ``samples`` (frames × channels); integer subtypes are clipped, never wrapped."""
    if subtype.startswith("PCM") and subtype != "PCM_U8":
        bits = int(subtype.split("_")[1])
        samples = np.clip(samples, -1.0, 1.0 - 2.0 ** (1 - bits))
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
