"""models.detection: the config section, block scoring, channel fusion and the stream detector (same events as
offline whatever the chunk sizes), on a NumPy scorer so no model has to be trained."""

from __future__ import annotations

import numpy as np
import pytest

from libtrad.core.errors import LibtradError
from libtrad.models.detection import (
    DetectionSection,
    StreamDetector,
    block_frame_scores,
    detect_audio,
    detection_section,
    fuse,
)
from libtrad.models.waveform_scorer import AudioFacts, WaveformScorer

AUDIO = AudioFacts(sampling_rate=1000, n_fft=64, hop_length=10, n_mels=4, top_db=None, min_samples=1)


class EnvelopeScorer(WaveformScorer):
    """Frame score = the mean |x| of the hop centred on each frame (depends only on the frame's samples)."""

    model_type = "libtrad-attention-ae"
    audio = AUDIO
    config: dict = {}

    def _run(self, batch):
        n = batch.shape[1]
        frames = 1 + n // AUDIO.hop_length
        padded = np.pad(np.abs(batch), ((0, 0), (5, 5 + AUDIO.hop_length)))
        out = np.stack([padded[:, t * 10 : t * 10 + 10].mean(axis=1) for t in range(frames)], axis=1)
        return {"scores": out.mean(axis=1), "frame_scores": out}


def section(**kw) -> DetectionSection:
    base = dict(threshold=3.0, loc=0.1, scale=0.1, window_s=0.25, median_s=0.03, merge_gap_s=0.05)
    return DetectionSection(**{**base, **kw})


def recording(channels=4, seconds=6.0, bursts=((1.0, 1.6), (3.2, 3.3), (4.0, 5.1)), seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * AUDIO.sampling_rate)
    audio = rng.normal(0, 0.1, size=(channels, n)).astype(np.float32)
    for c in range(channels):
        for a, b in bursts:
            if c <= 2:  # three of four microphones hear it
                audio[c, int(a * 1000) : int(b * 1000)] *= 8
    return audio


def test_section_round_trip_and_refusals():
    s = section(calibration={"config": "normal_charging"}, measured=None)
    assert DetectionSection.from_dict(s.to_dict()) == s
    assert s.to_dict()["normalisation"] == {"method": "robust-z", "loc": 0.1, "scale": 0.1}
    assert s.block_samples(AUDIO) == 250
    with pytest.raises(LibtradError, match="no detection section"):
        detection_section({}, "--model m")
    with pytest.raises(LibtradError, match="--model m: config.json detection"):
        detection_section({"detection": {"threshold": 1.0}}, "--model m")
    with pytest.raises(ValueError, match="scale"):
        section(scale=0.0)


def test_stream_gives_the_offline_events_whatever_the_chunks():
    scorer, sec, audio = EnvelopeScorer(), section(), recording()
    offline = detect_audio(scorer, sec, audio)
    assert len(offline) >= 2
    rng = np.random.default_rng(1)
    for _ in range(5):
        detector, streamed, at = StreamDetector(scorer, sec, tuple("0123")), [], 0
        while at < audio.shape[1]:
            size = int(rng.integers(1, 400))
            streamed += detector.push(audio[:, at : at + size])
            at += size
        assert streamed + detector.flush() == offline


def test_events_are_scored_block_by_block_like_calibration():
    scorer, sec = EnvelopeScorer(), section(window_s=0.5)
    mono = recording(channels=1, seconds=6.05)[0]  # 12 blocks of 500 samples and a tail of 50
    stream = block_frame_scores(scorer, sec, mono)
    assert len(stream) == 1 + len(mono) // 10  # full blocks give n/hop frames, the last block all of its own
    whole = scorer.score(mono).frame_scores[0]
    inner = np.ones(len(whole), dtype=bool)
    inner[0::50] = inner[49::50] = False  # a block's edge frames see its zero padding, not the next block
    np.testing.assert_allclose(stream.scores[inner], whole[inner], rtol=1e-6)
    assert not np.allclose(stream.scores[~inner], whole[~inner])
    exact = recording(channels=1, seconds=6.0)[0]  # a whole number of blocks: no tail block, no extra frame
    assert len(block_frame_scores(scorer, sec, exact)) == len(exact) // 10


def test_fusion_modes():
    scores = np.array([[5.0, 0.0, 5.0], [5.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(fuse(scores, "mean"), [2.5, 2.25, 1.25])
    np.testing.assert_allclose(fuse(scores, "any"), [5.0, 9.0, 5.0])
    np.testing.assert_allclose(fuse(scores, "majority"), [0.0, 0.0, 0.0])  # 3rd highest of 4: a strict majority
    np.testing.assert_allclose(fuse(scores[:3], "majority"), [5.0, 0.0, 0.0])  # 2 of 3
    scorer, sec, audio = EnvelopeScorer(), section(), recording()
    counts = {f: len(detect_audio(scorer, sec, audio, fusion=f)) for f in ("any", "majority", "mean")}
    assert counts["any"] >= counts["majority"] >= 1
    with pytest.raises(LibtradError, match="fusion 'all'"):
        detect_audio(scorer, sec, audio, fusion="all")


def test_events_name_the_channels_fused():
    events = detect_audio(EnvelopeScorer(), section(), recording(), channels=("1", "2", "3", "4"))
    assert events and all(e.channels == ("1", "2", "3", "4") for e in events)
