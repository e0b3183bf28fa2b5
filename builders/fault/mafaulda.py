"""MAFAULDA (Machinery Fault Database, UFRJ): 10 classes, the severity folders merged into them.

The publisher's archive (``full.zip``, or one zip per fault) extracts to (:data:`TREE`).

Each CSV is 5 s at 50 kHz (250,000 rows, checked: a CSV cut short is refused) with no header
and 8 columns: tachometer, underhang-bearing accelerometer (axial, radial, tangential),
overhang-bearing accelerometer (axial, radial, tangential), microphone. Its name is the shaft rotation frequency
in Hz (``12.288.csv``).
Severity folders (misalignment in mm, imbalance mass in g; for the bearing faults the imbalance
mass added on top) are merged into the class and kept as the ``severity`` column.

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

from libtrad.builders.audio_io import InvalidAudio
from libtrad.builders.fault.base import COMMON, SIGNALS, CardText, FaultComponent
from libtrad.builders.fault.common import ArrayLayout, Found, Listing, children, one_of, top_level
from libtrad.builders.fault.synth import EASY, Level, band_noise, count, impulses, tone
from libtrad.builders.scan import rel_path
from libtrad.core.channels import ChannelPolicy

SAMPLE_RATE = 50_000
RECORD_ROWS = 5 * SAMPLE_RATE  # every published CSV: a 5-s sequence, 250,000 rows
SYNTHETIC_ROWS = SAMPLE_RATE // 5  # the synthetic stand-in's 0.2 s (a full 5 s would make it 25 times larger)
CHANNELS = (
    "tachometer",
    "underhang-axial",
    "underhang-radial",
    "underhang-tangential",
    "overhang-axial",
    "overhang-radial",
    "overhang-tangential",
    "microphone",
)
BEARINGS = ("ball_fault", "cage_fault", "outer_race")
CLASSES = (
    "normal",
    "horizontal-misalignment",
    "vertical-misalignment",
    "imbalance",
    *(f"{side}-{fault}" for side in ("overhang", "underhang") for fault in BEARINGS),
)
# Top folder -> the unit of its severity sub-folders (None: no severity level).
TOP = {
    "normal": None,
    "horizontal-misalignment": "mm",
    "vertical-misalignment": "mm",
    "imbalance": "g",
    "overhang": "g",
    "underhang": "g",
}
TREE = """\
DATA_DIR/
  normal/HZ.csv
  horizontal-misalignment/<0.5mm|1.0mm|...>/HZ.csv
  vertical-misalignment/<0.51mm|...>/HZ.csv
  imbalance/<6g|10g|...>/HZ.csv
  overhang/<ball_fault|cage_fault|outer_race>/<0g|6g|20g|35g>/HZ.csv
  underhang/<ball_fault|cage_fault|outer_race>/<0g|6g|20g|35g>/HZ.csv
