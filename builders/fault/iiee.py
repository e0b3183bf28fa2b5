"""IDMT-ISA-ELECTRIC-ENGINE (Fraunhofer IDMT): three electric engines, 3-s cuts at 44.1 kHz.

The Zenodo archive extracts to (:data:`TREE`).

A row is one cut (exactly 3 s: a cut of another length is refused); ``subset`` says which
folder it came from (SIREN trains on ``train`` and tests on ``test``, grouped by
``condition``), ``recording`` the uncut recording it was cut from (``talking_2``),
``condition`` the recording condition SIREN groups by (``talking``, ``atmo_low``, ..., ``pure``
for the clean training recordings) and ``cut`` its index.

This module holds the corpus whole: its layout, its :data:`COMPONENT` (card text, citation) and its
synthetic stand-in (:func:`plan_synthetic`, :func:`write_synthetic`).
"""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import numpy as np

from libtrad.builders.fault.base import COMMON, ZENODO_LICENSE, CardText, FaultComponent
from libtrad.builders.fault.common import AudioLayout, BadName, Found, Listing, children, one_of, top_level
from libtrad.builders.fault.synth import EASY, Level, band_noise, count, impulses, tone, write_wav
from libtrad.builders.scan import rel_path
from libtrad.builders.siren import MONO_WAV

SAMPLE_RATE = 44_100
CUT_FRAMES = 3 * SAMPLE_RATE  # the publisher cuts every recording into 3-s pieces (so does the stand-in)
CLASSES = ("engine1_good", "engine2_broken", "engine3_heavyload")
SUBSETS = {"train_cut": "train", "test_cut": "test"}
NOT_READ = {
    name: "the uncut recordings; the 3-s cuts in train_cut/ and test_cut/ are the rows" for name in ("train", "test")
}
TEST_RECORDINGS = re.compile(r"^(talking_[0-9]+|atmo_(?:low|medium|high)|whitenoise_low|stresstest)$", re.ASCII)
CUT_NAME = re.compile(r"^(?P<recording>[a-z]+(?:_[a-z0-9]+)?)_(?P<cut>[0-9]+)\.wav$", re.ASCII)
TREE = """\
DATA_DIR/
  train_cut/<engine1_good|engine2_broken|engine3_heavyload>/pure_N.wav
  test_cut/<engine...>/RECORDING_N.wav   RECORDING: talking_1..4, atmo_low|atmo_medium|atmo_high,
                                         whitenoise_low, stresstest
  train/, test/                          the uncut recordings the cuts come from: not read
"""
DOWNLOADS = ({"what": "Zenodo record 7551261", "url": "https://zenodo.org/records/7551261"},)


class IieeLayout(AudioLayout):
    dataset = "IIEE"
    configs = {"default": CLASSES}
    sample_rate = SAMPLE_RATE
    columns = {
        "subset": datasets.Value("string"),
        "condition": datasets.Value("string"),
        "recording": datasets.Value("string"),
        "cut": datasets.Value("int32"),
    }
    check_text = f"readable WAV, 44.1 kHz, mono, finite, 3 s ({CUT_FRAMES:,} samples)"

    def expected_frames(self, found, synthetic):
        """A short piece among the 3-s cuts (a recording's tail, a broken copy) is refused, not made a row."""
        return CUT_FRAMES, "3 s at 44.1 kHz, every IIEE cut"

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        for folder, subset in top_level(
            data_dir,
            rejected,
            listing,
            folders=SUBSETS,
            not_read=NOT_READ,
            expected="train_cut/ and/or test_cut/",
            dataset=self.dataset,
        ):
            expected = (
                "pure_N.wav"
                if subset == "train"
                else "RECORDING_N.wav (talking_K, atmo_low/medium/high, whitenoise_low, stresstest)"
            )
            for engine_dir, engine in children(
                data_dir, folder, rejected, dirs=one_of(CLASSES), expected=", ".join(f"{c}/" for c in CLASSES)
            ):
                for path, (recording, cut) in children(
                    data_dir,
                    engine_dir,
                    rejected,
                    expected=expected,
                    files=lambda name, subset=subset: _cut(name, subset),
                ):
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
        raise BadName(
            f"unknown test recording {recording!r} (expected talking_K, atmo_low, atmo_medium, "
            "atmo_high, whitenoise_low or stresstest)"
        )
    return recording, int(cut)


