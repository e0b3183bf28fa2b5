"""The Jiangnan University (JNU) bearing data: 4 conditions at 600, 800 and 1000 rpm, 50 kHz, one channel.

Jiangnan University publishes 12 CSV files side by side (:data:`TREE`), one per bearing condition
and speed: ``n600_3_2.csv`` (normal), ``ib600_2.csv`` (inner-ring fault), ``ob600_2.csv``
(outer-ring fault), ``tb600_2.csv`` (roller fault), and the same at 800 and 1000 r/min. Each holds
one value per line: the vertical vibration of a PCB MA352A60 accelerometer at 50 kHz. The faults
are 0.3 mm × 0.05 mm dents cut by wire into the outer ring, the inner ring and a roller. The name
parts after the speed (``_2``, ``_3_2``) are kept in ``file`` only (the publisher does not explain
them).

This module holds the corpus whole: its layout, its :data:`COMPONENT` (card text, citation) and its
synthetic stand-in (:func:`plan_synthetic`, :func:`write_synthetic`).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import datasets
import numpy as np

from libtrad.builders.audio_io import InvalidAudio, safe_text
from libtrad.builders.fault.base import COMMON, SIGNALS, CardText, FaultComponent, no_siren_loader
from libtrad.builders.fault.common import DOCUMENTATION, ArrayLayout, BadName, Found, Listing, children
from libtrad.builders.fault.synth import EASY, Level, impulses, tone
from libtrad.builders.scan import SYNTHETIC_MARKER, rel_path
from libtrad.core.channels import ChannelPolicy
from libtrad.core.errors import LibtradError

SAMPLE_RATE = 50_000
PREFIXES = {"n": "normal", "ib": "inner_ring", "ob": "outer_ring", "tb": "roller"}
CLASSES = tuple(PREFIXES.values())
SPEEDS = (600, 800, 1000)
NAME = re.compile(r"^(?P<prefix>[a-z]+)(?P<rpm>[0-9]+)(?P<rest>(?:_[0-9]+)*)\.csv$", re.ASCII)
NAME_RULE = "<n|ib|ob|tb><600|800|1000>[_K...].csv (e.g. n600_3_2.csv, ib800_2.csv)"
TREE = """\
DATA_DIR/
  n600_3_2.csv   ib600_2.csv   ob600_2.csv   tb600_2.csv      600 r/min
  n800_3_2.csv   ib800_2.csv   ob800_2.csv   tb800_2.csv      800 r/min
  n1000_3_2.csv  ib1000_2.csv  ob1000_2.csv  tb1000_2.csv     1000 r/min
      one value per line: vertical vibration, 50 kHz
"""
DOWNLOADS = (
    {
        "what": "ClarkGableWang/JNU-Bearing-Dataset (its README; sizes and checksums not published)",
        "url": "https://github.com/ClarkGableWang/JNU-Bearing-Dataset",
    },
)


class JnuLayout(ArrayLayout):
    dataset = "JNU"
    configs = {"default": CLASSES}
    columns = {"rpm": datasets.Value("int32")}
    check_text = "CSV of one numeric value per line, finite, not empty"

    def find(self, data_dir, configs, rejected) -> Listing:
        """The CSVs at the top of DATA_DIR (the publisher ships no folders); documentation is listed as not read."""
        listing = Listing()
        named = []  # names that look like JNU files, valid or not: none at all means another folder

        def rule(name: str):
            if name == SYNTHETIC_MARKER or DOCUMENTATION.match(name):
                return "skip"
            if NAME.match(name):
                named.append(name)
            return _name(name)

        entries = children(data_dir, data_dir, rejected, files=rule, expected=NAME_RULE)
        for path, value in entries:
            if value == "skip":
                if path.name != SYNTHETIC_MARKER:
                    listing.not_read.append((path.name, "documentation"))
                continue
            label, rpm = value
            listing.found.append(Found(path, rel_path(data_dir, path), "default", label, {"rpm": rpm}))
        if not named:
            raise LibtradError(
                f"{safe_text(str(data_dir))}: no JNU layout here (expected {NAME_RULE} files at its "
                "top); pass the folder that holds them as --data-dir"
            )
        return listing

    def parse(self, data, found):
        return parse_csv(data, found.path), ("vertical",), SAMPLE_RATE, {}


def _name(name: str):
    m = NAME.match(name)
    if m is None:
        return None
    if m["prefix"] not in PREFIXES:
        raise BadName(
            f"unknown condition prefix {m['prefix']!r} (expected n = normal, ib = inner ring, ob = outer "
            "ring, tb = roller)"
        )
    rpm = int(m["rpm"])
    if rpm not in SPEEDS:
        raise BadName(f"speed {rpm} r/min is not one of 600, 800, 1000")
    return PREFIXES[m["prefix"]], rpm


def parse_csv(data: bytes, path: Path) -> np.ndarray:
    """1 × samples float32 of a JNU CSV, or InvalidAudio naming the first bad line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": reported below
            table = np.loadtxt(
                io.BytesIO(data), delimiter=",", dtype=np.float32, comments=None, ndmin=2, encoding="latin-1"
            )
    except ValueError:
        table = None
    if table is None or table.shape[1] != 1:
        raise InvalidAudio(path, _problem(data))
    if table.shape[0] == 0:
        raise InvalidAudio(path, "empty file (no values)")
    bad = ~np.isfinite(table[:, 0])
    if bad.any():
        raise InvalidAudio(path, f"line {int(np.flatnonzero(bad)[0]) + 1}: not a finite number")
    return np.ascontiguousarray(table.T)


