"""Southeast University (SEU) gearbox data: a bearing set and a gear set, 5 conditions each, 8 channels.

Siyu Shao (Ruqiang Yan's group, Southeast University) publishes the data of the Drivetrain Dynamics
Simulator in the ``Mechanical-datasets`` repository; its ``gearbox/`` folder holds ``bearingset/``
and ``gearset/`` (:data:`TREE`), one CSV per condition and working condition: ``<fault>_20_0.csv``
(rotating speed 20 Hz, load 0 V) and ``<fault>_30_2.csv`` (30 Hz, 2 V). Each CSV starts with 16
lines the acquisition software writes (read past, not parsed — but each checked not to be a row of 8
numbers: a file with fewer header lines is refused, naming the line, instead of building with its
first data rows dropped; one with more fails on its 17th line) and then one line per sample of 8
tab-separated values with a trailing tab (``bearingset/ball_20_0.csv`` is comma-separated — the
separator is taken from the first data line): 1 motor vibration, 2-4 planetary gearbox vibration
x/y/z, 5 motor torque, 6-8 parallel gearbox vibration x/y/z. Every column is kept.

The publisher states no sampling rate. A row's ``sampling_rate`` is libtrad's placeholder
:data:`PLACEHOLDER_RATE` (16 kHz, the rate of libtrad's encoders, so they take the samples as they
are), and ``sampling_rate_published`` is false: the frequency axis of an embedding is not physical.

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
from libtrad.builders.fault.synth import EASY, Level, band_noise, impulses, tone
from libtrad.builders.scan import rel_path
from libtrad.core.channels import ChannelPolicy

PLACEHOLDER_RATE = 16_000  # NOT published by SEU: see the module docstring and the card
HEADER_LINES = 16
CHANNELS = (
    "motor",
    "planetary-x",
    "planetary-y",
    "planetary-z",
    "motor-torque",
    "parallel-x",
    "parallel-y",
    "parallel-z",
)
# Folder -> (config, file prefix as published -> class).
SETS = {
    "bearingset": ("bearing", {"health": "health", "ball": "ball", "inner": "inner", "outer": "outer", "comb": "comb"}),
    "gearset": (
        "gear",
        {"Health": "health", "Chipped": "chipped", "Miss": "miss", "Root": "root", "Surface": "surface"},
    ),
}
WORKING = {("20", "0"): (20, 0), ("30", "2"): (30, 2)}  # (speed Hz, load V) of the two working conditions
NAME = re.compile(r"^(?P<fault>[A-Za-z]+)_(?P<speed>[0-9]+)_(?P<load>[0-9]+)\.csv$", re.ASCII)
TREE = """\
DATA_DIR/                               (the repository's gearbox/ folder)
  bearingset/<health|ball|inner|outer|comb>_<20_0|30_2>.csv
  gearset/<Health|Chipped|Miss|Root|Surface>_<20_0|30_2>.csv
      16 header lines, then 8 values per line (tab-separated; ball_20_0.csv comma-separated)
"""
DOWNLOADS = (
    {
        "what": "cathysiyu/Mechanical-datasets on GitHub, folder gearbox/ (CSV files in Git LFS; no checksums "
        "published beyond Git's own)",
        "url": "https://github.com/cathysiyu/Mechanical-datasets",
    },
)


class SeuLayout(ArrayLayout):
    dataset = "SEU"
    configs = {config: tuple(dict.fromkeys(classes.values())) for config, classes in SETS.values()}
    columns = {
        "speed_hz": datasets.Value("int32"),
        "load_v": datasets.Value("int32"),
        "sampling_rate_published": datasets.Value("bool"),
    }
    check_text = (
        f"CSV with {HEADER_LINES} header lines (none a row of numbers), then 8 numeric values per line "
        "(tab- or comma-separated, one trailing separator allowed), finite, not empty"
    )
    figure_channel = 1  # planetary gearbox x, one of the channels the publisher calls effective

    def present_configs(self, data_dir: Path) -> list[str]:
        there = [config for folder, (config, _) in SETS.items() if (data_dir / folder).is_dir()]
        return there or list(self.configs)

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        for folder, name in top_level(
            data_dir,
            rejected,
            listing,
            folders={n: n for n in SETS},
            not_read={},
            expected="bearingset/ and/or gearset/",
            dataset=self.dataset,
        ):
            config, prefixes = SETS[name]
            if config not in configs:
                continue
            expected = f"<{'|'.join(prefixes)}>_<20_0|30_2>.csv"
            for path, (label, speed, load) in children(
                data_dir, folder, rejected, expected=expected, files=lambda n, p=prefixes, f=name: _name(n, p, f)
            ):
                meta = {"speed_hz": speed, "load_v": load, "sampling_rate_published": False}
                listing.found.append(Found(path, rel_path(data_dir, path), config, label, meta))
        return listing

    def parse(self, data, found):
        return parse_csv(data, found.path), CHANNELS, PLACEHOLDER_RATE, {}


def _name(name: str, prefixes: dict[str, str], folder: str):
    m = NAME.match(name)
    if m is None:
        return None
    if m["fault"] not in prefixes:
        raise BadName(f"unknown condition {m['fault']!r} in {folder}/ (expected {', '.join(prefixes)})")
    working = WORKING.get((m["speed"], m["load"]))
    if working is None:
        raise BadName(
            f"working condition {m['speed']}_{m['load']} is not one of 20_0 (20 Hz, 0 V) or 30_2 (30 Hz, 2 V)"
        )
    return prefixes[m["fault"]], *working


def parse_csv(data: bytes, path: Path) -> np.ndarray:
    """8 × samples float32 of one SEU CSV (its header lines skipped), or InvalidAudio naming the first bad line."""
    text = data.decode("latin-1")
    lines = text.splitlines()
    if len(lines) <= HEADER_LINES:
        raise InvalidAudio(path, f"{len(lines)} line(s): no data after the {HEADER_LINES} header lines")
    first = lines[HEADER_LINES]
    sep = "\t" if "\t" in first else ","
    _check_header(lines, sep, path)
    body = "\n".join(lines[HEADER_LINES:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = np.loadtxt(
                io.StringIO(body), delimiter=sep, dtype=np.float32, comments=None, ndmin=2, usecols=range(len(CHANNELS))
            )
    except ValueError:
        raise InvalidAudio(path, _problem(lines, sep)) from None
    bad = ~np.isfinite(table)
    if bad.any():
        row, column = (int(i[0]) for i in np.nonzero(bad))
        raise InvalidAudio(path, f"line {HEADER_LINES + 1 + row} column {column + 1}: not a finite number")
    if table.shape[0] == 0:
        raise InvalidAudio(path, f"no data after the {HEADER_LINES} header lines")
    return np.ascontiguousarray(table.T)


def _check_header(lines: list[str], sep: str, path: Path) -> None:
    """The lines skipped as the header are a header: none of them is a data row (8 numbers). A file
    with fewer than 16 header lines would otherwise build with its first data rows dropped unseen."""
    for number, line in enumerate(lines[:HEADER_LINES], start=1):
        if _is_data_row(line, sep) or _is_data_row(line, "\t" if sep == "," else ","):
            raise InvalidAudio(
                path,
                f"line {number} is a row of {len(CHANNELS)} numbers, but SEU's files hold {HEADER_LINES} header "
                f"lines before the data (this one has {number - 1}); reading it would drop its first data rows",
            )


def _is_data_row(line: str, sep: str) -> bool:
    cells = line.split(sep)
    if cells and cells[-1].strip() == "":
        cells = cells[:-1]  # the trailing separator the publisher writes
    if len(cells) != len(CHANNELS):
        return False
    try:
        [float(cell) for cell in cells]
    except ValueError:
        return False
    return True


def _problem(lines: list[str], sep: str) -> str:
    """The first data line that is not 8 numbers (the slow path, only for a broken file)."""
    for number, line in enumerate(lines[HEADER_LINES:], start=HEADER_LINES + 1):
        cells = line.split(sep)
        if cells and cells[-1].strip() == "":
            cells = cells[:-1]  # the trailing separator the publisher writes
        if len(cells) != len(CHANNELS):
            return f"line {number} has {len(cells)} value(s), expected {len(CHANNELS)} ({', '.join(CHANNELS)})"
        for column, cell in enumerate(cells, start=1):
            try:
                float(cell)
            except ValueError:
                return f"line {number} column {column}: {cell.strip()[:40]!r} is not a number"
    return f"not {len(CHANNELS)} numeric values per line after the {HEADER_LINES} header lines"


LAYOUT = SeuLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@article{shao2019highly,
  author  = {Shao, Siyu and McAleer, Stephen and Yan, Ruqiang and Baldi, Pierre},
  title   = {Highly Accurate Machine Fault Diagnosis Using Deep Transfer Learning},
  journal = {IEEE Transactions on Industrial Informatics},
  volume  = {15},
  number  = {4},
  pages   = {2446--2455},
  year    = {2019},
  doi     = {10.1109/TII.2018.2864759}
}"""

COMPONENT = FaultComponent(
    "seu",
    "Southeast University Gearbox",
    LAYOUT,
    CardText(
        source="Southeast University (China) gearbox data from the Drivetrain Dynamics Simulator (Siyu Shao, Ruqiang "
        "Yan's group), published in the Mechanical-datasets repository",
        protocol_summary="leave-one-out cross-validation over the 5 classes of each config (siren-fault's default)",
        license_text="none stated in the repository; cite the paper below",
        downloads=DOWNLOADS,
        acquisition=(
            "A Drivetrain Dynamics Simulator (motor, planetary gearbox, parallel gearbox) runs at two working "
            "conditions, 20 Hz with 0 V load and 30 Hz with 2 V load. The bearing set has a healthy bearing and "
            "ball, inner-race, outer-race and combined inner+outer faults; the gear set a healthy gear and chipped, "
            "missing, root-crack and surface-wear faults. Each file records 8 channels. **The publisher states no "
            f"sampling rate**: `sampling_rate` here is libtrad's placeholder {PLACEHOLDER_RATE:,} (so 16-kHz "
            "encoders take the samples unchanged) and `sampling_rate_published` is false — do not read physical "
            "frequencies off these rows. One row is one file, whole (not cut)."
        ),
        classes={
            "health": "healthy (bearingset/health_*, gearset/Health_*)",
            "ball": "bearing ball fault",
            "inner": "bearing inner-race fault",
            "outer": "bearing outer-race fault",
            "comb": "bearing with combined inner- and outer-race faults",
            "chipped": "gear: crack in the tooth foot",
            "miss": "gear: one tooth missing",
            "root": "gear: crack in the tooth root",
            "surface": "gear: wear on the tooth surface",
        },
        protocol=(
            "The publisher's paper trains and tests on windows cut from each file; it defines no file-level "
            "split. siren-fault runs **leave-one-out cross-validation** over the files of a config (10 each, "
            "2 per class: one per working condition) — so every query's own class is represented by the one "
            "file of the other working condition: a cross-condition test."
        ),
        column_meanings={
            **SIGNALS,
            **COMMON,
            "signals": "the file's 8 columns after the 16 header lines, as float32, 8 × samples",
            "channels": "`motor`, `planetary-x/y/z`, `motor-torque`, `parallel-x/y/z` (the publisher's column order; "
            "it names planetary x/y/z the effective ones)",
            "sampling_rate": f"libtrad's placeholder {PLACEHOLDER_RATE:,}: SEU publishes no rate",
            "speed_hz": "rotating speed of the working condition, from the file name (20 or 30)",
            "load_v": "load setting of the working condition in V, from the file name (0 or 2)",
            "sampling_rate_published": "false for every row: the rate is not the publisher's",
        },
        layout=TREE,
        config_descriptions={
            "bearing": "bearingset/: healthy and 4 bearing faults",
            "gear": "gearset/: healthy and 4 gear faults",
        },
    ),
    title="Southeast University Gearbox Data (bearing and gear sets, SIREN)",
    description="8-channel drivetrain vibration and torque with bearing and gear faults at two working conditions "
    "(Southeast University Drivetrain Dynamics Simulator).",
    citation=CITATION,
    license="unknown",
    channels=ChannelPolicy(
        names=CHANNELS,
        reason=no_siren_loader(
            "southeastu", "every CSV holds the same 8 channels (motor, planetary x/y/z, torque, parallel x/y/z)"
        ),
    ),
    tags=("vibration", "gearbox", "bearing-fault", "fault-diagnosis", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.csv)
SYNTHETIC_ROWS = 2_000
# The stand-in's header: 16 lines of libtrad's own text (the publisher's header content is not documented).
SYNTHETIC_HEADER = (
    ["SYNTHETIC stand-in generated by libtrad; not a real SEU recording"]
    + [f"header line {i} (read past, as the publisher's 16 lines are)" for i in range(2, HEADER_LINES)]
    + ["\t".join(CHANNELS)]
)
FAULT_HZ = {
    "ball": 47.0,
    "inner": 113.0,
    "outer": 71.0,
    "comb": 113.0,
    "chipped": 233.0,
    "miss": 233.0,
    "root": 233.0,
    "surface": 233.0,
}


def plan_synthetic(scale: float) -> list:
    """The publisher's 20 files (the set is fixed: ``scale`` multiplies their length)."""
    jobs = []
    for folder, (_config, prefixes) in SETS.items():
        for prefix, label in prefixes.items():
            for speed, load in WORKING:
                jobs.append(
                    (
                        f"{folder}/{prefix}_{speed}_{load}.csv",
                        label,
                        {
                            "label": label,
                            "speed": int(speed),
                            "load": int(load),
                            "rows": max(32, round(SYNTHETIC_ROWS * scale)),
                            "comma": folder == "bearingset" and prefix == "ball" and speed == "20",
                        },
                    )
                )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    rate, n, shaft = PLACEHOLDER_RATE, p["rows"], float(p["speed"])
    table = np.zeros((n, len(CHANNELS)))
    for column in range(len(CHANNELS)):
        table[:, column] = tone(n, rate, shaft, 0.05, rng.uniform(0, 6.3)) + rng.normal(0, 0.02, n)
    table[:, 4] = 0.5 + 0.2 * p["load"] + band_noise(rng, n, rate, 1, 200, 0.01)  # motor torque
    label = p["label"]
    if label != "health":
        hz = FAULT_HZ[label] * shaft / 20
        hits = impulses(rng, n, rate, hz, 1800 + 300 * len(label), 0.3 * level.gain, 0.001)
        if label in ("comb", "surface"):
            hits += impulses(rng, n, rate, 0.63 * hz, 2600, 0.2 * level.gain, 0.001)
        for column in (1, 2, 3, 5, 6, 7):
            table[:, column] += hits * (1.0 if column < 4 else 0.4)
    sep = "," if p["comma"] else "\t"
    buffer = io.StringIO()
    np.savetxt(buffer, table, delimiter=sep, fmt="%.5f")
    body = "".join(line + sep + "\n" for line in buffer.getvalue().splitlines())  # the publisher's trailing separator
    path.write_text("\n".join(SYNTHETIC_HEADER) + "\n" + body)
