"""IDMT-ISA-ELECTRIC-ENGINE (Fraunhofer IDMT): three electric engines, 3-s cuts at 44.1 kHz.

The Zenodo archive extracts to (:data:`TREE`).

A row is one cut; ``subset`` says which folder it came from (SIREN trains on ``train`` and
tests on ``test``, grouped by ``condition``), ``recording`` the uncut recording it was cut from
(``talking_2``), ``condition`` the recording condition SIREN groups by (``talking``,
``atmo_low``, ..., ``pure`` for the clean training recordings) and ``cut`` its index.
"""

from __future__ import annotations

import re

import datasets

from libtrad.builders.fault.common import AudioLayout, BadName, Found, Listing, children, one_of, top_level
from libtrad.builders.scan import rel_path

SAMPLE_RATE = 44_100
CLASSES = ("engine1_good", "engine2_broken", "engine3_heavyload")
SUBSETS = {"train_cut": "train", "test_cut": "test"}
NOT_READ = {name: "the uncut recordings; the 3-s cuts in train_cut/ and test_cut/ are the rows"
            for name in ("train", "test")}
TEST_RECORDINGS = re.compile(r"^(talking_[0-9]+|atmo_(?:low|medium|high)|whitenoise_low|stresstest)$", re.ASCII)
CUT_NAME = re.compile(r"^(?P<recording>[a-z]+(?:_[a-z0-9]+)?)_(?P<cut>[0-9]+)\.wav$", re.ASCII)
TREE = """\
DATA_DIR/
  train_cut/<engine1_good|engine2_broken|engine3_heavyload>/pure_N.wav
  test_cut/<engine...>/RECORDING_N.wav   RECORDING: talking_1..4, atmo_low|atmo_medium|atmo_high,
                                         whitenoise_low, stresstest
  train/, test/                          the uncut recordings the cuts come from: not read
"""
DOWNLOADS = (
    {"what": "Zenodo record 7551261", "url": "https://zenodo.org/records/7551261"},
)


class IieeLayout(AudioLayout):
    dataset = "IIEE"
    configs = {"default": CLASSES}
    sample_rate = SAMPLE_RATE
    columns = {"subset": datasets.Value("string"), "condition": datasets.Value("string"),
               "recording": datasets.Value("string"), "cut": datasets.Value("int32")}
    check_text = "readable WAV, 44.1 kHz, mono, finite, not empty"

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        for folder, subset in top_level(data_dir, rejected, listing, folders=SUBSETS, not_read=NOT_READ,
                                        expected="train_cut/ and/or test_cut/", dataset=self.dataset):
            expected = "pure_N.wav" if subset == "train" else \
                "RECORDING_N.wav (talking_K, atmo_low/medium/high, whitenoise_low, stresstest)"
            for engine_dir, engine in children(data_dir, folder, rejected, dirs=one_of(CLASSES),
                                               expected=", ".join(f"{c}/" for c in CLASSES)):
                for path, (recording, cut) in children(data_dir, engine_dir, rejected, expected=expected,
                                                       files=lambda name, subset=subset: _cut(name, subset)):
                    condition = "talking" if recording.startswith("talking_") else recording
                    meta = {"subset": subset, "condition": condition, "recording": recording, "cut": cut}
                    listing.found.append(Found(path, rel_path(data_dir, path), "default", engine, meta))
        return listing


def _cut(name: str, subset: str) -> tuple[str, int] | None:
    m = CUT_NAME.match(name)
    if m is None:
        return None
    recording, cut = m["recording"], m["cut"]
    if len(cut.lstrip("0")) > 9:
        raise BadName(f"cut number {cut} is too large")
    if subset == "train" and recording != "pure":
        raise BadName(f"recording {recording!r} in train_cut/ (the training cuts are pure_N.wav)")
    if subset == "test" and not TEST_RECORDINGS.match(recording):
        raise BadName(f"unknown test recording {recording!r} (expected talking_K, atmo_low, atmo_medium, "
                      "atmo_high, whitenoise_low or stresstest)")
    return recording, int(cut)


LAYOUT = IieeLayout()
