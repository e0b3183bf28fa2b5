"""IDMT-ISA-COMPRESSED-AIR (Fraunhofer IDMT): compressed-air leaks at 48 kHz, 3 classes, 5 folds.

SIREN reads the archive's ``raw/`` tree (:data:`TREE`).

NAME carries the annotation: ``_iO_`` ("in Ordnung") = no leak, ``_niO_`` = a leak, of the
type its top folder names (case-insensitive, exactly one of the two). Classes: ``no_leak``,
``tubeleak``, ``ventleak``. The columns keep the folder (``setup``), the background noise
(``background``) and the recording session.

``fold`` is SIREN's 5-fold protocol made explicit: scikit-learn's
``StratifiedKFold(n_splits=5, shuffle=True, random_state=1)`` over the valid files sorted by
path; a row's fold is the one whose test part holds it.

This module holds the corpus whole: its layout, its :data:`COMPONENT` (card text, citation) and its
synthetic stand-in (:func:`plan_synthetic`, :func:`write_synthetic`).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

import datasets

from libtrad.builders.fault.base import COMMON, ZENODO_LICENSE, CardText, FaultComponent
from libtrad.builders.fault.common import AudioLayout, BadName, Checked, Found, Listing, children, one_of, top_level
from libtrad.builders.fault.synth import EASY, Level, band_noise, count, impulses, tone, write_wav
from libtrad.builders.scan import rel_path
from libtrad.builders.siren import MONO_WAV
from libtrad.core.errors import LibtradError

SAMPLE_RATE = 48_000
CLASSES = ("no_leak", "tubeleak", "ventleak")
SETUPS = ("tubeleak", "ventleak")
BACKGROUNDS = ("hydr", "hydr_low", "lab", "work", "work_low")
N_FOLDS, FOLD_SEED = 5, 1
NOT_READ = {"ventlow": "low-pressure vent leaks: not one of SIREN's three classes"}
SESSION = re.compile(r"^[0-9]{1,6}$", re.ASCII)
TREE = """\
DATA_DIR/
  raw/<tubeleak|ventleak>/<hydr|hydr_low|lab|work|work_low>/<session>/NAME.wav
  raw/ventlow/                       the low-pressure vent leak: not part of SIREN's task, not read
"""
DOWNLOADS = ({"what": "Zenodo record 7551606", "url": "https://zenodo.org/records/7551606"},)


class IicaLayout(AudioLayout):
    dataset = "IICA"
    configs = {"default": CLASSES}
    sample_rate = SAMPLE_RATE
    columns = {
        "fold": datasets.Value("int32"),
        "setup": datasets.Value("string"),
        "background": datasets.Value("string"),
        "session": datasets.Value("int32"),
    }
    check_text = "readable WAV, 48 kHz, mono, finite, not empty"
    manifest_info = {
        "folds": {
            "method": "sklearn.model_selection.StratifiedKFold",
            "n_splits": N_FOLDS,
            "shuffle": True,
            "random_state": FOLD_SEED,
            "order": "valid files sorted by path",
        }
    }

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        for raw, _ in top_level(
            data_dir, rejected, listing, folders={"raw": "raw"}, not_read={}, expected="raw/", dataset=self.dataset
        ):
            for setup_dir, setup in children(
                data_dir, raw, rejected, dirs=one_of((*SETUPS, *NOT_READ)), expected="tubeleak/ or ventleak/"
            ):
                if setup in NOT_READ:
                    listing.not_read.append((rel_path(data_dir, setup_dir) + "/", NOT_READ[setup]))
                    continue
                for background_dir, background in children(
                    data_dir,
                    setup_dir,
                    rejected,
                    dirs=one_of(BACKGROUNDS),
                    expected=", ".join(f"{b}/" for b in BACKGROUNDS),
                ):
                    listing.found += _sessions(data_dir, background_dir, setup, background, rejected)
        return listing

    def finish(self, checked: list[Checked]) -> list[Checked]:
        folds = assign_folds([c.found.rel for c in checked], [c.found.label for c in checked])
        return [
            Checked(c.found, c.sha256, c.size, c.sample_rate, c.channels, c.frames, {**c.meta, "fold": folds[i]})
            for i, c in enumerate(checked)
        ]


def _sessions(data_dir, folder, setup: str, background: str, rejected) -> list[Found]:
    """The recordings of every session folder of one background noise."""
    found = []
    for session_dir, session in children(
        data_dir,
        folder,
        rejected,
        expected="session folders 1/, 2/, 3/",
        dirs=lambda n: int(n) if SESSION.match(n) else None,
    ):
        for path, label in children(
            data_dir,
            session_dir,
            rejected,
            files=lambda n: _label(n, setup),
            expected="NAME.wav with _iO_ or _niO_ in NAME",
        ):
            meta = {"setup": setup, "background": background, "session": session}
            found.append(Found(path, rel_path(data_dir, path), "default", label, meta))
    return found


def _label(name: str, setup: str) -> str | None:
    if not name.lower().endswith(".wav"):
        return None
    lower = name.lower()
    no_leak, leak = "_io_" in lower, "_nio_" in lower
    if no_leak == leak:
        raise BadName("its name must hold exactly one of _iO_ (no leak) and _niO_ (leak)")
    return "no_leak" if no_leak else setup


def assign_folds(paths: list[str], labels: list[str]) -> list[int]:
    """Each file's fold (0-4) under StratifiedKFold(5, shuffle=True, random_state=1) over the files sorted by path."""
    from sklearn.model_selection import StratifiedKFold

    counts = Counter(labels)
    if not counts or max(counts.values()) < N_FOLDS:  # scikit-learn cannot split that at all
        found = ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) or "none"
        raise LibtradError(
            f"IICA's stratified {N_FOLDS}-fold protocol needs at least {N_FOLDS} valid files of a class (found {found})"
        )
    order = sorted(range(len(paths)), key=lambda i: paths[i])
    folds = [0] * len(paths)
    splitter = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=FOLD_SEED)
    with warnings.catch_warnings():
        # A class with fewer than 5 files cannot be in every fold; the split is still made (and documented).
        warnings.filterwarnings("ignore", message="The least populated class")
        for fold, (_, test) in enumerate(splitter.split(order, [labels[i] for i in order])):
            for position in test:
                folds[order[position]] = fold
    return folds


