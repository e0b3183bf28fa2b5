"""The CWRU bearing data as SIREN reads it: 12 kHz drive-end and fan-end faults, normal baseline apart.

The Case Western Reserve University Bearing Data Center publishes one MATLAB v5 file per
recording, named by its record number (``105.mat``: keys ``X105_DE_time``, ``X105_FE_time``,
``X105_BA_time`` — drive-end, fan-end and base accelerometers — and ``X105RPM``), and a table
per page saying what each record is. That table is :data:`~libtrad.builders.fault.cwru_records.RECORDS`,
read from the package data ``data/cwru_records.csv``: record number -> bearing end (DE/FE), fault (IR/B/OR), diameter
(mils), outer-race position (@3/@6/@12), motor load (hp), approximate speed, and the variable
prefix the file really holds (3001-3008, the 0.028-in drive-end records, hold ``X056`` ...
``X059`` and ``X048`` ... ``X051``, the drive-end channel only, no RPM value).

SIREN reads the files sorted into folders by fault, as the widely used ``CWRU-dataset``
arrangement does (:data:`TREE`). NAME is the record number with an optional position and motor
load (``105.mat``, ``105_0.mat``, ``130@6_0.mat``, ``97_Normal_0.mat``) or the label the
publisher's tables show (``IR007_0.mat``, ``OR007@6_0.mat``, ``Normal_0.mat``). Either way the
table decides, and the path must agree with it:

* a numbered file is the table's record: its end (top folder), fault and diameter (folders), its
  position (``@`` folder or name, where given) and its load (name, where given) must be the
  table's, else the file is refused naming what the table says (record 105 under ``B/007/`` is
  "drive-end IR 007 at 0 hp ... but its path says drive-end B 007 at 0 hp"). A number the table
  does not hold is refused (it is not a 12 kHz or normal-baseline record of the Data Center: a
  48 kHz record placed in a 12 kHz folder would otherwise be read at the wrong rate);
* a label-named file is the table's record for its end, fault, diameter, position and load (an
  outer-race label needs its position); a label the table has no record for is refused;
* the file must hold the record's variables (``X056_DE_time`` for 3001); variables of other
  records beside them are ignored (the published ``99.mat`` also holds record 98's channels),
  and so are non-channel variables (``278.mat`` and ``277.mat`` hold a stray ``i``);
* two files that are the same record are refused, each naming the other (one record, one row).

Classes are ``{DE,FE}_{IR,B,OR@3,OR@6,OR@12}``; the normal baseline is the ``normal`` config.
Every channel in the file is kept. The published tree builds completely: 60 drive-end and 45
fan-end records in the 10 classes of ``faults``, 4 in ``normal``.

This module holds the corpus: its layout, its :data:`COMPONENT` (card text, citation) and its
synthetic stand-in (:func:`plan_synthetic`, :func:`write_synthetic`); the record table, and which
record a file name points to, live in :mod:`.cwru_records`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import datasets
import numpy as np

from libtrad.builders.audio_io import InvalidAudio
from libtrad.builders.fault.base import COMMON, SIGNALS, CardText, FaultComponent
from libtrad.builders.fault.common import (
    ArrayLayout,
    Found,
    Listing,
    children,
    finite_signals,
    one_of,
    top_level,
)
from libtrad.builders.fault.cwru_records import POSITIONS, RECORDS, TOP, Record, fault_record, normal_record
from libtrad.builders.fault.matfile import load_mat
from libtrad.builders.fault.synth import EASY, NOTE, Level, count, impulses, tone
from libtrad.builders.scan import Rejection, rel_path
from libtrad.core.channels import ChannelPolicy

FAULT_RATE = 12_000
# The normal-baseline recordings are sampled at 48 kHz, as Smith & Randall (2015) report (SIREN's toolkit
# treats them as 12 kHz): the rate is a column of every row, never implied.
NORMAL_RATE = 48_000
FAULTS = ("IR", "B", "OR")
DIAMETERS = ("007", "014", "021", "028")
CHANNELS = ("DE", "FE", "BA")
CLASSES = tuple(f"{end}_{fault}" for end in ("DE", "FE") for fault in ("IR", "B", "OR@3", "OR@6", "OR@12"))
FOLDERS = {
    **{name: ("faults", "DE") for name in (TOP["DE"], "12k Drive End Bearing Fault Data")},
    **{name: ("faults", "FE") for name in (TOP["FE"], "12k Fan End Bearing Fault Data")},
    **{name: ("normal", None) for name in ("Normal", "Normal_Baseline_Data", "Normal Baseline Data")},
}
NOT_READ = {
    name: "48 kHz drive-end data: SIREN's task uses the 12 kHz recordings"
    for name in ("48k_Drive_End_Bearing_Fault_Data", "48k Drive End Bearing Fault Data")
}
PAGES = "https://engineering.case.edu/bearingdatacenter"
DOWNLOADS = (
    {"what": "CWRU Bearing Data Center", "url": PAGES},
    {"what": "12k drive-end fault data", "url": f"{PAGES}/12k-drive-end-bearing-fault-data"},
    {"what": "12k fan-end fault data", "url": f"{PAGES}/12k-fan-end-bearing-fault-data"},
    {"what": "normal baseline data", "url": f"{PAGES}/normal-baseline-data"},
)
KEY = re.compile(r"^X(?P<number>[0-9]+)_(?P<channel>DE|FE|BA)_time$", re.ASCII)
TREE = """\
DATA_DIR/
  12k_Drive_End_Bearing_Fault_Data/     (or "12k Drive End Bearing Fault Data", the page title)
    IR/<diameter>/NAME.mat              inner race; diameter 007 | 014 | 021 | 028 (mils)
    B/<diameter>/NAME.mat               ball
    OR/<diameter>/[@3|@6|@12/]NAME.mat  outer race; the load-zone position from the @ folder, NAME or the table
  12k_Fan_End_Bearing_Fault_Data/       same, fault on the fan-end bearing
  Normal/NAME.mat                       normal baseline (also "Normal Baseline Data")
  48k_Drive_End_Bearing_Fault_Data/     not read: SIREN's task uses the 12 kHz files
