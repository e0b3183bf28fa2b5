"""ray_jobs.lib_trad.pcm_input: WAV headers (PCM, float, WAVE_FORMAT_EXTENSIBLE as MIMII ships it) and raw PCM
decoded in arbitrary byte pieces."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.lib_trad.pcm_input import PcmDecoder, chunks, read_wav_header

REAL = Path(__file__).resolve().parents[4] / "shared" / "real"


@pytest.mark.parametrize("subtype, fmt", [("PCM_16", "s16le"), ("FLOAT", "f32le")])
def test_wav_header_then_samples_as_soundfile_reads_them(tmp_path, subtype, fmt):
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, size=(1000, 3)).astype(np.float32)
    path = tmp_path / "x.wav"
    sf.write(path, audio, 16000, subtype=subtype)
    stream = io.BufferedReader(io.BytesIO(path.read_bytes()))
    decoder = read_wav_header(stream)
    assert (decoder.sample_format, decoder.channels, decoder.sampling_rate) == (fmt, 3, 16000)
    got = np.concatenate(list(chunks(stream, decoder, read_bytes=7)), axis=1)  # 7 bytes: frames split anywhere
    np.testing.assert_array_equal(got, sf.read(path, dtype="float32")[0].T)


def test_real_mimii_extensible_header():
    """MIMII's 8-channel 16-bit WAVE_FORMAT_EXTENSIBLE clip (verified on the real file): its samples as soundfile."""
    path = next(iter(sorted(REAL.glob("mimii/**/*.wav"))), None)
    if path is None:
        pytest.skip(f"real MIMII clips not found under {REAL}")
    stream = io.BufferedReader(io.BytesIO(path.read_bytes()))
    decoder = read_wav_header(stream)
    assert (decoder.sample_format, decoder.channels, decoder.sampling_rate) == ("s16le", 8, 16000)
    got = np.concatenate(list(chunks(stream, decoder)), axis=1)
    np.testing.assert_array_equal(got, sf.read(path, dtype="float32")[0].T)


def test_refusals():
    with pytest.raises(LibtradError, match="not a WAV stream"):
        read_wav_header(io.BytesIO(b"\x00" * 64))
    with pytest.raises(LibtradError, match="ends early"):
        read_wav_header(io.BytesIO(b"RIFF\x00\x00\x00\x00WAVEfmt "))
    with pytest.raises(LibtradError, match="--stream-format s24le"):
        PcmDecoder("s24le", 1, 16000)
    decoder = PcmDecoder("s16le", 2, 16000)
    assert decoder.decode(b"\x00\x40\x00\xc0\x01").tolist() == [[0.5], [-0.5]]
    assert decoder.leftover == 1
