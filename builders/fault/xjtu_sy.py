"""XJTU-SY run-to-failure bearings: 15 bearings, 3 operating conditions, one 1.28-s record a minute.

Xi'an Jiaotong University and Changxing Sumyoung Technology publish the complete run-to-failure
vibration of 15 LDK UER204 rolling bearings (:data:`TREE`): one folder per operating condition
(``35Hz12kN``, ``37.5Hz11kN``, ``40Hz10kN``), one per bearing (``Bearing1_1`` ... ``Bearing3_5``),
and in it one CSV per minute of the test, ``1.csv`` ... ``N.csv``. Each CSV is one record of
1.28 s at 25.6 kHz (32,768 rows, checked) with a header line and two columns,
``Horizontal_vibration_signals`` and ``Vertical_vibration_signals``.

The publisher's table gives, per bearing, the number of files (= its lifetime in minutes) and the
failed element(s) found after the test (:data:`BEARINGS`, read from the package data
``data/xjtu_sy_bearings.csv``): a bearing folder under another condition's folder is refused, and so
is a record number beyond the bearing's lifetime. A row is one CSV; its label is that
failure location (the same for every record of a bearing, early healthy minutes included), and
``time_to_failure_min`` = N - file number (0 for the last record), the lifetime target.

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
from libtrad.builders.fault.base import COMMON, SIGNALS, CardText, FaultComponent, no_siren_loader
from libtrad.builders.fault.common import ArrayLayout, BadName, Found, Listing, children, top_level
from libtrad.builders.fault.synth import EASY, Level, count, impulses, tone
from libtrad.builders.fault.tables import read_table
from libtrad.builders.scan import rel_path
from libtrad.core.channels import ChannelPolicy

SAMPLE_RATE = 25_600
RECORD_ROWS = 32_768  # 1.28 s at 25.6 kHz, every published record
SYNTHETIC_ROWS = 1_024  # the stand-in's 0.04 s (a full record would make it 32 times larger)
HEADER = "Horizontal_vibration_signals,Vertical_vibration_signals"
CHANNELS = ("horizontal", "vertical")
OUTER, INNER, CAGE = "outer_race", "inner_race", "cage"
# The publishers' table (Wang et al.), shipped as data/xjtu_sy_bearings.csv.
_TABLE = read_table("xjtu_sy_bearings.csv")
# Bearing -> (files = lifetime in minutes, failed element(s)).
BEARINGS = {row["bearing"]: (int(row["lifetime_min"]), row["failed"]) for row in _TABLE}
# Condition folder -> (rotating speed rpm, radial force kN), and its bearings.
CONDITIONS = {row["condition"]: (int(row["rpm"]), int(row["radial_force_kn"])) for row in _TABLE}
CONDITION_BEARINGS = {
    condition: [row["bearing"] for row in _TABLE if row["condition"] == condition] for condition in CONDITIONS
}
CLASSES = (OUTER, INNER, CAGE, f"{INNER}+{OUTER}", f"{INNER}+ball+{CAGE}+{OUTER}")
BEARING_NAME = re.compile(r"^Bearing(?P<condition>[1-3])_(?P<bearing>[1-5])$", re.ASCII)
CSV_NAME = re.compile(r"^(?P<minute>[1-9][0-9]{0,4})\.csv$", re.ASCII)
TREE = """\
DATA_DIR/
  35Hz12kN/Bearing1_1/ ... Bearing1_5/     condition 1: 2100 rpm, 12 kN
  37.5Hz11kN/Bearing2_1/ ... Bearing2_5/   condition 2: 2250 rpm, 11 kN
  40Hz10kN/Bearing3_1/ ... Bearing3_5/     condition 3: 2400 rpm, 10 kN
    1.csv ... N.csv                        one 1.28-s record per minute; N = the bearing's lifetime in minutes
