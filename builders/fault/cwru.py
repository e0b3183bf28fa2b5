"""The CWRU bearing data as SIREN reads it: 12 kHz drive-end and fan-end faults, normal baseline apart.

The Case Western Reserve University Bearing Data Center publishes one MATLAB v5 file per
recording (``105.mat``: keys ``X105_DE_time``, ``X105_FE_time``, ``X105_BA_time`` — drive-end,
fan-end and base accelerometers — and ``X105RPM``). SIREN reads them sorted into folders by
fault, as the widely used ``CWRU-dataset`` arrangement does (:data:`TREE`).

NAME is the publisher's record number with an optional position and motor load (``105.mat``,
``105_0.mat``, ``130@6_0.mat``, ``97_Normal_0.mat``) or the label the publisher's tables show
(``IR007_0.mat``, ``OR007@6_0.mat``, ``Normal_0.mat``), whose fault and diameter must then
match the folders. Classes are ``{DE,FE}_{IR,B,OR@3,OR@6,OR@12}``; the normal baseline is the
``normal`` config. Every channel in the file is kept.

This module holds the corpus whole: its layout, its :data:`COMPONENT` (card text, citation) and its
synthetic stand-in (:func:`plan_synthetic`, :func:`write_synthetic`).
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
    BadName,
    Found,
    Listing,
    children,
    finite_signals,
    one_of,
    top_level,
)
from libtrad.builders.fault.matfile import load_mat
from libtrad.builders.fault.synth import EASY, NOTE, Level, count, impulses, tone
from libtrad.builders.scan import Rejection, rel_path
from libtrad.channels import ChannelPolicy

FAULT_RATE = 12_000
# The normal-baseline recordings are sampled at 48 kHz, as Smith & Randall (2015) report (SIREN's toolkit
# treats them as 12 kHz): the rate is a column of every row, never implied.
NORMAL_RATE = 48_000
FAULTS = ("IR", "B", "OR")
DIAMETERS = ("007", "014", "021", "028")
POSITIONS = ("3", "6", "12")
CHANNELS = ("DE", "FE", "BA")
CLASSES = tuple(f"{end}_{fault}" for end in ("DE", "FE") for fault in ("IR", "B", "OR@3", "OR@6", "OR@12"))
FOLDERS = {
    **{name: ("faults", "DE") for name in ("12k_Drive_End_Bearing_Fault_Data", "12k Drive End Bearing Fault Data")},
    **{name: ("faults", "FE") for name in ("12k_Fan_End_Bearing_Fault_Data", "12k Fan End Bearing Fault Data")},
    **{name: ("normal", None) for name in ("Normal", "Normal_Baseline_Data", "Normal Baseline Data")},
}
NOT_READ = {name: "48 kHz drive-end data: SIREN's task uses the 12 kHz recordings"
            for name in ("48k_Drive_End_Bearing_Fault_Data", "48k Drive End Bearing Fault Data")}
PAGES = "https://engineering.case.edu/bearingdatacenter"
DOWNLOADS = (
    {"what": "CWRU Bearing Data Center", "url": PAGES},
    {"what": "12k drive-end fault data", "url": f"{PAGES}/12k-drive-end-bearing-fault-data"},
    {"what": "12k fan-end fault data", "url": f"{PAGES}/12k-fan-end-bearing-fault-data"},
    {"what": "normal baseline data", "url": f"{PAGES}/normal-baseline-data"},
)
# Only ASCII: \d would take other scripts' digits.
NUMBERED = re.compile(r"^(?P<number>[0-9]+)(?:@(?P<position>[0-9]+))?(?:_(?P<load>[0-9]+))?\.mat$", re.ASCII)
LABELLED = re.compile(r"^(?P<fault>IR|B|OR)(?P<diameter>[0-9]{3})(?:@(?P<position>[0-9]+))?_(?P<load>[0-9]+)\.mat$",
                      re.ASCII)
NORMAL = re.compile(r"^(?:(?P<number>[0-9]+)(?:_Normal)?|Normal)(?:_(?P<load>[0-9]+))?\.mat$", re.ASCII)
KEY = re.compile(r"^X(?P<number>[0-9]+)_(?P<channel>DE|FE|BA)_time$", re.ASCII)
TREE = """\
DATA_DIR/
  12k_Drive_End_Bearing_Fault_Data/     (or "12k Drive End Bearing Fault Data", the page title)
    IR/<diameter>/NAME.mat              inner race; diameter 007 | 014 | 021 | 028 (mils)
    B/<diameter>/NAME.mat               ball
    OR/<diameter>/[@3|@6|@12/]NAME.mat  outer race; the load-zone position from the @ folder or NAME
  12k_Fan_End_Bearing_Fault_Data/       same, fault on the fan-end bearing
  Normal/NAME.mat                       normal baseline (also "Normal Baseline Data")
  48k_Drive_End_Bearing_Fault_Data/     not read: SIREN's task uses the 12 kHz files
