"""libtrad.builders.lib_trad.synth: every abnormal segment carries its event's onset and offset at every
difficulty, and the annotated onset is where the venting starts (what the event evaluation measures against)."""

from __future__ import annotations

import numpy as np
import pytest

from libtrad.builders.lib_trad.layout import SAMPLE_RATE
from libtrad.builders.lib_trad.synth import PROFILES, VENTING_BAND_HZ, plan, render


def _band_energy(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(spectrum[(f >= VENTING_BAND_HZ[0]) & (f <= VENTING_BAND_HZ[1])].sum())


@pytest.mark.parametrize("difficulty", sorted(PROFILES))
def test_every_abnormal_segment_has_its_event_and_no_normal_one_does(difficulty):
    profile = PROFILES[difficulty]
    jobs = plan(0.02, seed=3)
    abnormal = [j for j in jobs if j["label"] == "abnormal" and j["group"] == "TR1"]
    normal = [j for j in jobs if j["label"] == "normal"][:1] + [j for j in jobs if j["spec"] is None][:1]
    assert len(abnormal) == 2
    for job in abnormal:
        signal, event = render(job, 3, profile, profile.level_db)
        onset, offset = event
        assert 0.5 <= onset <= 5.0 and onset < offset <= 10.0
        if difficulty == "easy":  # the venting band lights up at the annotated onset (nearest microphone)
            at = int(onset * SAMPLE_RATE)
            half = SAMPLE_RATE // 2
            assert _band_energy(signal[at : at + half, 0]) > 10 * _band_energy(signal[at - half : at, 0])
    for job in normal:
        assert render(job, 3, profile, profile.level_db)[1] is None
