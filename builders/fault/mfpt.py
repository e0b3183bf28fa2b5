"""The MFPT bearing fault data: a baseline, outer-race and inner-race faults, 20 MATLAB files.

The Society for Machinery Failure Prevention Technology's archive ("MFPT Fault Data Sets", assembled
by Eric Bechhoefer, NRG Systems) extracts to numbered folders (:data:`TREE`). Every file holds one
struct, ``bearing``, with the sample rate ``sr``, the signal ``gs`` (one accelerometer), the load
``load`` (lbs; the published files hold it as text, ``'25'``) and the input shaft rate ``rate``
(Hz). The publisher's description fixes every file (:data:`FILES`, read from the package data
``data/mfpt_files.csv``): 97,656 sps for the baseline and the first three outer-race files (6 s at
270 lbs), 48,828 sps for the variable-load outer-race (25-300 lbs) and inner-race (0-300 lbs)
files (3 s), numbered in load order. A file whose ``sr`` or ``load`` is not the table's is refused,
and so is one without ``bearing``, ``sr`` or ``gs``, and a file of another folder (an inner-race
file among the outer-race ones) is refused naming the folder the table gives it. The analyses and
the three real-world examples are not read.

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
from libtrad.builders.fault.base import COMMON, SIGNALS, CardText, FaultComponent, no_siren_loader
from libtrad.builders.fault.common import ArrayLayout, BadName, Found, Listing, children, top_level
from libtrad.builders.fault.matfile import field, load_mat, names, number, vector
from libtrad.builders.fault.synth import EASY, NOTE, Level, impulses, tone
from libtrad.builders.fault.tables import read_table
from libtrad.builders.scan import rel_path
from libtrad.core.channels import ChannelPolicy

CLASSES = ("normal", "outer_race", "inner_race")
WRAPPER = "MFPT Fault Data Sets"  # the archive's top folder: DATA_DIR may be it or the folder holding it
# (folder, file) -> its row of the publisher's description (data/mfpt_files.csv): class, sample_rate, load_lbs ...
FILES: dict[tuple[str, str], dict[str, str]] = {
    (row["folder"], row["file"]): row for row in read_table("mfpt_files.csv")
}


def _sets() -> dict[str, tuple]:
    """Folder -> (class, file stem, number of files, published sample rate, loads in lbs by file number)."""
    sets = {}
    for (folder, file), row in FILES.items():
        stem = file.rsplit("_", 1)[0]
        label, _, _, rate, loads = sets.get(folder, (row["class"], stem, 0, int(row["sample_rate"]), ()))
        sets[folder] = (label, stem, len(loads) + 1, rate, (*loads, float(row["load_lbs"])))
    return sets


SETS = _sets()
STEMS = {stem: folder for folder, (_, stem, _, _, _) in SETS.items()}
NOT_READ = {
    "5 - Analyses": "the publisher's analyses, not data",
    "6 - Real World Examples": "three field cases (wind-turbine shaft and oil-pump bearings, a planet bearing) "
    "outside the three-class task",
}
FILE = re.compile(r"^(?P<stem>[A-Za-z_]+?)_(?P<index>[0-9]+)\.mat$", re.ASCII)
TREE = """\
DATA_DIR/                                        (the archive's "MFPT Fault Data Sets/" folder, or the one holding it)
  1 - Three Baseline Conditions/baseline_1.mat ... _3.mat                        97,656 sps, 270 lbs
  2 - Three Outer Race Fault Conditions/OuterRaceFault_1.mat ... _3.mat          97,656 sps, 270 lbs
  3 - Seven More Outer Race Fault Conditions/OuterRaceFault_vload_1.mat ... _7   48,828 sps, 25-300 lbs
  4 - Seven Inner Race Fault Conditions/InnerRaceFault_vload_1.mat ... _7        48,828 sps, 0-300 lbs
  5 - Analyses/, 6 - Real World Examples/                                        not read
"""
PAGE = "https://www.mfpt.org/fault-data-sets/"
DOWNLOADS = (
    {"what": "MFPT fault data sets page", "url": PAGE},
    {
        "what": "the archive the page links (size and checksum not published)",
        "url": "https://www.mfpt.org/wp-content/uploads/2020/02/MFPT-Fault-Data-Sets-20200227T131140Z-001.zip",
    },
)


class MfptLayout(ArrayLayout):
    dataset = "MFPT"
    configs = {"default": CLASSES}
    columns = {
        "set": datasets.Value("int32"),
        "load_lbs": datasets.Value("float32"),
        "shaft_hz": datasets.Value("float32"),
    }
    check_text = (
        "readable MATLAB v5 .mat with a `bearing` struct whose `gs` is a non-empty, finite numeric vector, "
        "whose `sr` is the folder's published sample rate (97,656 or 48,828 sps) and whose `load` is the "
        "file's published load; each file in the folder MFPT's description gives it"
    )

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        folders = {**{name: name for name in SETS}, WRAPPER: WRAPPER}
        expected = f"{WRAPPER}/ or its numbered folders ({', '.join(f'{s}/' for s in SETS)})"
        for folder, name in top_level(
            data_dir, rejected, listing, folders=folders, not_read=NOT_READ, expected=expected, dataset=self.dataset
        ):
            if name != WRAPPER:
                listing.found += _set_files(data_dir, folder, name, rejected)
                continue
            rule = lambda n: n if n in SETS or n in NOT_READ else None  # noqa: E731
            for inner, inner_name in children(
                data_dir, folder, rejected, dirs=rule, expected=", ".join(f"{s}/" for s in (*SETS, *NOT_READ))
            ):
                if inner_name in NOT_READ:
                    listing.not_read.append((rel_path(data_dir, inner) + "/", NOT_READ[inner_name]))
                else:
                    listing.found += _set_files(data_dir, inner, inner_name, rejected)
        return listing

    def parse(self, data, found):
        signal, meta = parse_mat(data, found)
        return signal, ("accelerometer",), SETS[found.hint][3], meta


def _set_files(data_dir: Path, folder: Path, name: str, rejected) -> list[Found]:
    label, stem, files, _, _ = SETS[name]

    def rule(file_name: str):
        m = FILE.match(file_name)
        if m is None or m["stem"] not in STEMS:
            return None
        if m["stem"] != stem:
            other = STEMS[m["stem"]]
            raise BadName(f"MFPT's table puts {m['stem']}_N.mat files ({SETS[other][0]}) in {other}/, not in {name}/")
        index = int(m["index"])
        if not 1 <= index <= files:
            raise BadName(f"file number {index} is not one of 1-{files} ({name} holds {files} files)")
        return index

    found = []
    expected = f"{stem}_1.mat ... {stem}_{files}.mat"
    for path, _index in children(data_dir, folder, rejected, files=rule, expected=expected):
        found.append(Found(path, rel_path(data_dir, path), "default", label, {"set": int(name[0])}, hint=name))
    return found


def parse_mat(data: bytes, found: Found) -> tuple[np.ndarray, dict]:
    """(1 × samples float32 of ``bearing.gs``, columns from the struct), or InvalidAudio naming the problem."""
    path = found.path
    content = load_mat(data, path, "MFPT")
    if "bearing" not in content:
        raise InvalidAudio(path, f"no variable 'bearing' in it (it holds {names(content)})")
    bearing = content["bearing"]
    rate = number(field(path, bearing, "sr", "bearing"))
    published = SETS[found.hint][3]
    if rate != published:
        raise InvalidAudio(
            path,
            f"sampling rate bearing.sr = {rate if rate is None else f'{rate:g}'} sps, expected "
            f"{published:,} (the rate MFPT publishes for {found.hint}/)",
        )
    signal = vector(path, field(path, bearing, "gs", "bearing"), "bearing.gs")
    fields = getattr(bearing, "_fieldnames", [])
    table = float(FILES[(found.hint, path.name)]["load_lbs"])
    if "load" in fields:
        load = _number_or_text(bearing.load)
        if load is None:
            raise InvalidAudio(path, f"bearing.load ({str(bearing.load)[:20]!r}) is not a number of lbs")
        if load != table:
            raise InvalidAudio(
                path, f"bearing.load = {load:g} lbs, but MFPT's description gives {path.name} {table:g} lbs"
            )
    shaft = number(bearing.rate) if "rate" in fields else None
    return signal.reshape(1, -1), {"load_lbs": table, "shaft_hz": shaft}


def _number_or_text(value) -> float | None:
    """A struct field holding one number, as a number or as its text (the published files write ``'25'``)."""
    array = np.asarray(value)
    if array.dtype.kind in "US" and array.size == 1:
        try:
            out = float(str(array.reshape(-1)[0]).strip())
        except ValueError:
            return None
        return out if np.isfinite(out) else None
    return number(value)


LAYOUT = MfptLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@misc{bechhoefer2013mfpt,
  author       = {Bechhoefer, Eric},
  title        = {Condition Based Maintenance Fault Database for Testing of Diagnostic and Prognostics Algorithms},
  howpublished = {Society for Machinery Failure Prevention Technology, \url{https://www.mfpt.org/fault-data-sets/}},
  year         = {2013}
}"""

COMPONENT = FaultComponent(
    "mfpt",
    "MFPT Bearing Fault Data",
    LAYOUT,
    CardText(
        source="Society for Machinery Failure Prevention Technology (MFPT) Condition Based Maintenance Fault Database, "
        "data assembled and prepared for MFPT by Eric Bechhoefer (NRG Systems)",
        protocol_summary="leave-one-out cross-validation over the 3 classes (siren-fault's default)",
        license_text="none stated beyond the publisher's note that the data are freely distributed; cite the database",
        downloads=DOWNLOADS,
        acquisition=(
            "A bearing test rig (NICE bearing: roller diameter 0.235 in, pitch diameter 1.245 in, 8 elements, contact "
            "angle 0) with an input shaft rate of 25 Hz: 3 baseline runs and 3 outer-race fault runs at 270 lbs "
            "sampled at 97,656 sps for 6 s, then 7 outer-race fault runs at 25-300 lbs and 7 inner-race fault runs "
            "at 0-300 lbs sampled at 48,828 sps for 3 s. **One row is one file, whole** (not cut); its one channel "
            "is `bearing.gs`."
        ),
        classes={
            "normal": "baseline, no fault (folder 1)",
            "outer_race": "outer-race fault (folders 2 and 3)",
            "inner_race": "inner-race fault (folder 4)",
        },
        protocol=(
            "The publisher defines no split. siren-fault runs **leave-one-out cross-validation** over the 20 "
            "files (no `fold` column); the two sample rates are a row's `sampling_rate`, so an encoder "
            "resamples each file as it needs."
        ),
        column_meanings={
            **SIGNALS,
            **COMMON,
            "signals": "`bearing.gs` as float32, 1 × samples",
            "channels": "`accelerometer`",
            "sampling_rate": "`bearing.sr` (checked against the folder's published rate: 97,656 or 48,828)",
            "set": "the numbered folder the file came from (1-4)",
            "load_lbs": "the load in lbs MFPT's description gives the file (a file's own `bearing.load` must agree)",
            "shaft_hz": "`bearing.rate`, the input shaft rate in Hz (null when the file has none)",
        },
        layout=TREE,
    ),
    title="MFPT Bearing Fault Data (SIREN)",
    description="Vibration of a bearing test rig, baseline and outer- and inner-race faults at several loads "
    "(Society for Machinery Failure Prevention Technology).",
    citation=CITATION,
    license="unknown",
    channels=ChannelPolicy(
        names=("accelerometer",), reason=no_siren_loader("mfpt", "one accelerometer signal (bearing.gs) per file")
    ),
    tags=("vibration", "bearing-fault", "fault-diagnosis", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.mat)
SYNTHETIC_SECONDS = 0.1  # the real runs last 6 s or 3 s; the stand-in keeps the structure, not the length
ORDERS = {"outer_race": 3.245, "inner_race": 4.755}  # BPFO, BPFI per shaft revolution of the publisher's bearing


def plan_synthetic(scale: float) -> list:
    """The publisher's 20 files (the set is fixed: ``scale`` multiplies their length)."""
    jobs = []
    for folder, (label, stem, files, rate, loads) in SETS.items():
        for index in range(1, files + 1):
            jobs.append(
                (
                    f"{WRAPPER}/{folder}/{stem}_{index}.mat",
                    label,
                    {"label": label, "rate": rate, "load": loads[index - 1], "seconds": SYNTHETIC_SECONDS * scale},
                )
            )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    from scipy.io import savemat

    rate, shaft = p["rate"], 25.0
    n = max(64, int(rate * p["seconds"]))
    signal = tone(n, rate, shaft, 0.1, rng.uniform(0, 6.3)) + rng.normal(0, 0.05, n)
    if p["label"] != "normal":
        signal += impulses(
            rng,
            n,
            rate,
            ORDERS[p["label"]] * shaft,
            4000 + 2000 * (p["label"] == "inner_race"),
            (0.4 + p["load"] / 500) * level.gain,
            0.0005,
        )
    buffer = io.BytesIO()
    savemat(
        buffer,
        {"bearing": {"sr": float(rate), "gs": signal.reshape(-1, 1), "load": f"{p['load']:g}", "rate": shaft}},
        format="5",
    )  # the published files hold the load as text
    data = bytearray(buffer.getvalue())
    data[:116] = f"MATLAB 5.0 MAT-file, {NOTE.format(name='MFPT')}".encode()[:116].ljust(116)  # no timestamp
    path.write_bytes(bytes(data))
