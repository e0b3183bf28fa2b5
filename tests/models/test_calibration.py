"""models.calibration: the threshold reaches the target false-alarm rate on synthetic normal scores (events, not
frames), and too little held-out audio is refused."""

from __future__ import annotations

import numpy as np
import pytest

from libtrad.models.calibration import calibrate, count_events
from libtrad.models.events import EventParams, FrameScores

HOP = 0.032
POST = {"median_s": 0.1, "min_duration_s": 0.0, "merge_gap_s": 1.0}


def normal_hours(hours: float, seed: int = 0, clip_s: float = 10.0) -> list[FrameScores]:
    rng = np.random.default_rng(seed)
    frames = int(clip_s / HOP)
    clips = int(hours * 3600 / clip_s)
    # heavy-tailed normal scores with a slow drift, as a Mahalanobis distance on real audio
    return [FrameScores(5 + rng.standard_t(3, frames) + rng.normal(0, 0.5), HOP, -HOP / 2) for _ in range(clips)]


@pytest.mark.parametrize("target", [1.0, 4.0])
def test_calibration_reaches_the_target_rate(target):
    recordings, hours = normal_hours(3.0), 3.0
    found = calibrate(recordings, hours, target, **POST)
    assert found.false_alarms_per_hour <= target
    normalised = [FrameScores((r.scores - found.loc) / found.scale, r.hop_s, r.start_s) for r in recordings]
    below = np.nextafter(found.threshold, -np.inf) - 1e-6
    # the lowest such threshold: a little lower and the rate is over the target
    assert count_events(normalised, EventParams(below, **POST)) / hours > target
    # a held-out half of the same distribution shows a rate of the same order (not a frame rate)
    fresh = [FrameScores((r.scores - found.loc) / found.scale, r.hop_s, r.start_s) for r in normal_hours(3.0, seed=1)]
    assert count_events(fresh, EventParams(found.threshold, **POST)) / 3.0 <= 4 * target + 3


def test_too_short_held_out_audio_is_refused():
    with pytest.raises(ValueError, match="needs at least 60.0 min"):
        calibrate(normal_hours(0.2), 0.2, 1.0, **POST)
    with pytest.raises(ValueError, match="positive"):
        calibrate(normal_hours(0.2), 0.2, 0.0, **POST)
