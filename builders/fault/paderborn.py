"""The Paderborn University (KAt-DataCenter) bearing data: 32 bearings, 4 settings, 20 runs each.

The Chair of Design and Drive Technology (KAt) publishes one RAR archive per bearing (``K001.rar``
... ``KI21.rar``); each extracts to a folder named by the bearing code holding its MATLAB v5 files
``<SETTING>_<CODE>_<RUN>.mat`` (:data:`TREE`): SETTING is one of four operating conditions
(``N15_M07_F10``: 1500 rpm, 0.7 Nm load torque, 1000 N radial force; ``N09_M07_F10``,
``N15_M01_F10``, ``N15_M07_F04``), RUN 1-20, each run about 4 s.

A file holds one struct named after the file (``N15_M07_F10_K001_1``) whose ``Y`` struct array
carries the measured signals by ``Name`` (``vibration_1``, ``phase_current_1``, ``phase_current_2``
at 64 kHz; ``force``, ``speed``, ``torque`` at 4 kHz; ``temp_2_bearing_module`` at 1 Hz) with
their samples in ``Data``. A row keeps ``vibration_1`` (the test-bearing housing's accelerometer,
64 kHz) as its one channel; the label is the damaged ring the publisher's tables give for the
bearing code (:data:`BEARINGS`, read from the package data ``data/paderborn_bearings.csv``): a
bearing folder the tables do not list is refused, and so is a file whose name names another
bearing than its folder.

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
from libtrad.builders.fault.matfile import field, load_mat, names, vector
from libtrad.builders.fault.synth import EASY, NOTE, Level, count, impulses, tone
from libtrad.builders.fault.tables import read_table
from libtrad.builders.scan import rel_path
from libtrad.core.channels import ChannelPolicy

SAMPLE_RATE = 64_000  # vibration_1 (and the phase currents), as the publisher states
CHANNEL = "vibration_1"
CLASSES = ("healthy", "outer_ring", "inner_ring", "inner_outer_ring")
ELEMENT_CLASS = {
    "": "healthy",
    "OR": "outer_ring",
    "IR": "inner_ring",
    "IR+OR": "inner_outer_ring",
    "OR+IR": "inner_outer_ring",
}
# Bearing code -> (class, damage method, damage type, extent level 0-3): the publisher's Tables 4-6 (Lessmeier et al.
# 2016), shipped as data/paderborn_bearings.csv: 6 healthy, 12 artificially damaged, 14 from accelerated lifetime
# tests.
BEARINGS = {
    row["code"]: (ELEMENT_CLASS[row["element"]], row["damage_method"], row["damage_type"], int(row["extent"]))
    for row in read_table("paderborn_bearings.csv")
}
# Setting -> (rotational speed rpm, load torque Nm, radial force N).
SETTINGS = {
    "N15_M07_F10": (1500, 0.7, 1000),
    "N09_M07_F10": (900, 0.7, 1000),
    "N15_M01_F10": (1500, 0.1, 1000),
    "N15_M07_F04": (1500, 0.7, 400),
}
RUNS = 20
NAME = re.compile(
    r"^(?P<setting>N[0-9]{2}_M[0-9]{2}_F[0-9]{2})_(?P<code>K[ABI]?[0-9]{2,3})_(?P<run>[0-9]+)\.mat$", re.ASCII
)
NAME_RULE = "SETTING_CODE_RUN.mat (e.g. N15_M07_F10_KA01_1.mat)"
TREE = """\
DATA_DIR/
  K001/ ... K006/        healthy bearings            (each from K001.rar ... : one folder per bearing)
  KA01/ ... KA09/        outer ring, artificial damage;   KA04, KA15, KA16, KA22, KA30: from lifetime tests
  KI01/ ... KI08/        inner ring, artificial damage;   KI04, KI14, KI16, KI17, KI18, KI21: lifetime tests
  KB23/, KB24/, KB27/    inner and outer ring, lifetime tests
    SETTING_CODE_RUN.mat SETTING: N15_M07_F10 | N09_M07_F10 | N15_M01_F10 | N15_M07_F04; RUN: 1-20