LAYOUT = IicaLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@inproceedings{johnson2020compressed,
  author    = {Johnson, David S. and Grollmisch, Sascha},
  title     = {Compressed Air Leakage Detection Using Acoustic Emissions with Neural Networks},
  booktitle = {Proceedings of INTER-NOISE 2020},
  year      = {2020}
}"""

COMPONENT = FaultComponent(
    "iica",
    "IDMT-ISA Compressed Air",
    LAYOUT,
    CardText(
        source="IDMT-ISA-COMPRESSED-AIR, Fraunhofer Institute for Digital Media Technology (IDMT), "
        "Industrial Sound Analysis group",
        protocol_summary="stratified 5-fold cross-validation, folds in the `fold` column (StratifiedKFold, "
        "shuffle, random_state=1, files sorted by path)",
        license_text=ZENODO_LICENSE,
        downloads=DOWNLOADS,
        acquisition=(
            "Leaks of a compressed-air system — at a tube and at a vent — and the same system without a leak, "
            "recorded with microphones at 48 kHz in the lab and under hydraulic-machine and workshop noise at "
            "two levels (`hydr`, `hydr_low`, `work`, `work_low`), in three sessions. The file name's `iO` / `niO` "
            "annotation says whether a leak is present."
        ),
        classes={
            "no_leak": "no leak (`_iO_` in the file name)",
            "tubeleak": "tube leak (`_niO_` under tubeleak/)",
            "ventleak": "vent leak (`_niO_` under ventleak/)",
        },
        protocol=(
            "SIREN evaluates IICA by **stratified 5-fold cross-validation**. The folds are fixed here as the "
            "`fold` column: scikit-learn's `StratifiedKFold(n_splits=5, shuffle=True, random_state=1)` over "
            "the valid files sorted by `file`; a row's fold is the one whose test part holds it. Fold k: "
            "test on `fold == k`, train on the rest. (A file rejected with `--on-error skip` changes the "
            "folds: they are computed over the files that were built.)"
        ),
        column_meanings={
            **COMMON,
            "audio": "the recording, the publisher's WAV bytes unchanged",
            "fold": "cross-validation fold 0–4",
            "setup": "the top folder: `tubeleak` or `ventleak` (no-leak files occur in both)",
            "background": "background noise: `lab`, `hydr`, `hydr_low`, `work`, `work_low`",
            "session": "recording session (folder number)",
        },
        layout=TREE,
    ),
    title="IDMT-ISA-COMPRESSED-AIR (SIREN)",
    description="Sound of compressed-air leaks (tube, vent) and of the leak-free system under industrial "
    "background noise, as used by SIREN's fault-classification benchmark.",
    citation=CITATION,
    license="other",
    channels=MONO_WAV,
    tags=("machine-sound", "leak-detection", "compressed-air", "audio", "siren"),
)


# --------------------------------------------------------------------------- synthetic stand-in (.wav)
IICA_LEAK_BANDS = {"tubeleak": (6000.0, 20000.0, None), "ventleak": (2000.0, 10000.0, 4500.0)}  # hiss band, whistle


def plan_synthetic(scale: float) -> list:
    jobs = []
    for label in CLASSES:
        for i in range(count(5, scale, least=2)):
            setup = label if label != "no_leak" else SETUPS[i % 2]
            background, session = BACKGROUNDS[i % len(BACKGROUNDS)], 1 + i % 3
            annotation = "iO" if label == "no_leak" else "niO"
            jobs.append(
                (
                    f"raw/{setup}/{background}/{session}/{session}_{annotation}_{i}_{1 + i % 4}m_.wav",
                    label,
                    {"leak": None if label == "no_leak" else label, "background": background},
                )
            )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    """One clip: sensor noise and the background's machinery, plus the leak's hiss band and whistle
    (times ``level.gain``: the difficulty)."""
    rate = SAMPLE_RATE
    n = rate // 2  # 0.5 s
    background = p["background"]
    quiet = 0.4 if background.endswith("_low") else 1.0
    signal = rng.normal(0, 0.002, n)
    if background.startswith("hydr"):
        signal += quiet * sum(tone(n, rate, k * 100.0, 0.05 / k) for k in range(1, 6))
    elif background.startswith("work"):
        signal += quiet * impulses(rng, n, rate, 2.5, 1500.0, 0.3, 0.01)
    if p["leak"]:
        low, high, whistle = IICA_LEAK_BANDS[p["leak"]]
        signal += band_noise(rng, n, rate, low, high, 0.03 * level.gain)
        if whistle:
            signal += tone(n, rate, whistle, 0.02 * level.gain)
    write_wav(path, signal, rate, "PCM_24", "IICA")