"""
DOWNLOADS = (
    {
        "what": "XJTU-SY bearing datasets page (links to the archive, XJTU-SY_Bearing_Datasets.part01.rar ...; sizes "
        "and checksums are not published)",
        "url": "https://biaowang.tech/xjtu-sy-bearing-datasets/",
    },
)


class XjtuSyLayout(ArrayLayout):
    dataset = "XJTU-SY"
    configs = {"default": CLASSES}
    columns = {
        "condition": datasets.Value("string"),
        "rpm": datasets.Value("int32"),
        "radial_force_kn": datasets.Value("int32"),
        "bearing": datasets.Value("string"),
        "minute": datasets.Value("int32"),
        "lifetime_min": datasets.Value("int32"),
        "time_to_failure_min": datasets.Value("int32"),
    }
    check_text = (
        f"CSV with the header line {HEADER!r} and 2 numeric columns, finite, {RECORD_ROWS:,} rows (1.28 s "
        f"at 25.6 kHz; the synthetic stand-in's {SYNTHETIC_ROWS:,}); file number within the bearing's "
        "published lifetime"
    )
    length_unit = "rows"

    def expected_frames(self, found, synthetic):
        """A record cut short passes every per-line check: its length is checked."""
        if synthetic:
            return SYNTHETIC_ROWS, "0.04 s at 25.6 kHz, every file of libtrad's synthetic stand-in (SYNTHETIC.json)"
        return RECORD_ROWS, "1.28 s at 25.6 kHz, every XJTU-SY record"

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        expected = ", ".join(f"{c}/" for c in CONDITIONS)
        for folder, condition in top_level(
            data_dir,
            rejected,
            listing,
            folders={c: c for c in CONDITIONS},
            not_read={},
            expected=expected,
            dataset=self.dataset,
        ):
            rpm, force = CONDITIONS[condition]
            mine = CONDITION_BEARINGS[condition]
            for bearing_dir, bearing in children(
                data_dir,
                folder,
                rejected,
                dirs=lambda n, m=mine: _bearing(n, m),
                expected=", ".join(f"{b}/" for b in mine),
            ):
                files, failure = BEARINGS[bearing]
                for path, minute in children(
                    data_dir,
                    bearing_dir,
                    rejected,
                    files=lambda n, b=bearing: _minute(n, b),
                    expected=f"MINUTE.csv, 1.csv ... {files}.csv",
                ):
                    meta = {
                        "condition": condition,
                        "rpm": rpm,
                        "radial_force_kn": force,
                        "bearing": bearing,
                        "minute": minute,
                        "lifetime_min": files,
                        "time_to_failure_min": files - minute,
                    }
                    listing.found.append(Found(path, rel_path(data_dir, path), "default", failure, meta))
        return listing

    def parse(self, data, found):
        return parse_csv(data, found.path), CHANNELS, SAMPLE_RATE, {}


def _bearing(name: str, mine: list[str]) -> str | None:
    if name in mine:
        return name
    if BEARING_NAME.match(name):
        raise BadName(f"{name} belongs to another operating condition (this folder holds {', '.join(mine)})")
    return None


def _minute(name: str, bearing: str) -> int | None:
    m = CSV_NAME.match(name)
    if m is None:
        return None
    minute, files = int(m["minute"]), BEARINGS[bearing][0]
    if minute > files:
        raise BadName(f"record {minute} is beyond {bearing}'s {files} published records (its lifetime, {files} min)")
    return minute


def parse_csv(data: bytes, path: Path) -> np.ndarray:
    """2 × samples float32 of one XJTU-SY record, or InvalidAudio naming the problem."""
    text = data.decode("latin-1")
    first, _, body = text.partition("\n")
    if first.strip().lstrip("\ufeff") != HEADER:
        raise InvalidAudio(path, f"first line {first.strip()[:60]!r} is not the header {HEADER!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": reported below as no rows
            table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float32, comments=None, ndmin=2)
    except ValueError as exc:
        detail = (str(exc).strip().splitlines() or ["not numeric"])[0]
        raise InvalidAudio(path, f"not a CSV of 2 numeric columns ({detail})") from None
    if table.shape[0] == 0:
        raise InvalidAudio(path, "no rows after the header")
    if table.shape[1] != len(CHANNELS):
        raise InvalidAudio(path, f"{table.shape[1]} column(s), expected 2 ({HEADER})")
    bad = ~np.isfinite(table)
    if bad.any():
        row, column = (int(i[0]) for i in np.nonzero(bad))
        raise InvalidAudio(path, f"non-finite value in line {row + 2} column {column + 1}")
    return np.ascontiguousarray(table.T)


LAYOUT = XjtuSyLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@article{wang2020hybrid,
  author  = {Wang, Biao and Lei, Yaguo and Li, Naipeng and Li, Ningbo},
  title   = {A Hybrid Prognostics Approach for Estimating Remaining Useful Life of Rolling Element Bearings},
  journal = {IEEE Transactions on Reliability},
  volume  = {69},
  number  = {1},
  pages   = {401--412},
  year    = {2020},
  doi     = {10.1109/TR.2018.2882682}
}"""