NAME and folders must agree with the Data Center's record table (libtrad/builders/fault/data/cwru_records.csv)
"""
NAME_RULE = "NUMBER[@POS][_LOAD].mat or FAULTDIAM[@POS]_LOAD.mat (e.g. 105_0.mat, 130@6_0.mat, IR007_0.mat)"


class CwruLayout(ArrayLayout):
    dataset = "CWRU"
    configs = {"faults": CLASSES, "normal": ("normal",)}
    columns = {
        "record": datasets.Value("int32"),
        "bearing": datasets.Value("string"),
        "fault": datasets.Value("string"),
        "position": datasets.Value("string"),
        "fault_diameter_mils": datasets.Value("int32"),
        "load_hp": datasets.Value("int32"),
        "rpm": datasets.Value("float32"),
    }
    check_text = (
        "folders and name agree with the Data Center's record table (end, fault, diameter, position, motor "
        "load); readable MATLAB v5 .mat holding the record's own channels (its table variable: X056 for "
        "3001 ...), of equal length, finite, not empty; one file per record"
    )

    def present_configs(self, data_dir: Path) -> list[str]:
        there = {config for name, (config, _) in FOLDERS.items() if (data_dir / name).is_dir()}
        return [c for c in self.configs if c in there] or list(self.configs)

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        expected = "12k_Drive_End_Bearing_Fault_Data/, 12k_Fan_End_Bearing_Fault_Data/, Normal/"
        found = []
        for folder, (config, end) in top_level(
            data_dir, rejected, listing, folders=FOLDERS, not_read=NOT_READ, expected=expected, dataset=self.dataset
        ):
            if config not in configs:
                continue
            if config == "normal":
                entries = children(
                    data_dir,
                    folder,
                    rejected,
                    files=normal_record,
                    expected="NUMBER[_Normal][_LOAD].mat or Normal_LOAD.mat",
                )
            else:
                entries = _faults(data_dir, folder, end, rejected)
            found += [_found(data_dir, path, record) for path, record in entries]
        listing.found = _one_file_per_record(sorted(found, key=lambda f: f.rel), rejected)
        return listing

    def parse(self, data, found):
        return _parse_mat(data, found)


def _found(data_dir: Path, path: Path, record: Record) -> Found:
    meta = {
        "record": record.number,
        "bearing": record.end,
        "fault": record.fault,
        "position": f"@{record.position}" if record.position else None,
        "fault_diameter_mils": record.diameter,
        "load_hp": record.load,
    }
    return Found(path, rel_path(data_dir, path), record.config, record.label, meta, record)


def _one_file_per_record(found: list[Found], rejected: list[Rejection]) -> list[Found]:
    """The files, less those that are the same record as another file (each refused naming the others)."""
    files: dict[int, list[Found]] = {}
    for f in found:
        files.setdefault(f.hint.number, []).append(f)
    for f in found:
        others = [o.rel for o in files[f.hint.number] if o is not f]
        if others:
            rejected.append(
                Rejection(
                    f.rel,
                    f"is record {f.hint.number} ({f.hint.describe()}), as {', '.join(others)} "
                    "is: one record would count twice; keep one file",
                )
            )
    return [f for f in found if len(files[f.hint.number]) == 1]


def _faults(data_dir: Path, folder: Path, end: str, rejected: list[Rejection]) -> list[tuple[Path, Record]]:
    files = []
    for fault_dir, fault in children(data_dir, folder, rejected, dirs=one_of(FAULTS), expected="IR/, B/ or OR/"):
        for diameter_dir, diameter in children(
            data_dir,
            fault_dir,
            rejected,
            dirs=one_of(DIAMETERS),
            expected="a fault-diameter folder: " + ", ".join(DIAMETERS),
        ):

            def rule(position: str | None):
                return lambda name: fault_record(name, end, fault, int(diameter), position)  # noqa: B023

            if fault == "OR":  # files here, or in @3/ @6/ @12/ below
                entries = children(
                    data_dir,
                    diameter_dir,
                    rejected,
                    dirs=_position_folder,
                    files=rule(None),
                    expected=f"@3/, @6/, @12/ or {NAME_RULE}",
                )
            else:
                entries = children(data_dir, diameter_dir, rejected, files=rule(None), expected=NAME_RULE)
            files += [(path, value) for path, value in entries if isinstance(value, Record)]
            for place, position in [(p, v) for p, v in entries if isinstance(v, str)]:
                files += children(data_dir, place, rejected, files=rule(position), expected=NAME_RULE)
    return files


def _position_folder(name: str) -> str | None:
    return name[1:] if name.startswith("@") and name[1:] in POSITIONS else None


def _parse_mat(data: bytes, found: Found) -> tuple[np.ndarray, tuple[str, ...], int, dict]:
    """The record's channels of one CWRU .mat file (DE, FE, BA order), or InvalidAudio naming the problem."""
    path, record = found.path, found.hint
    content = load_mat(data, path, "CWRU", squeeze=False)
    keys = {}
    for key in content:
        m = KEY.match(key)
        if m:
            keys.setdefault(int(m["number"]), {})[m["channel"]] = key
    own = int(record.variable[1:])
    if own not in keys:
        held = ", ".join(f"X{n:03d}" for n in sorted(keys)) or "no X<record>_DE_time / _FE_time / _BA_time channel"
        raise InvalidAudio(
            path,
            f"record {record.number} holds its channels as {record.variable}_DE_time ... in the "
            f"Data Center's files, but this file has {held}",
        )
    channels = tuple(c for c in CHANNELS if c in keys[own])
    arrays = []
    for channel in channels:
        value = content[keys[own][channel]]
        if (
            not isinstance(value, np.ndarray)
            or value.dtype.kind not in "fiu"
            or value.size == 0
            or sum(d > 1 for d in value.shape) > 1
        ):
            raise InvalidAudio(path, f"{keys[own][channel]} is not a non-empty numeric vector")
        arrays.append(value.reshape(-1))
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        shown = ", ".join(f"{c} {len(a)}" for c, a in zip(channels, arrays))
        raise InvalidAudio(path, f"its channels differ in length ({shown} samples)")
    signals = finite_signals(path, np.stack(arrays).astype(np.float32), lambda c, s: f"in {channels[c]} at sample {s}")
    rate = NORMAL_RATE if record.fault is None else FAULT_RATE
    return np.ascontiguousarray(signals), channels, rate, {"rpm": _rpm(content, record.variable)}