LAYOUT = IieeLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@inproceedings{grollmisch2019sounding,
  author    = {Grollmisch, Sascha and Abe{\ss}er, Jakob and Liebetrau, Judith and Lukashevich, Hanna},
  title     = {Sounding Industry: Challenges and Datasets for Industrial Sound Analysis},
  booktitle = {Proceedings of the 27th European Signal Processing Conference (EUSIPCO)},
  year      = {2019}
}"""

COMPONENT = FaultComponent(
    "iiee",
    "IDMT-ISA Electric Engine",
    LAYOUT,
    CardText(
        source="IDMT-ISA-ELECTRIC-ENGINE, Fraunhofer Institute for Digital Media Technology (IDMT), "
        "Industrial Sound Analysis group",
        protocol_summary="train on subset 'train' (train_cut), test on subset 'test' (test_cut), per condition",
        license_text=ZENODO_LICENSE,
        downloads=DOWNLOADS,
        acquisition=(
            "Three electric engines of one type — a good one, a broken one and one under heavy load — recorded "
            "with a microphone at 44.1 kHz. The training recordings are clean (`pure`); the test recordings "
            "add background conditions: people talking, factory atmosphere at three levels, low white noise "
            "and a stress test. The publisher cuts every recording into 3-s pieces (`train_cut/`, "
            "`test_cut/`); one cut is one row."
        ),
        classes={
            "engine1_good": "engine in good condition",
            "engine2_broken": "broken engine",
            "engine3_heavyload": "engine running under heavy load",
        },
        protocol=(
            'SIREN trains on the clean cuts (`subset == "train"`) and tests on the noisy ones '
            '(`subset == "test"`), reporting results per `condition`. Select them with '
            '`ds.filter(lambda s: s == "test", input_columns="subset")`.'
        ),
        column_meanings={
            **COMMON,
            "audio": "the 3-s cut, the publisher's WAV bytes unchanged",
            "subset": "`train` (from train_cut/) or `test` (from test_cut/)",
            "condition": "`pure`, `talking`, `atmo_low`, `atmo_medium`, `atmo_high`, `whitenoise_low`, `stresstest`",
            "recording": "the uncut recording the cut comes from (`talking_2`, `atmo_low`, ...)",
            "cut": "index of the cut within its recording",
        },
        layout=TREE,
    ),
    title="IDMT-ISA-ELECTRIC-ENGINE (SIREN)",
    description="Sound of electric engines in three states (good, broken, heavy load) under background noise, "
    "as used by SIREN's fault-classification benchmark.",
    citation=CITATION,
    license="other",
    channels=MONO_WAV,
    tags=("machine-sound", "fault-diagnosis", "electric-engine", "audio", "siren"),
)


# --------------------------------------------------------------------------- synthetic stand-in (.wav)
IIEE_ENGINES = {
    "engine1_good": (50.0, 1200.0, 0.0),
    "engine2_broken": (50.0, 1150.0, 1.0),
    "engine3_heavyload": (41.0, 950.0, 0.0),
}  # mains/rotation hz, whine hz, rattle
IIEE_TEST = ("talking_1", "atmo_low", "whitenoise_low", "stresstest")


def plan_synthetic(scale: float) -> list:
    jobs = []
    for engine in CLASSES:
        for i in range(count(2, scale)):
            jobs.append((f"train_cut/{engine}/pure_{i}.wav", engine, {"engine": engine, "recording": "pure"}))
        for i in range(count(4, scale)):
            recording = IIEE_TEST[i % len(IIEE_TEST)]
            jobs.append(
                (
                    f"test_cut/{engine}/{recording}_{i // len(IIEE_TEST)}.wav",
                    engine,
                    {"engine": engine, "recording": recording},
                )
            )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    """One cut: the engine's harmonics, whine and rattle (times ``level.gain``: the difficulty) over
    broadband noise, plus the recording condition's interference."""
    rate = SAMPLE_RATE
    n = CUT_FRAMES
    g = level.gain
    f0, whine, rattle = IIEE_ENGINES[p["engine"]]
    signal = sum(tone(n, rate, k * f0, 0.08 / k * g, rng.uniform(0, 6.3)) for k in range(1, 8))
    signal = signal + tone(n, rate, whine, 0.03 * g) + band_noise(rng, n, rate, 50, 6000, 0.01)
    if rattle:
        signal += impulses(rng, n, rate, 17.0, 2600.0, 0.25 * g, 0.004)
    recording = p["recording"]
    if recording.startswith("talking"):
        syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * np.arange(n) / rate) ** 2
        signal += syllables * band_noise(rng, n, rate, 300, 3000, 0.05)
    elif recording.startswith("atmo"):
        signal += band_noise(rng, n, rate, 20, 12000, 0.02)
    elif recording == "whitenoise_low":
        signal += rng.normal(0, 0.01, n)
    elif recording == "stresstest":
        signal += band_noise(rng, n, rate, 20, 16000, 0.06) + impulses(rng, n, rate, 3.0, 800.0, 0.3, 0.02)
    write_wav(path, signal, rate, "PCM_16", "IIEE")