"""
DOWNLOADS = (
    {"what": "MAFAULDA page (UFRJ SMT)", "url": "https://www02.smt.ufrj.br/~offshore/mfs/page_01.html"},
    {"what": "full.zip", "url": "https://www02.smt.ufrj.br/~offshore/mfs/database/mafaulda/full.zip"},
)
CSV_NAME = re.compile(r"^(?P<hz>[0-9]+(?:\.[0-9]+)?)\.csv$", re.ASCII)
SEVERITY = {unit: re.compile(rf"^[0-9]+(?:\.[0-9]+)?{unit}$", re.ASCII) for unit in ("mm", "g")}


class MafauldaLayout(ArrayLayout):
    dataset = "MAFAULDA"
    configs = {"default": CLASSES}
    columns = {"severity": datasets.Value("string"), "rotation_hz": datasets.Value("float32")}
    check_text = (
        f"CSV of 8 numeric columns (no header), finite, {RECORD_ROWS:,} rows (5 s at 50 kHz; the synthetic "
        f"stand-in's {SYNTHETIC_ROWS:,})"
    )
    length_unit = "rows"
    figure_channel = 1  # the first accelerometer channel (channel 0 is the tachometer's pulse train)

    def expected_frames(self, found, synthetic):
        """A CSV cut short (a broken copy or unpacking) would pass every per-line check: its length is checked."""
        if synthetic:
            return SYNTHETIC_ROWS, "0.2 s at 50 kHz, every file of libtrad's synthetic stand-in (SYNTHETIC.json)"
        return RECORD_ROWS, "5 s at 50 kHz, every MAFAULDA record"

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        expected = ", ".join(f"{name}/" for name in TOP)
        for folder, name in top_level(
            data_dir,
            rejected,
            listing,
            folders={n: n for n in TOP},
            not_read={},
            expected=expected,
            dataset=self.dataset,
        ):
            if name in ("overhang", "underhang"):
                bearings = children(
                    data_dir,
                    folder,
                    rejected,
                    dirs=one_of(BEARINGS),
                    expected="ball_fault/, cage_fault/ or outer_race/",
                )
                places = [(place, f"{name}-{fault}") for place, fault in bearings]
            else:
                places = [(folder, name)]
            for place, label in places:
                listing.found += self._csv_files(data_dir, place, label, TOP[name], rejected)
        return listing

    def _csv_files(self, data_dir, folder, label, unit, rejected) -> list[Found]:
        """The CSVs of one class: directly in ``folder`` (normal) or in its severity sub-folders."""
        levels = [(folder, None)]
        if unit is not None:
            example = "0.5mm/" if unit == "mm" else "6g/"
            levels = children(
                data_dir,
                folder,
                rejected,
                dirs=lambda n: n if SEVERITY[unit].match(n) else None,
                expected=f"severity folders such as {example}",
            )
        found = []
        for level, severity in levels:
            for path, hz in children(
                data_dir, level, rejected, files=_rotation, expected="HZ.csv, the rotation frequency (e.g. 12.288.csv)"
            ):
                meta = {"severity": severity, "rotation_hz": hz}
                found.append(Found(path, rel_path(data_dir, path), "default", label, meta))
        return found

    def parse(self, data, found):
        return parse_csv(data, found), CHANNELS, SAMPLE_RATE, {}


def _rotation(name: str) -> float | None:
    m = CSV_NAME.match(name)
    return float(m["hz"]) if m else None


def parse_csv(data: bytes, found: Found) -> np.ndarray:
    """8 × samples float32 of a MAFAULDA CSV, or InvalidAudio naming the first bad line."""
    path = found.path
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("ignore")  # "input contained no data": reported below as an empty file
            table = np.loadtxt(
                io.BytesIO(data), delimiter=",", dtype=np.float32, comments=None, ndmin=2, encoding="latin-1"
            )
    except ValueError:
        table = None
    if table is None or table.shape[1] != len(CHANNELS) or not np.isfinite(table).all():
        raise InvalidAudio(path, _csv_problem(data))
    if table.shape[0] == 0:
        raise InvalidAudio(path, "empty file (no rows)")
    return np.ascontiguousarray(table.T)


def _csv_problem(data: bytes) -> str:
    """The first line that breaks the format, found by reading the file line by line (the slow path)."""
    text = data.decode("latin-1")
    want = len(CHANNELS)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != want:
            return f"line {number} has {len(cells)} column(s), expected {want} ({', '.join(CHANNELS)})"
        for column, cell in enumerate(cells, start=1):
            try:
                value = float(cell)
            except ValueError:
                return f"line {number} column {column}: {cell.strip()[:40]!r} is not a number"
            with np.errstate(over="ignore"):
                finite = np.isfinite(np.float32(value))
            if not finite:
                return f"line {number} column {column}: {cell.strip()[:40]!r} is not a finite float32 number"
    return "empty file (no rows)" if not text.strip() else "not a CSV of 8 numeric columns"


LAYOUT = MafauldaLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@misc{mafaulda,
  author       = {{Signals, Multimedia, and Telecommunications Laboratory, Universidade Federal do Rio de Janeiro}},
  title        = {{MAFAULDA}: Machinery Fault Database},
  howpublished = {\url{https://www02.smt.ufrj.br/~offshore/mfs/page_01.html}}
}
@inproceedings{ribeiro2017similarity,
  author    = {Ribeiro, Felipe M. L. and Marins, Matheus A. and Netto, Sergio L. and da Silva, Eduardo A. B.},
  title     = {Rotating machinery fault diagnosis using similarity-based models},
  booktitle = {XXXV Simp{\'o}sio Brasileiro de Telecomunica{\c{c}}{\~o}es e Processamento de Sinais (SBrT 2017)},
  year      = {2017}
}"""

