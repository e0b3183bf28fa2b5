"""MAFAULDA (Machinery Fault Database, UFRJ): 10 classes, the severity folders merged into them.

The publisher's archive (``full.zip``, or one zip per fault) extracts to (:data:`TREE`).

Each CSV is 5 s at 50 kHz with no header and 8 columns: tachometer, underhang-bearing
accelerometer (axial, radial, tangential), overhang-bearing accelerometer (axial, radial,
tangential), microphone. Its name is the shaft rotation frequency in Hz (``12.288.csv``).
Severity folders (misalignment in mm, imbalance mass in g; for the bearing faults the imbalance
mass added on top) are merged into the class and kept as the ``severity`` column.
"""

from __future__ import annotations

import io
import re
import warnings

import datasets
import numpy as np

from libtrad.builders.audio_io import InvalidAudio
from libtrad.builders.fault.common import ArrayLayout, Found, Listing, children, one_of, top_level
from libtrad.builders.scan import rel_path

SAMPLE_RATE = 50_000
CHANNELS = ("tachometer", "underhang-axial", "underhang-radial", "underhang-tangential",
            "overhang-axial", "overhang-radial", "overhang-tangential", "microphone")
BEARINGS = ("ball_fault", "cage_fault", "outer_race")
CLASSES = ("normal", "horizontal-misalignment", "vertical-misalignment", "imbalance",
           *(f"{side}-{fault}" for side in ("overhang", "underhang") for fault in BEARINGS))
# Top folder -> the unit of its severity sub-folders (None: no severity level).
TOP = {"normal": None, "horizontal-misalignment": "mm", "vertical-misalignment": "mm", "imbalance": "g",
       "overhang": "g", "underhang": "g"}
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
    check_text = "CSV of 8 numeric columns (no header), finite, not empty"
    figure_channel = 1  # the first accelerometer channel (channel 0 is the tachometer's pulse train)

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        expected = ", ".join(f"{name}/" for name in TOP)
        for folder, name in top_level(data_dir, rejected, listing, folders={n: n for n in TOP}, not_read={},
                                      expected=expected, dataset=self.dataset):
            if name in ("overhang", "underhang"):
                bearings = children(data_dir, folder, rejected, dirs=one_of(BEARINGS),
                                    expected="ball_fault/, cage_fault/ or outer_race/")
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
            levels = children(data_dir, folder, rejected, dirs=lambda n: n if SEVERITY[unit].match(n) else None,
                              expected=f"severity folders such as {example}")
        found = []
        for level, severity in levels:
            for path, hz in children(data_dir, level, rejected, files=_rotation,
                                     expected="HZ.csv, the rotation frequency (e.g. 12.288.csv)"):
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
            table = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.float32, comments=None, ndmin=2,
                               encoding="latin-1")
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