"""
NAME_RULE = "NUMBER[@POS][_LOAD].mat or FAULTDIAM[@POS]_LOAD.mat (e.g. 105_0.mat, 130@6_0.mat, IR007_0.mat)"


class CwruLayout(ArrayLayout):
    dataset = "CWRU"
    configs = {"faults": CLASSES, "normal": ("normal",)}
    columns = {
        "bearing": datasets.Value("string"),
        "fault": datasets.Value("string"),
        "position": datasets.Value("string"),
        "fault_diameter_mils": datasets.Value("int32"),
        "load_hp": datasets.Value("int32"),
        "rpm": datasets.Value("float32"),
    }
    check_text = ("readable MATLAB v5 .mat, X<record>_{DE,FE,BA}_time channels of one record and equal length, "
                  "finite, not empty")

    def present_configs(self, data_dir: Path) -> list[str]:
        there = {config for name, (config, _) in FOLDERS.items() if (data_dir / name).is_dir()}
        return [c for c in self.configs if c in there] or list(self.configs)

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        expected = "12k_Drive_End_Bearing_Fault_Data/, 12k_Fan_End_Bearing_Fault_Data/, Normal/"
        for folder, (config, end) in top_level(data_dir, rejected, listing, folders=FOLDERS, not_read=NOT_READ,
                                               expected=expected, dataset=self.dataset):
            if config not in configs:
                continue
            if config == "normal":
                for path, (number, load) in children(data_dir, folder, rejected, files=_normal_name,
                                                     expected="NUMBER[_Normal][_LOAD].mat or Normal_LOAD.mat"):
                    meta = {"bearing": None, "fault": None, "position": None, "fault_diameter_mils": None,
                            "load_hp": load}
                    listing.found.append(Found(path, rel_path(data_dir, path), "normal", "normal", meta, number))
            else:
                listing.found += _faults(data_dir, folder, end, rejected)
        return listing

    def parse(self, data, found):
        return _parse_mat(data, found)


def _faults(data_dir: Path, folder: Path, end: str, rejected: list[Rejection]) -> list[Found]:
    found = []
    for fault_dir, fault in children(data_dir, folder, rejected, dirs=one_of(FAULTS), expected="IR/, B/ or OR/"):
        for diameter_dir, diameter in children(data_dir, fault_dir, rejected, dirs=one_of(DIAMETERS),
                                               expected="a fault-diameter folder: " + ", ".join(DIAMETERS)):
            def rule(position: str | None):
                return lambda name: _fault_name(name, fault, diameter, position)

            if fault == "OR":  # files here, or in @3/ @6/ @12/ below
                entries = children(data_dir, diameter_dir, rejected, dirs=_position_folder, files=rule(None),
                                   expected=f"@3/, @6/, @12/ or {NAME_RULE}")
            else:
                entries = children(data_dir, diameter_dir, rejected, files=rule(None), expected=NAME_RULE)
            files = [(path, parsed) for path, parsed in entries if isinstance(parsed, tuple)]
            for place, position in [(p, v) for p, v in entries if isinstance(v, str)]:
                files += children(data_dir, place, rejected, files=rule(position), expected=NAME_RULE)
            for path, (number, position, load) in sorted(files, key=lambda item: item[0]):
                label = f"{end}_{fault}" + (f"@{position}" if position else "")
                meta = {"bearing": end, "fault": fault, "position": f"@{position}" if position else None,
                        "fault_diameter_mils": int(diameter), "load_hp": load}
                found.append(Found(path, rel_path(data_dir, path), "faults", label, meta, number))
    return found


def _position_folder(name: str) -> str | None:
    return name[1:] if name.startswith("@") and name[1:] in POSITIONS else None


def _fault_name(name: str, fault: str, diameter: str, folder_position: str | None):
    """(record number or None, position or None, load or None) of a fault file, or BadName/None."""
    m = NUMBERED.match(name) or LABELLED.match(name)
    if m is None:
        return None
    parts = m.groupdict()
    if parts.get("fault") and (parts["fault"], parts["diameter"]) != (fault, diameter):
        raise BadName(f"its name says {parts['fault']}{parts['diameter']} but it lies in {fault}/{diameter}/")
    position = parts["position"]
    if position is not None and position not in POSITIONS:
        raise BadName(f"outer-race position @{position} is not one of @3, @6, @12")
    if fault != "OR":
        if position or folder_position:
            raise BadName(f"a load-zone position (@{position}) belongs to outer-race (OR/) files only")
    else:
        if folder_position and position and folder_position != position:
            raise BadName(f"its name says @{position} but it lies in @{folder_position}/")
        position = folder_position or position
        if position is None:
            raise BadName("outer-race file without a load-zone position (@3, @6 or @12 in its folder or name)")
    number = int(parts["number"]) if parts.get("number") else None
    return number, position, _load(parts["load"])


def _normal_name(name: str):
    m = NORMAL.match(name)
    if m is None:
        return None
    return (int(m["number"]) if m["number"] else None), _load(m["load"])


def _load(text: str | None) -> int | None:
    if text is None:
        return None
    if int(text) > 3:
        raise BadName(f"motor load {text} hp is not one of 0-3")
    return int(text)


def _parse_mat(data: bytes, found: Found) -> tuple[np.ndarray, tuple[str, ...], int, dict]:
    """The channels of one record of a CWRU .mat file (DE, FE, BA order), or InvalidAudio naming the problem."""
    path = found.path
    content = load_mat(data, path, "CWRU", squeeze=False)
    keys = {}
    for key in content:
        m = KEY.match(key)
        if m:
            keys.setdefault(int(m["number"]), {})[m["channel"]] = key
    if not keys:
        raise InvalidAudio(path, "no X<record>_DE_time / _FE_time / _BA_time channel in it")
    number = found.hint
    if number is None:
        if len(keys) > 1:
            records = ", ".join(f"X{n:03d}" for n in sorted(keys))
            raise InvalidAudio(path, f"holds channels of several records ({records}) and its name does not say which")
        number = next(iter(keys))
    if number not in keys:
        records = ", ".join(f"X{n:03d}" for n in sorted(keys))
        raise InvalidAudio(path, f"its name says record {number} but it holds {records}")
    channels = tuple(c for c in CHANNELS if c in keys[number])
    arrays = []
    for channel in channels:
        value = content[keys[number][channel]]
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu" or value.size == 0 \
                or sum(d > 1 for d in value.shape) > 1:
            raise InvalidAudio(path, f"{keys[number][channel]} is not a non-empty numeric vector")
        arrays.append(value.reshape(-1))
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        shown = ", ".join(f"{c} {len(a)}" for c, a in zip(channels, arrays))
        raise InvalidAudio(path, f"its channels differ in length ({shown} samples)")
    signals = finite_signals(path, np.stack(arrays).astype(np.float32),
                             lambda c, s: f"in {channels[c]} at sample {s}")
    rpm = _rpm(content, number)
    rate = NORMAL_RATE if found.config == "normal" else FAULT_RATE
    return np.ascontiguousarray(signals), channels, rate, {"rpm": rpm}


def _rpm(content: dict, number: int) -> float | None:
    """The record's shaft speed (``X105RPM``), when the file has it."""
    for key in (f"X{number:03d}RPM", f"X{number}RPM"):
        value = content.get(key)
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
    "cwru", "CWRU Bearing", LAYOUT,
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
            "config."),
        classes={
            **{f"{end}_{fault}": f"{where} bearing, {what}"
               for end, where in (("DE", "drive-end"), ("FE", "fan-end"))
               for fault, what in (("IR", "inner-race fault"), ("B", "ball fault"),
                                   ("OR@3", "outer-race fault at 3 o'clock (orthogonal to the load zone)"),
                                   ("OR@6", "outer-race fault at 6 o'clock (centred in the load zone)"),
                                   ("OR@12", "outer-race fault at 12 o'clock (opposite the load zone)"))},
            "normal": "normal baseline (config `normal`, not part of the 10-class task)",
        },
        protocol=("SIREN evaluates CWRU by **leave-one-out cross-validation** over the 10 fault classes of "
                  "`faults`: each file in turn is the query, every other file the reference set (k-NN on the "
                  "extracted features). `normal` is kept out of that task."),
        column_meanings={
            **SIGNALS, **COMMON,
            "channels": "the accelerometers present in the file, in DE, FE, BA order (not every file has all "
                        "three)",
            "bearing": "`DE` or `FE`: the bearing with the seeded fault (null for `normal`)",
            "fault": "`IR`, `B` or `OR` (null for `normal`)",
            "position": "outer-race fault position `@3`, `@6`, `@12` (null otherwise)",
            "fault_diameter_mils": "fault diameter in mils (thousandths of an inch: 7, 14, 21, 28)",
            "load_hp": "motor load in hp (0–3) when the file name gives it (`105_0.mat`), else null",
            "rpm": "shaft speed from the file's `X<record>RPM` value, null when the file has none",
        },
        layout=TREE,
        config_descriptions={"faults": "the 10-class task: 12 kHz drive-end and fan-end faults",
                             "normal": "the normal baseline (48 kHz), outside the task"},
    ),
    title="CWRU Bearing Data (12 kHz faults, SIREN)",
    description="Vibration recordings of seeded bearing faults from the Case Western Reserve University "
                "Bearing Data Center, as used by SIREN's fault-classification benchmark.",
    citation=CITATION, license="unknown",
    channels=ChannelPolicy(default=("DE",), names=CHANNELS, reason=(
        "SIREN reads one variable of each .mat file, the first `X<record>_{DE,FE,BA}_time` in it "
        "(siren/core/base_extractor.py): the drive-end accelerometer in the Data Center's files, fan-end "
        "fault records included; DE is also the one channel every record holds (the 0.028-inch records "
        "hold DE only)")),
    tags=("vibration", "bearing-fault", "fault-diagnosis", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.mat)