COMPONENT = FaultComponent(
    "mafaulda",
    "MAFAULDA",
    LAYOUT,
    CardText(
        source="MAFAULDA — Machinery Fault Database, Signals, Multimedia and Telecommunications Laboratory (SMT), "
        "Universidade Federal do Rio de Janeiro (UFRJ)",
        protocol_summary="leave-one-out cross-validation over the 10 classes (SIREN --loocv)",
        license_text="none stated: the SMT page offers the database for free download; cite it",
        downloads=DOWNLOADS,
        acquisition=(
            "A SpectraQuest machinery fault simulator (rotor on a shaft between two bearings) runs at rotation "
            "frequencies of about 12–60 Hz. Accelerometers on the underhang and the overhang bearing (axial, "
            "radial, tangential), a tachometer and a microphone are sampled at 50 kHz; each CSV is a 5-s "
            "sequence with the 8 channels as columns. Faults: misalignment (horizontal, vertical), imbalance "
            "and bearing faults (ball, cage, outer race) in either bearing, at several severities."
        ),
        classes={
            "normal": "no fault",
            "horizontal-misalignment": "shaft misaligned horizontally (severity 0.5–2.0 mm)",
            "vertical-misalignment": "shaft misaligned vertically (severity 0.51–1.90 mm)",
            "imbalance": "load imbalance on the rotor (severity 6–35 g)",
            **{
                f"{side}-{fault}": f"{fault.replace('_', ' ')} in the {side} bearing (with 0–35 g imbalance)"
                for side in ("overhang", "underhang")
                for fault in ("ball_fault", "cage_fault", "outer_race")
            },
        },
        protocol=(
            "SIREN evaluates MAFAULDA by **leave-one-out cross-validation** over the 10 classes, the severity "
            "levels merged into their class (k-NN over all files, optionally per channel)."
        ),
        column_meanings={
            **SIGNALS,
            **COMMON,
            "channels": "`tachometer`, `underhang-axial/radial/tangential`, `overhang-axial/radial/tangential`, "
            "`microphone` (the CSV's column order; the microphone is kept in the array, not as "
            "audio, so all 8 channels stay aligned)",
            "severity": "the severity folder the file came from (`0.5mm`, `6g`, ...; for bearing faults the "
            "imbalance mass added), null for `normal`",
            "rotation_hz": "shaft rotation frequency in Hz, from the file name",
        },
        layout=TREE,
    ),
    title="MAFAULDA: Machinery Fault Database (SIREN)",
    description="Multi-sensor vibration and sound recordings of a machinery fault simulator (10 fault classes), "
    "as used by SIREN's fault-classification benchmark.",
    citation=CITATION,
    license="unknown",
    channels=ChannelPolicy(
        names=CHANNELS,
        reason=(
            "SIREN reads all 8 columns of each CSV (siren/core/base_extractor.py) and embeds each channel, "
            "concatenated (its default multi-channel strategy; its ECHO example expects 8 channels)"
        ),
    ),
    tags=("vibration", "fault-diagnosis", "rotating-machinery", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.csv)
MAFAULDA_SEVERITIES = {
    "horizontal-misalignment": ("0.5mm", "1.0mm"),
    "vertical-misalignment": ("0.51mm", "0.63mm"),
    "imbalance": ("6g", "10g"),
    "bearing": ("0g", "6g"),
}
MAFAULDA_ORDERS = {"ball_fault": 1.37, "cage_fault": 0.37, "outer_race": 2.98}  # defect frequency / shaft


def plan_synthetic(scale: float) -> list:
    jobs = []
    for label in CLASSES:
        side, _, bearing = label.partition("-") if label.startswith(("overhang", "underhang")) else (label, "", "")
        levels = MAFAULDA_SEVERITIES["bearing" if bearing else label] if label != "normal" else (None,)
        for i in range(count(2, scale)):
            severity = levels[i % len(levels)]
            hz = round(12.288 + 2.048 * i, 4)
            folder = "/".join(x for x in (side, bearing, severity) if x)
            jobs.append(
                (
                    f"{folder}/{hz:g}.csv",
                    label,
                    {
                        "label": label,
                        "side": side if bearing else None,
                        "bearing": bearing,
                        "severity": severity,
                        "hz": hz,
                    },
                )
            )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    """One CSV: tachometer, shaft tone and noise on the accelerometers, plus the fault's harmonics or
    bearing impulses (times ``level.gain``: the difficulty), and the microphone."""
    rate, n, hz = SAMPLE_RATE, SYNTHETIC_ROWS, p["hz"]  # 0.2 s
    g = level.gain
    t = np.arange(n) / rate
    severity = float(p["severity"].rstrip("mg")) if p["severity"] else 0.0
    table = np.zeros((n, 8))
    table[:, 0] = 4.5 * (np.sin(2 * np.pi * hz * t) > 0.97)  # tachometer: one pulse per revolution
    for column in range(1, 7):
        table[:, column] = tone(n, rate, hz, 0.05, rng.uniform(0, 6.3)) + rng.normal(0, 0.02, n)
    label = p["label"]
    if label == "imbalance" or p["bearing"]:
        for column in (2, 5):  # radial: 1x grows with the imbalance mass
            table[:, column] += tone(n, rate, hz, 0.01 * severity * g, 0.3)
    if label == "horizontal-misalignment":
        for column in (2, 3, 5, 6):
            table[:, column] += tone(n, rate, 2 * hz, (0.1 + 0.2 * severity) * g)
    if label == "vertical-misalignment":
        for column in (1, 4):
            table[:, column] += tone(n, rate, 2 * hz, (0.1 + 0.2 * severity) * g) + tone(n, rate, 3 * hz, 0.1 * g)
    if p["bearing"]:
        first = 4 if p["side"] == "overhang" else 1
        hits = impulses(rng, n, rate, MAFAULDA_ORDERS[p["bearing"]] * hz, 4200 + 800 * first, 0.4 * g, 0.001)
        for column in range(first, first + 3):
            table[:, column] += hits
    table[:, 7] = 0.3 * table[:, 2] + band_noise(rng, n, rate, 100, 8000, 0.01)  # microphone
    buffer = io.StringIO()
    np.savetxt(buffer, table, delimiter=",", fmt="%.6g")
    path.write_text(buffer.getvalue())
