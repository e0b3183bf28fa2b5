"""libtrad.builders.audio_samples: WAV encoding that rebuilds byte-identically."""

from __future__ import annotations


def test_float_rows_are_reencoded_without_a_timestamp():
    """libsndfile's PEAK chunk carries the wall-clock time: a rebuild would not be byte-identical."""
    import io

    import numpy as np
    import soundfile as sf

    from libtrad.builders.audio_samples import encode_wav

    samples = np.random.default_rng(0).standard_normal((1600, 4)).astype("float32") * 0.1
    data = encode_wav(samples, 16_000, "FLOAT")
    assert b"PEAK" not in data
    assert np.array_equal(sf.read(io.BytesIO(data), dtype="float32")[0], samples)