COMPONENT = FaultComponent(
    "xjtu-sy",
    "XJTU-SY Bearing",
    LAYOUT,
    CardText(
        source="XJTU-SY bearing datasets, Institute of Design Science and Basic Component, Xi'an Jiaotong University, "
        "and Changxing Sumyoung Technology",
        protocol_summary="leave-one-out cross-validation over the failure locations (siren-fault's default); "
        "time_to_failure_min is the lifetime target",
        license_text="none stated: the publishers offer the data for free use and ask that publications cite the "
        "paper below",
        downloads=DOWNLOADS,
        acquisition=(
            "Accelerated degradation tests of 15 LDK UER204 rolling bearings, 5 under each of three operating "
            "conditions (2100 rpm and 12 kN, 2250 rpm and 11 kN, 2400 rpm and 10 kN), each run until it failed. "
            "Two accelerometers (horizontal and vertical) are sampled at 25.6 kHz; a 1.28-s record (32,768 "
            "samples) is taken every minute, one CSV per record. **One row is one record, whole** (not cut)."
        ),
        classes={
            OUTER: "the outer race failed (Bearing1_1-1_3, 2_2, 2_4, 2_5, 3_1, 3_5)",
            INNER: "the inner race failed (Bearing2_1, 3_3, 3_4)",
            CAGE: "the cage failed (Bearing1_4, 2_3)",
            f"{INNER}+{OUTER}": "inner and outer race failed (Bearing1_5)",
            f"{INNER}+ball+{CAGE}+{OUTER}": "inner race, ball, cage and outer race failed (Bearing3_2)",
        },
        protocol=(
            "The publishers define no classification split (the data are for remaining-useful-life "
            "prognostics). The label is the failure location the publisher reports for the bearing, the same "
            "for every record of its run — the first records of a run show a healthy bearing; filter on "
            "`time_to_failure_min` for the degraded end. siren-fault runs **leave-one-out cross-validation** "
            "(no `fold` column); records of one bearing are alike, so a per-bearing split "
            "(`bearing` column) is the honest test. `time_to_failure_min` is the regression target of "
            "lifetime tasks."
        ),
        column_meanings={
            **SIGNALS,
            **COMMON,
            "signals": "the CSV's two columns as float32, 2 × 32,768 (rows of the file = samples)",
            "channels": "`horizontal`, `vertical` (the CSV's Horizontal_ / Vertical_vibration_signals columns)",
            "condition": "the condition folder (`35Hz12kN`, `37.5Hz11kN`, `40Hz10kN`)",
            "rpm": "rotating speed of the condition (2100, 2250, 2400)",
            "radial_force_kn": "radial force of the condition in kN (12, 11, 10)",
            "bearing": "the bearing folder (`Bearing1_1` ... `Bearing3_5`)",
            "minute": "the record's number, from the file name: minutes since the test started",
            "lifetime_min": "the bearing's lifetime in minutes (its number of records, the publisher's table)",
            "time_to_failure_min": "`lifetime_min - minute`: minutes until the bearing failed (0 for the last record)",
        },
        layout=TREE,
    ),
    title="XJTU-SY Run-to-Failure Bearing Data (SIREN)",
    description="Run-to-failure vibration of 15 rolling bearings under three operating conditions, with the failure "
    "location and the time to failure of every record.",
    citation=CITATION,
    license="unknown",
    channels=ChannelPolicy(
        names=CHANNELS, reason=no_siren_loader("xjtu", "every CSV holds the horizontal and the vertical accelerometer")
    ),
    tags=("vibration", "bearing-fault", "prognostics", "remaining-useful-life", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.csv)
ORDERS = {OUTER: 3.07, INNER: 4.93, CAGE: 0.38, "ball": 2.0}  # defect frequency / shaft for a UER204-like bearing


def plan_synthetic(scale: float) -> list:
    """Every bearing, with its real record numbers: the first and the last at scale 1 (more, evenly spaced, above)."""
    jobs = []
    for condition, (rpm, _) in CONDITIONS.items():
        for bearing in CONDITION_BEARINGS[condition]:
            files, failure = BEARINGS[bearing]
            n = min(files, count(2, scale, least=2))
            minutes = sorted({round(1 + k * (files - 1) / (n - 1)) for k in range(n)})
            for minute in minutes:
                jobs.append(
                    (
                        f"{condition}/{bearing}/{minute}.csv",
                        failure,
                        {"rpm": rpm, "failure": failure, "wear": (minute - 1) / max(1, files - 1)},
                    )
                )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    rate, n, shaft = SAMPLE_RATE, SYNTHETIC_ROWS, p["rpm"] / 60
    table = np.zeros((n, 2))
    for column in range(2):
        table[:, column] = tone(n, rate, shaft, 0.1, rng.uniform(0, 6.3)) + rng.normal(0, 0.05, n)
        for element in p["failure"].split("+"):  # the defect grows as the test nears its end
            table[:, column] += impulses(
                rng,
                n,
                rate,
                ORDERS[element] * shaft,
                3500 + 500 * column,
                (0.05 + 1.5 * p["wear"] ** 2) * level.gain,
                0.0006,
            )
    buffer = io.StringIO()
    np.savetxt(buffer, table, delimiter=",", fmt="%.4f", header=HEADER, comments="")
    path.write_text(buffer.getvalue())
