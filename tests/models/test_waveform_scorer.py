"""The one scoring call every backend shares: what audio it takes, how it batches clips, what it returns."""

from __future__ import annotations

import numpy as np
import pytest

from libtrad.core.errors import LibtradError
from libtrad.models.waveform_scorer import AudioFacts, WaveformScorer

FACTS = AudioFacts(sampling_rate=16_000, n_fft=2048, hop_length=512, n_mels=64, top_db=80.0, min_samples=100)


class Recording(WaveformScorer):
    """A backend whose clip score is the clip's mean and whose frame scores are its first samples."""

    model_type = "libtrad-attention-ae"
    audio = FACTS
    config = {"model_type": "libtrad-attention-ae"}

    def __init__(self):
        self.batches = []

    def _run(self, batch):
        self.batches.append(batch.shape)
        frames = FACTS.frames(batch.shape[1])
        return {"scores": batch.mean(axis=1), "frame_scores": batch[:, :frames]}


def test_frames_and_their_times_follow_the_centred_front_end():
    assert FACTS.frames(160_000) == 313 and FACTS.frames(511) == 1 and FACTS.frames(512) == 2
    assert FACTS.frame_times(3).tolist() == [0.0, 0.032, 0.064]
    assert AudioFacts.from_dict(FACTS.to_dict()) == FACTS


def test_equal_lengths_run_as_one_batch_and_stack():
    scorer = Recording()
    audio = np.arange(3 * 1000, dtype=np.float64).reshape(3, 1000)
    out = scorer.score(audio, sampling_rate=16_000)
    assert scorer.batches == [(3, 1000)]
    assert out.scores.dtype == np.float64 and out.scores.shape == (3,)
    np.testing.assert_allclose(out.scores, audio.mean(axis=1), rtol=1e-6)
    assert out.frame_scores.shape == (3, FACTS.frames(1000)) and out.logits is None


def test_different_lengths_run_one_batch_per_length_in_the_callers_order():
    scorer = Recording()
    clips = [np.full(200, 1.0), np.full(300, 2.0), np.full(200, 3.0)]
    out = scorer.score(clips)
    assert sorted(scorer.batches) == [(1, 300), (2, 200)]
    assert out.scores.tolist() == [1.0, 2.0, 3.0]
    assert isinstance(out.frame_scores, list) and [len(f) for f in out.frame_scores] == [1, 1, 1]


def test_one_clip_is_a_batch_of_one():
    out = Recording().score(np.ones(1000, dtype=np.float32))
    assert out.scores.shape == (1,)


@pytest.mark.parametrize(
    "audio, kwargs, fragment",
    [
        (np.ones(1000), {"sampling_rate": 44_100}, "sampling_rate=44100: this model takes 16000 Hz"),
        (np.ones(50), {}, "audio clip 0: 50 samples; the model needs at least 100"),
        (np.array([0.0] * 200 + [np.nan]), {}, "audio clip 0: holds NaN or infinite samples"),
        (np.ones((2, 2, 200)), {}, "expected (samples,) or (clips, samples)"),
        ([np.ones(200), np.ones((2, 200))], {}, "audio clip 1 has shape (2, 200): expected mono"),
        ([], {}, "non-empty list of waveforms"),
        (np.array(["a"] * 200), {}, "expected real numbers"),
    ],
)
def test_bad_audio_is_one_line(audio, kwargs, fragment):
    with pytest.raises(LibtradError) as info:
        Recording().score(audio, **kwargs)
    assert fragment in str(info.value)