def _problem(data: bytes) -> str:
    for number, line in enumerate(data.decode("latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != 1:
            return f"line {number} has {len(cells)} values, expected 1 (one sample per line)"
        try:
            float(cells[0])
        except ValueError:
            return f"line {number}: {cells[0].strip()[:40]!r} is not a number"
    return "empty file (no values)"


LAYOUT = JnuLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@article{li2013sequential,
  author  = {Li, Ke and Ping, Xueliang and Wang, Huaqing and Chen, Peng and Cao, Yi},
  title   = {Sequential Fuzzy Diagnosis Method for Motor Roller Bearing in Variable Operating Conditions Based on
             Vibration Analysis},
  journal = {Sensors},
  volume  = {13},
  number  = {6},
  pages   = {8013--8041},
  year    = {2013},
  doi     = {10.3390/s130608013}
}"""

COMPONENT = FaultComponent(
    "jnu",
    "Jiangnan University Bearing",
    LAYOUT,
    CardText(
        source="Jiangnan University (China) bearing fault data",
        protocol_summary="leave-one-out cross-validation over the 4 classes (siren-fault's default)",
        license_text="none stated by the publisher; cite the paper below",
        downloads=DOWNLOADS,
        acquisition=(
            "A bearing test rig runs at 600, 800 and 1000 r/min; a PCB MA352A60 accelerometer records the vertical "
            "vibration at 50 kHz. Faults are 0.3 mm × 0.05 mm (width × depth) dents cut by wire into the outer ring, "
            "the inner ring and a roller. 12 files: 4 conditions × 3 speeds. **One row is one file, whole** (not "
            "cut). The paper linked as the citation describes the rig; whether its bearing types and defect sizes "
            "match these files exactly is not stated by the publisher."
        ),
        classes={
            "normal": "normal bearing (n*)",
            "inner_ring": "inner-ring fault (ib*)",
            "outer_ring": "outer-ring fault (ob*)",
            "roller": "roller (rolling element) fault (tb*)",
        },
        protocol=(
            "The publisher defines no split. siren-fault runs **leave-one-out cross-validation** over the 12 "
            "files (no `fold` column): each query's class is represented by the files of the other two speeds, "
            "a cross-speed test."
        ),
        column_meanings={
            **SIGNALS,
            **COMMON,
            "signals": "the file's values as float32, 1 × samples",
            "channels": "`vertical`",
            "rpm": "shaft speed in r/min, from the file name (600, 800, 1000)",
        },
        layout=TREE,
    ),
    title="Jiangnan University Bearing Data (SIREN)",
    description="Vertical vibration of a normal bearing and bearings with inner-ring, outer-ring and roller faults at "
    "three speeds (Jiangnan University).",
    citation=CITATION,
    license="unknown",
    channels=ChannelPolicy(names=("vertical",), reason=no_siren_loader("jnu", "one vertical accelerometer per CSV")),
    tags=("vibration", "bearing-fault", "fault-diagnosis", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.csv)
SYNTHETIC_SECONDS = 0.1
ORDERS = {"inner_ring": 5.4, "outer_ring": 3.6, "roller": 2.4}  # defect frequency / shaft, for the stand-in


def plan_synthetic(scale: float) -> list:
    """The publisher's 12 files (the set is fixed: ``scale`` multiplies their length)."""
    jobs = []
    for rpm in SPEEDS:
        for prefix, label in PREFIXES.items():
            name = f"{prefix}{rpm}_3_2.csv" if prefix == "n" else f"{prefix}{rpm}_2.csv"
            jobs.append(
                (
                    name,
                    label,
                    {"label": label, "rpm": rpm, "n": max(64, round(SAMPLE_RATE * SYNTHETIC_SECONDS * scale))},
                )
            )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    rate, n, shaft = SAMPLE_RATE, p["n"], p["rpm"] / 60
    signal = tone(n, rate, shaft, 0.05, rng.uniform(0, 6.3)) + rng.normal(0, 0.02, n)
    if p["label"] != "normal":
        signal += impulses(
            rng, n, rate, ORDERS[p["label"]] * shaft, 3000 + 1000 * len(p["label"]) % 4000, 0.5 * level.gain, 0.0008
        )
    buffer = io.StringIO()
    np.savetxt(buffer, signal.reshape(-1, 1), fmt="%.6f")
    path.write_text(buffer.getvalue())
