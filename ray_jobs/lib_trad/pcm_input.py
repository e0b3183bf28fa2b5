"""Audio from a byte stream (``libtrad detect --stream``): a WAV header or raw PCM, decoded as it arrives.

:class:`PcmDecoder` turns bytes into float32 ``(channels, samples)`` chunks: ``s16le`` (16-bit signed
integers, scaled by 1/32768 as soundfile reads them) or ``f32le`` (32-bit floats), channels interleaved.
:func:`read_wav_header` reads a RIFF/WAVE header from the front of a stream (``fmt `` chunk: PCM 16-bit,
IEEE float 32-bit, or WAVE_FORMAT_EXTENSIBLE with one of those sub-formats — the form MIMII's 8-channel
recordings use; other chunks before ``data`` are skipped) and leaves the stream at the first sample. The
``data`` size is ignored: a live recorder (``arecord``, ``sox -t wav -``) cannot know it and writes 0 or
0xFFFFFFFF, so samples are read until the stream ends.

:func:`chunks` reads what is available (``read1``: a pipe returns as soon as bytes arrive, never waiting
to fill a large buffer), so latency is bounded by the writer, not by this reader.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from libtrad.core.errors import LibtradError

FORMATS = {"s16le": ("<i2", 1 / 32768.0), "f32le": ("<f4", 1.0)}
WAVE_PCM, WAVE_FLOAT, WAVE_EXTENSIBLE = 1, 3, 0xFFFE
READ_BYTES = 4096


@dataclass
class PcmDecoder:
    """Interleaved little-endian PCM bytes → float32 (channels, samples); keeps a partial frame for the next call."""

    sample_format: str
    channels: int
    sampling_rate: int
    _rest: bytes = b""

    def __post_init__(self):
        if self.sample_format not in FORMATS:
            raise LibtradError(f"--stream-format {self.sample_format}: expected one of wav, {', '.join(FORMATS)}")
        if self.channels < 1:
            raise LibtradError(f"--channels {self.channels}: must be >= 1")
        dtype, self._scale = FORMATS[self.sample_format]
        self._dtype = np.dtype(dtype)
        self._frame = self._dtype.itemsize * self.channels

    def decode(self, data: bytes) -> np.ndarray:
        data = self._rest + data
        usable = len(data) - len(data) % self._frame
        self._rest = data[usable:]
        values = np.frombuffer(data[:usable], dtype=self._dtype).astype(np.float32) * np.float32(self._scale)
        return values.reshape(-1, self.channels).T

    @property
    def leftover(self) -> int:
        """Bytes of an incomplete last frame (a truncated stream)."""
        return len(self._rest)


def _read_exactly(stream, n: int, what: str) -> bytes:
    data = b""
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            raise LibtradError(f"stdin: the WAV header ends early (in {what})")
        data += more
    return data


def read_wav_header(stream) -> PcmDecoder:
    """Read a RIFF/WAVE header from ``stream`` up to the first sample; its decoder."""
    riff = _read_exactly(stream, 12, "RIFF")
    if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise LibtradError("stdin: not a WAV stream (no RIFF/WAVE header); raw PCM needs --stream-format s16le|f32le")
    decoder = None
    while True:
        chunk_id, size = struct.unpack("<4sI", _read_exactly(stream, 8, "a chunk header"))
        if chunk_id == b"data":
            if decoder is None:
                raise LibtradError("stdin: WAV data before its fmt chunk")
            return decoder
        body = _read_exactly(stream, size + size % 2, chunk_id.decode("latin-1"))
        if chunk_id == b"fmt ":
            decoder = _fmt(body)


def _fmt(body: bytes) -> PcmDecoder:
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == WAVE_EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the format tag
    name = {(WAVE_PCM, 16): "s16le", (WAVE_FLOAT, 32): "f32le"}.get((tag, bits))
    if name is None:
        raise LibtradError(
            f"stdin: WAV format tag {tag} with {bits}-bit samples; --stream reads 16-bit PCM or 32-bit float"
        )
    return PcmDecoder(name, channels, rate)


def chunks(stream, decoder: PcmDecoder, read_bytes: int = READ_BYTES) -> Iterator[np.ndarray]:
    """(channels, samples) float32 chunks as bytes arrive, until the stream ends."""
    read = getattr(stream, "read1", stream.read)
    while True:
        data = read(read_bytes)
        if not data:
            return
        block = decoder.decode(data)
        if block.shape[1]:
            yield block


__all__ = ["FORMATS", "PcmDecoder", "chunks", "read_wav_header"]