# Defect frequencies per shaft revolution (BPFI, 2 x BSF, BPFO) of the drive-end (6205) and fan-end (6203) bearings.
CWRU_ORDERS = {"DE": {"IR": 5.4152, "B": 4.7135, "OR": 3.5848}, "FE": {"IR": 4.9469, "B": 3.9874, "OR": 3.0530}}
CWRU_POSITION = {"6": (1.0, 3400.0), "3": (0.6, 2900.0), "12": (0.35, 2500.0)}  # load zone: gain, resonance
CWRU_TOP = {"DE": "12k_Drive_End_Bearing_Fault_Data", "FE": "12k_Fan_End_Bearing_Fault_Data"}


def plan_synthetic(scale: float) -> list:
    jobs, record = [], 105
    for end in ("DE", "FE"):
        for fault in ("IR", "B", "OR"):
            for position in (("3", "6", "12") if fault == "OR" else (None,)):
                for i in range(count(2, scale)):
                    diameter, load = DIAMETERS[i % 3], i % 4
                    at = f"@{position}" if position else ""
                    folder = f"{CWRU_TOP[end]}/{fault}/{diameter}" + (f"/{at}" if position else "")
                    label = f"{end}_{fault}{at}"
                    jobs.append((f"{folder}/{record}{at}_{load}.mat", label,
                                 {"record": record, "end": end, "fault": fault, "position": position, "load": load,
                                  "diameter": int(diameter), "rate": FAULT_RATE}))
                    record += 1
    for i in range(count(2, scale)):
        jobs.append((f"Normal/{97 + i}_Normal_{i % 4}.mat", "normal",
                     {"record": 97 + i, "end": None, "load": i % 4, "rate": NORMAL_RATE}))
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    """One ``.mat`` record: shaft tone and noise on every channel, plus the defect's impulse train
    (times ``level.gain``: the difficulty) on the faulty end, leaking weaker to the others."""
    from scipy.io import savemat

    rate, n = p["rate"], p["rate"] // 2  # 0.5 s
    rpm = 1797.0 - 25.0 * p["load"]
    shaft = rpm / 60
    base = {ch: tone(n, rate, shaft, 0.02, rng.uniform(0, 6.3)) + rng.normal(0, 0.01, n) for ch in CHANNELS}
    if p["end"] is not None:
        order = CWRU_ORDERS[p["end"]][p["fault"]]
        gain, resonance = CWRU_POSITION.get(p["position"], (0.8, 3100.0 if p["fault"] == "IR" else 2700.0))
        hits = impulses(rng, n, rate, order * shaft, resonance + 200 * (p["end"] == "FE"),
                        gain * (0.5 + p["diameter"] / 28) * level.gain)
        if p["fault"] == "IR":  # the inner race turns with the shaft: its impulses are modulated at 1x
            hits *= 0.6 + 0.4 * np.cos(2 * np.pi * shaft * np.arange(n) / rate)
        other = "FE" if p["end"] == "DE" else "DE"
        base[p["end"]] += hits
        base[other] += 0.3 * hits
        base["BA"] += 0.1 * hits
    record = p["record"]
    channels = ("DE", "FE") if p["end"] is None else CHANNELS  # the real baseline has no BA channel
    content = {f"X{record:03d}_{ch}_time": base[ch].reshape(-1, 1) for ch in channels}
    content[f"X{record:03d}RPM"] = np.array([[rpm]])
    buffer = io.BytesIO()
    savemat(buffer, content, format="5")
    data = bytearray(buffer.getvalue())
    header = f"MATLAB 5.0 MAT-file, {NOTE.format(name='CWRU')}".encode()[:116]
    data[:116] = header.ljust(116)  # scipy stamps the creation time here: a fixed text keeps runs identical
    path.write_bytes(bytes(data))