def _rpm(content: dict, variable: str) -> float | None:
    """The record's shaft speed (``X105RPM``), when the file has it."""
    value = content.get(f"{variable}RPM")
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "fiu":
        rpm = float(value.reshape(-1)[0])
        return rpm if np.isfinite(rpm) else None
    return None


LAYOUT = CwruLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@misc{cwru_bearing_data_center,
  author       = {{Case Western Reserve University Bearing Data Center}},
  title        = {Bearing Data Center: Seeded Fault Test Data},
  howpublished = {\url{https://engineering.case.edu/bearingdatacenter}}
}
@article{smith2015cwru,
  author  = {Smith, Wade A. and Randall, Robert B.},
  title   = {Rolling element bearing diagnostics using the {Case Western Reserve University} data: A benchmark study},
  journal = {Mechanical Systems and Signal Processing},
  volume  = {64--65},
  pages   = {100--131},
  year    = {2015},
  doi     = {10.1016/j.ymssp.2015.04.021}
}"""

COMPONENT = FaultComponent(
    "cwru",
    "CWRU Bearing",
    LAYOUT,
    CardText(
        source="Case Western Reserve University (CWRU) Bearing Data Center, seeded-fault test data",
        protocol_summary="leave-one-out cross-validation over the 10 classes of `faults` (SIREN --loocv)",
        license_text="none stated: the data center offers the files for free download; cite it and the "
        "benchmark study below",
        downloads=DOWNLOADS,
        acquisition=(
            "A 2-hp induction motor drives a shaft on SKF deep-groove ball bearings; single-point faults of "
            "7 to 28 mils (0.007–0.028 in) were seeded by electro-discharge machining into the inner race, a "
            "ball or the outer race of the drive-end or the fan-end bearing, the outer race at 3, 6 (centred in "
            "the load zone) or 12 o'clock. Accelerometers on the drive end (DE), the fan end (FE) and the base "
            "(BA) record each run at motor loads of 0–3 hp (about 1797–1720 rpm); each `.mat` file is one run "
            "of about 10 s. SIREN uses the 12 kHz fault files; the normal baseline is the separate `normal` "
            "config. The Data Center's record table (shipped with libtrad as `builders/fault/data/cwru_records.csv`) "
            "says what every record number is; the build refuses a file whose folders or name contradict it. Not "
            "every file holds all three accelerometers: the 0.028-in drive-end records (3001–3008) hold the "
            "drive-end channel only, under the variable names X056–X059 and X048–X051."
        ),
        classes={
            **{
                f"{end}_{fault}": f"{where} bearing, {what}"
                for end, where in (("DE", "drive-end"), ("FE", "fan-end"))
                for fault, what in (
                    ("IR", "inner-race fault"),
                    ("B", "ball fault"),
                    ("OR@3", "outer-race fault at 3 o'clock (orthogonal to the load zone)"),
                    ("OR@6", "outer-race fault at 6 o'clock (centred in the load zone)"),
                    ("OR@12", "outer-race fault at 12 o'clock (opposite the load zone)"),
                )
            },
            "normal": "normal baseline (config `normal`, not part of the 10-class task)",
        },
        protocol=(
            "SIREN evaluates CWRU by **leave-one-out cross-validation** over the 10 fault classes of "
            "`faults`: each file in turn is the query, every other file the reference set (k-NN on the "
            "extracted features). `normal` is kept out of that task."
        ),
        column_meanings={
            **SIGNALS,
            **COMMON,
            "channels": "the accelerometers present in the file, in DE, FE, BA order (not every file has all three)",
            "record": "the Data Center's record number (`105.mat` is record 105; a label-named file's from the record "
            "table: `IR007_0.mat` in the drive-end data is 105)",
            "bearing": "`DE` or `FE`: the bearing with the seeded fault (null for `normal`)",
            "fault": "`IR`, `B` or `OR` (null for `normal`)",
            "position": "outer-race fault position `@3`, `@6`, `@12` (null otherwise)",
            "fault_diameter_mils": "fault diameter in mils (thousandths of an inch: 7, 14, 21, 28)",
            "load_hp": "motor load in hp (0–3), the record table's (a load in the file name must agree with it)",
            "rpm": "shaft speed from the file's own RPM value (`X105RPM`); null where the published file has none "
            "(3001–3008, 98, 99: the table's approximate speed for the load is 1797, 1772, 1750, 1730 rpm)",
        },
        layout=TREE,
        config_descriptions={
            "faults": "the 10-class task: 12 kHz drive-end and fan-end faults",
            "normal": "the normal baseline (48 kHz), outside the task",
        },
    ),
    title="CWRU Bearing Data (12 kHz faults, SIREN)",
    description="Vibration recordings of seeded bearing faults from the Case Western Reserve University "
    "Bearing Data Center, as used by SIREN's fault-classification benchmark.",
    citation=CITATION,
    license="unknown",
    channels=ChannelPolicy(
        default=("DE",),
        names=CHANNELS,
        reason=(
            "SIREN reads one variable of each .mat file, the first `X<record>_{DE,FE,BA}_time` in it "
            "(siren/core/base_extractor.py): the drive-end accelerometer in the Data Center's files, fan-end "
            "fault records included; DE is also the one channel every record holds (the 0.028-inch records "
            "hold DE only)"
        ),
    ),
    tags=("vibration", "bearing-fault", "fault-diagnosis", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.mat)
# Defect frequencies per shaft revolution (BPFI, 2 x BSF, BPFO) of the drive-end (6205) and fan-end (6203) bearings.
CWRU_ORDERS = {"DE": {"IR": 5.4152, "B": 4.7135, "OR": 3.5848}, "FE": {"IR": 4.9469, "B": 3.9874, "OR": 3.0530}}
CWRU_POSITION = {"6": (1.0, 3400.0), "3": (0.6, 2900.0), "12": (0.35, 2500.0)}  # load zone: gain, resonance


def plan_synthetic(scale: float) -> list:
    """The stand-in's files, numbered, named and placed as the published tree (the ``CWRU-dataset``
    arrangement) holds the Data Center's records: ``count(2, scale)`` records of the table per class (at
    most the table's records of that class: 4 to 16 per fault class, 4 normal), spread over diameters and
    loads, each written with its record's variable prefix, channels and RPM value (:data:`RECORDS`)."""
    jobs = []
    for label in (*CLASSES, "normal"):
        records = _spread([r for r in RECORDS.values() if r.label == label])
        for r in records[: count(2, scale)]:
            name = f"{r.number}_Normal_{r.load}.mat" if r.fault is None else f"{r.number}_{r.load}.mat"
            jobs.append(
                (
                    r.place + name,
                    label,
                    {
                        "record": r.number,
                        "variable": r.variable,
                        "channels": r.channels,
                        "rpm_value": r.rpm_value,
                        "end": r.end,
                        "fault": r.fault,
                        "position": r.position,
                        "load": r.load,
                        "diameter": r.diameter,
                        "rpm": float(r.approx_rpm),
                        "rate": NORMAL_RATE if r.fault is None else FAULT_RATE,
                    },
                )
            )
    return jobs


def _spread(records: list[Record]) -> list[Record]:
    """``records`` (one class) in the order a small stand-in takes them: the i-th is the record at diameter
    i mod (the class's diameters) and load i mod 4 where the table has it, else the first unused one at that
    load, then at that diameter, then any: every class's first files cycle through the loads alike, so a
    stand-in's classes differ by their faults, not by a load mix (the shaft tone follows the load)."""
    diameters = sorted({r.diameter or 0 for r in records})
    left = sorted(records, key=lambda r: (r.load, r.diameter or 0, r.number))
    order = []
    for i in range(len(records)):
        want_d, want_l = diameters[i % len(diameters)], i % 4
        for fits in (
            lambda r: (r.diameter or 0, r.load) == (want_d, want_l),  # noqa: B023
            lambda r: r.load == want_l,  # noqa: B023
            lambda r: (r.diameter or 0) == want_d,  # noqa: B023
            lambda r: True,
        ):
            pick = next((r for r in left if fits(r)), None)
            if pick is not None:
                break
        left.remove(pick)
        order.append(pick)
    return order


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    """One ``.mat`` record: shaft tone and noise on every channel, plus the defect's impulse train
    (times ``level.gain``: the difficulty) on the faulty end, leaking weaker to the others."""
    from scipy.io import savemat

    rate, n = p["rate"], p["rate"] // 2  # 0.5 s
    rpm = p["rpm"]
    shaft = rpm / 60
    base = {ch: tone(n, rate, shaft, 0.02, rng.uniform(0, 6.3)) + rng.normal(0, 0.01, n) for ch in CHANNELS}
    if p["end"] is not None:
        order = CWRU_ORDERS[p["end"]][p["fault"]]
        gain, resonance = CWRU_POSITION.get(p["position"], (0.8, 3100.0 if p["fault"] == "IR" else 2700.0))
        hits = impulses(
            rng,
            n,
            rate,
            order * shaft,
            resonance + 200 * (p["end"] == "FE"),
            gain * (0.5 + p["diameter"] / 28) * level.gain,
        )
        if p["fault"] == "IR":  # the inner race turns with the shaft: its impulses are modulated at 1x
            hits *= 0.6 + 0.4 * np.cos(2 * np.pi * shaft * np.arange(n) / rate)
        other = "FE" if p["end"] == "DE" else "DE"
        base[p["end"]] += hits
        base[other] += 0.3 * hits
        base["BA"] += 0.1 * hits
    content = {f"{p['variable']}_{ch}_time": base[ch].reshape(-1, 1) for ch in p["channels"]}  # as the table says
    if p["rpm_value"]:
        content[f"{p['variable']}RPM"] = np.array([[rpm]])
    buffer = io.BytesIO()
    savemat(buffer, content, format="5")
    data = bytearray(buffer.getvalue())
    header = f"MATLAB 5.0 MAT-file, {NOTE.format(name='CWRU')}".encode()[:116]
    data[:116] = header.ljust(116)  # scipy stamps the creation time here: a fixed text keeps runs identical
    path.write_bytes(bytes(data))