"""
PAGE = "https://mb.uni-paderborn.de/en/kat/main-research/datacenter/bearing-datacenter/data-sets-and-download"
FILES = "https://groups.uni-paderborn.de/kat/BearingDataCenter"
DOWNLOADS = (
    {"what": "KAt-DataCenter, data sets and download", "url": PAGE},
    {
        "what": "the 32 archives, K001.rar ... KI21.rar (RAR: extract each into DATA_DIR; sizes and checksums are not "
        "published)",
        "url": f"{FILES}/",
    },
)


class PaderbornLayout(ArrayLayout):
    dataset = "Paderborn"
    configs = {"default": CLASSES}
    columns = {
        "bearing": datasets.Value("string"),
        "damage_method": datasets.Value("string"),
        "damage_type": datasets.Value("string"),
        "damage_extent": datasets.Value("int32"),
        "setting": datasets.Value("string"),
        "rpm": datasets.Value("int32"),
        "torque_nm": datasets.Value("float32"),
        "radial_force_n": datasets.Value("int32"),
        "run": datasets.Value("int32"),
    }
    check_text = (
        "readable MATLAB v5 .mat holding the struct named after the file, whose Y array has a vibration_1 "
        "signal (a non-empty, finite numeric vector); the bearing code in the name matches its folder"
    )

    def find(self, data_dir, configs, rejected) -> Listing:
        listing = Listing()
        for folder, code in top_level(
            data_dir,
            rejected,
            listing,
            folders={c: c for c in BEARINGS},
            not_read={},
            expected="bearing folders K001/ ... KI21/",
            dataset=self.dataset,
        ):
            label, method, kind, extent = BEARINGS[code]
            for path, (setting, run) in children(
                data_dir, folder, rejected, expected=NAME_RULE, files=lambda name, code=code: _name(name, code)
            ):
                rpm, torque, force = SETTINGS[setting]
                meta = {
                    "bearing": code,
                    "damage_method": method,
                    "damage_type": kind,
                    "damage_extent": extent,
                    "setting": setting,
                    "rpm": rpm,
                    "torque_nm": torque,
                    "radial_force_n": force,
                    "run": run,
                }
                listing.found.append(Found(path, rel_path(data_dir, path), "default", label, meta))
        return listing

    def parse(self, data, found):
        return parse_mat(data, found.path), (CHANNEL,), SAMPLE_RATE, {}


def _name(name: str, code: str):
    """(setting, run) of a measurement file in bearing folder ``code``, or BadName/None."""
    m = NAME.match(name)
    if m is None:
        return None
    if m["code"] != code:
        raise BadName(f"its name says bearing {m['code']} but it lies in {code}/")
    if m["setting"] not in SETTINGS:
        raise BadName(f"operating setting {m['setting']} is not one of {', '.join(SETTINGS)}")
    run = int(m["run"])
    if not 1 <= run <= RUNS:
        raise BadName(f"run {run} is not one of 1-{RUNS} (20 measurements per setting)")
    return m["setting"], run


def parse_mat(data: bytes, path: Path) -> np.ndarray:
    """1 × samples float32: the ``vibration_1`` signal of a Paderborn file, or InvalidAudio naming the problem."""
    content = load_mat(data, path, "Paderborn")
    stem = path.name[: -len(".mat")]
    if stem not in content:
        raise InvalidAudio(
            path, f"no variable {stem} (the struct named after the file) in it; it holds {names(content)}"
        )
    signals = np.atleast_1d(field(path, content[stem], "Y", stem))
    by_name = {}
    for entry in signals:
        name = str(field(path, entry, "Name", f"{stem}.Y"))
        if name in by_name:  # two signals of one name: which one is meant cannot be told, so none is dropped unseen
            raise InvalidAudio(path, f"{stem}.Y holds two signals named {name!r}")
        by_name[name] = entry
    if CHANNEL not in by_name:
        raise InvalidAudio(path, f"{stem}.Y has no {CHANNEL} signal (it has {', '.join(sorted(by_name)) or 'none'})")
    vibration = vector(path, field(path, by_name[CHANNEL], "Data", f"{stem}.Y({CHANNEL})"), f"{stem}.Y({CHANNEL}).Data")
    return vibration.reshape(1, -1)


LAYOUT = PaderbornLayout()


# --------------------------------------------------------------------------- component: the card text
CITATION = r"""@inproceedings{lessmeier2016condition,
  author    = {Lessmeier, Christian and Kimotho, James Kuria and Zimmer, Detmar and Sextro, Walter},
  title     = {Condition Monitoring of Bearing Damage in Electromechanical Drive Systems by Using Motor Current
               Signals of Electric Motors: A Benchmark Data Set for Data-Driven Classification},
  booktitle = {Proceedings of the European Conference of the Prognostics and Health Management Society},
  year      = {2016}
}"""

COMPONENT = FaultComponent(
    "paderborn",
    "Paderborn University Bearing",
    LAYOUT,
    CardText(
        source="Paderborn University, Chair of Design and Drive Technology (KAt), KAt-DataCenter bearing data",
        protocol_summary="leave-one-out cross-validation over the 4 damage classes (siren-fault's default without "
        "a fold column); damage_method allows training on artificial and testing on real damage",
        license_text="Creative Commons Attribution-NonCommercial 4.0 (CC BY-NC 4.0), as the KAt-DataCenter states; "
        "for commercial use contact the authors",
        downloads=DOWNLOADS,
        acquisition=(
            "A 425-W permanent-magnet synchronous motor driven by an industrial inverter turns a shaft through a "
            "torque-measurement shaft, the rolling-bearing test module (ball bearings of type 6203), a flywheel "
            "and a load motor. 32 bearings were run: 6 healthy, 12 with artificial damage (electrical discharge "
            "machining, drilling, electric engraving) and 14 with real damage from accelerated lifetime tests. "
            "Each bearing ran at four settings (speed 1500 or 900 rpm, load torque 0.7 or 0.1 Nm, radial force "
            "1000 or 400 N), 20 measurements of about 4 s each. The housing accelerometer (`vibration_1`) and "
            "two motor phase currents are sampled at 64 kHz, force, speed and torque at 4 kHz, a temperature at "
            "1 Hz. **Rows here keep `vibration_1` only**, whole (one row per measurement file, not cut)."
        ),
        classes={
            "healthy": "healthy bearing (K001-K006)",
            "outer_ring": "damage on the outer ring (KA..)",
            "inner_ring": "damage on the inner ring (KI..)",
            "inner_outer_ring": "damage on both rings (KB23, KB24, KB27, from lifetime tests)",
        },
        protocol=(
            "The publisher defines no split. siren-fault runs **leave-one-out cross-validation** over the 4 "
            "classes (the rows have no `fold` column). Runs of one bearing are alike, so LOOCV rewards "
            "recognising the bearing; the harder published task — train on artificial damage, test on real "
            "damage — is a filter on `damage_method`."
        ),
        column_meanings={
            **SIGNALS,
            **COMMON,
            "signals": "`vibration_1` of the file's struct (`<name>.Y`, the entry whose `Name` is `vibration_1`, its "
            "`Data`) as float32, 1 × samples; the phase currents, force, speed, torque and temperature "
            "are not exported",
            "channels": "`vibration_1`",
            "bearing": "the bearing code (K001 ... KI21), from the folder and the file name",
            "damage_method": "`healthy`, `artificial` or `accelerated lifetime test`",
            "damage_type": "how the damage was made (`electrical discharge machining`, `drilling`, `electric "
            "engraver`) or, for lifetime-test bearings, its main mode (`fatigue: pitting`, `plastic "
            "deformation: indentations`); `none` for healthy bearings",
            "damage_extent": "the publisher's damage extent level (1-3; 0 healthy)",
            "setting": "the operating setting of the file name (`N15_M07_F10` ...)",
            "rpm": "rotational speed of the setting (1500 or 900)",
            "torque_nm": "load torque of the setting in Nm (0.7 or 0.1)",
            "radial_force_n": "radial force on the test bearing of the setting in N (1000 or 400)",
            "run": "measurement number within the setting (1-20)",
        },
        layout=TREE,
    ),
    title="Paderborn University Bearing Data (KAt-DataCenter, SIREN)",
    description="Vibration of healthy, artificially damaged and really damaged ball bearings at four operating "
    "settings (Paderborn University KAt-DataCenter), for SIREN-style fault classification.",
    citation=CITATION,
    license="cc-by-nc-4.0",
    channels=ChannelPolicy(
        names=(CHANNEL,),
        reason=no_siren_loader(
            "paderborn",
            "a row holds vibration_1, the bearing housing's accelerometer (the currents, force, speed, "
            "torque and temperature the file also holds are not kept)",
        ),
    ),
    tags=("vibration", "bearing-fault", "fault-diagnosis", "time-series-classification", "siren"),
    task_categories=("other",),
)


# --------------------------------------------------------------------------- synthetic stand-in (.mat)
SYNTHETIC_SECONDS = 0.1  # a real run is about 4 s; the stand-in keeps the structure, not the length
SYNTHETIC_BEARINGS = ("K001", "K002", "KA01", "KA04", "KI01", "KI04", "KB23", "KB24")  # two per class
# Defect frequencies per shaft revolution of a 6203 ball bearing (BPFO, BPFI), for the stand-in's impulses.
ORDERS = {"outer_ring": (3.05,), "inner_ring": (4.95,), "inner_outer_ring": (3.05, 4.95)}
# The signals of a real file's Y array and their rates (Hz); the stand-in writes all of them.
SIGNAL_RATES = {
    "force": 4000,
    "phase_current_1": 64000,
    "phase_current_2": 64000,
    "speed": 4000,
    "temp_2_bearing_module": 1,
    "torque": 4000,
    "vibration_1": 64000,
}


def plan_synthetic(scale: float) -> list:
    jobs = []
    settings = list(SETTINGS)
    for code in SYNTHETIC_BEARINGS:
        for i in range(count(1, scale)):
            setting, run = settings[i % len(settings)], 1 + (i // len(settings)) % RUNS
            jobs.append(
                (
                    f"{code}/{setting}_{code}_{run}.mat",
                    BEARINGS[code][0],
                    {"code": code, "setting": setting, "run": run},
                )
            )
    return jobs


def write_synthetic(path: Path, p: dict, rng, level: Level = EASY) -> None:
    from scipy.io import savemat

    label = BEARINGS[p["code"]][0]
    rpm, torque, force = SETTINGS[p["setting"]]
    shaft = rpm / 60
    entries = np.zeros((1, len(SIGNAL_RATES)), dtype=[("Name", "O"), ("Type", "O"), ("Data", "O"), ("Unit", "O")])
    for i, (name, rate) in enumerate(SIGNAL_RATES.items()):
        n = max(1, int(rate * SYNTHETIC_SECONDS))
        if name == CHANNEL:
            signal = tone(n, rate, shaft, 0.05, rng.uniform(0, 6.3)) + rng.normal(0, 0.02, n)
            for order in ORDERS.get(label, ()):
                signal += impulses(rng, n, rate, order * shaft, 3000 + 800 * order, 0.5 * level.gain, 0.0008)
        elif name.startswith("phase_current"):
            signal = tone(n, rate, 4 * shaft, 1.0 + torque, rng.uniform(0, 6.3)) + rng.normal(0, 0.05, n)
        else:
            value = {"force": force / 1000, "speed": rpm, "torque": torque, "temp_2_bearing_module": 45.0}[name]
            signal = value + rng.normal(0, 0.01, n)
        entries[0, i] = (name, "synthetic", signal.reshape(1, -1), "")
    stem = path.name[: -len(".mat")]
    buffer = io.BytesIO()
    savemat(
        buffer,
        {
            stem: {
                "Info": NOTE.format(name="Paderborn"),
                "Y": entries,
                "Description": f"{p['setting']} bearing {p['code']} run {p['run']}",
            }
        },
        format="5",
    )
    data = bytearray(buffer.getvalue())
    data[:116] = f"MATLAB 5.0 MAT-file, {NOTE.format(name='Paderborn')}".encode()[:116].ljust(116)  # no timestamp
    path.write_bytes(bytes(data))
