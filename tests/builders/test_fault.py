"""SIREN's fault components (CWRU, MAFAULDA, IIEE, IICA): layouts, parsing, folds, rejections, round trip.

Fixtures are tiny raw trees written here in each publisher's naming scheme (a few files per
class, .mat files of 64 samples, IICA WAVs of 10-50 ms; MAFAULDA CSVs and IIEE cuts at their
publisher's fixed lengths, 250,000 rows and 3 s, which the layouts check). The synth -> build -> fresh-process
load contract runs in test_dataset_contract.py.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.io import savemat

from libtrad.builders.fault import cwru, cwru_records, iica, iiee, mafaulda
from libtrad.builders.fault.common import Checked, Found, reread
from libtrad.builders.fault.iica import assign_folds
from libtrad.builders.registry import DATASETS
from libtrad.core.errors import LibtradError, ParameterError

SIREN = DATASETS["siren"]
DE12 = "12k_Drive_End_Bearing_Fault_Data"


# --------------------------------------------------------------------------- fixture writers
def write_mat(
    path: Path,
    record: int,
    channels=("DE", "FE", "BA"),
    n: int = 64,
    rpm: float | None = 1797.0,
    extra: dict | None = None,
) -> None:
    rng = np.random.default_rng(record)
    content = {f"X{record:03d}_{ch}_time": rng.normal(0, 0.1, (n, 1)) for ch in channels}
    if rpm is not None:
        content[f"X{record:03d}RPM"] = np.array([[rpm]])
    content.update(extra or {})
    save_mat(path, content)


def save_mat(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, content)


def write_csv(path: Path, rows: int = mafaulda.RECORD_ROWS, columns: int = 8, seed: int = 0) -> None:
    """A headerless CSV; a full-length one repeats a 1000-row random block (fast to write, unique per seed)."""
    block = min(rows, 1000)
    table = np.random.default_rng(seed).normal(0, 1, (block, columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    np.savetxt(buffer, table, delimiter=",", fmt="%.5f")
    lines = buffer.getvalue().splitlines(keepends=True)
    path.write_text("".join(lines) * (rows // block) + "".join(lines[: rows % block]))


def write_wav(path: Path, rate: int, seconds: float = 0.05, seed: int = 0, subtype: str = "PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    signal = np.random.default_rng(seed).normal(0, 0.05, int(rate * seconds))
    sf.write(path, signal, rate, subtype=subtype)


@pytest.fixture
def cwru_raw(tmp_path) -> Path:
    """Every naming form the CWRU layout accepts, plus folders it lists as not read; every file is the
    record the Data Center's table says its path is (real published files: test_fault_real.py)."""
    root = tmp_path / "cwru"
    write_mat(root / DE12 / "IR/007/105_0.mat", 105)
    write_mat(root / DE12 / "B/014/B014_1.mat", 186)  # the publisher's table label as the name: record 186
    write_mat(root / DE12 / "OR/007/@6/130@6_0.mat", 130)
    write_mat(root / DE12 / "OR/021/@12/OR021@12_2.mat", 260)
    write_mat(root / DE12 / "OR/014/200@6_3.mat", 200, rpm=None)  # position from the name, no RPM value
    write_mat(root / DE12 / "OR/007/147_3.mat", 147)  # no position in folder or name: the table's (@3)
    write_mat(root / "12k Fan End Bearing Fault Data/IR/007/278.mat", 278, channels=("DE", "FE"))  # load: table's
    write_mat(root / "Normal/97_Normal_0.mat", 97, channels=("DE", "FE"))
    # As the published 99.mat: record 98's channels ride along; record 99's are read.
    write_mat(
        root / "Normal/99_Normal_2.mat",
        99,
        channels=("DE", "FE"),
        extra={"X098_DE_time": np.zeros((64, 1)), "X098_FE_time": np.zeros((64, 1))},
    )
    write_mat(root / "48k_Drive_End_Bearing_Fault_Data/IR/007/109.mat", 109)
    (root / "readme.txt").write_text("downloaded from the CWRU Bearing Data Center\n")
    return root


def scan(component, raw: Path, *, configs=None, on_error="raise"):
    configs = configs or component.default_configs(raw)
    return component.scan(raw, configs, {}, on_error=on_error, progress=False)


def rows_by_file(result) -> dict[str, Checked]:
    return {c.found.rel: c for rows in result.state.rows.values() for c in rows}


def build(cli, component: str, raw: Path, out: Path, *extra):
    return cli("build", "siren", "--component", component, "--data-dir", raw, "--output", out, *extra)


# --------------------------------------------------------------------------- CWRU
def test_cwru_labels_positions_loads_and_channels_from_the_path(cwru_raw):
    result = scan(cwru.COMPONENT, cwru_raw)
    rows = rows_by_file(result)
    expect = {
        f"{DE12}/IR/007/105_0.mat": (105, "DE_IR", None, 7, 0, ("DE", "FE", "BA")),
        f"{DE12}/B/014/B014_1.mat": (186, "DE_B", None, 14, 1, ("DE", "FE", "BA")),
        f"{DE12}/OR/007/@6/130@6_0.mat": (130, "DE_OR@6", "@6", 7, 0, ("DE", "FE", "BA")),
        f"{DE12}/OR/021/@12/OR021@12_2.mat": (260, "DE_OR@12", "@12", 21, 2, ("DE", "FE", "BA")),
        f"{DE12}/OR/014/200@6_3.mat": (200, "DE_OR@6", "@6", 14, 3, ("DE", "FE", "BA")),
        f"{DE12}/OR/007/147_3.mat": (147, "DE_OR@3", "@3", 7, 3, ("DE", "FE", "BA")),
        "12k Fan End Bearing Fault Data/IR/007/278.mat": (278, "FE_IR", None, 7, 0, ("DE", "FE")),
        "Normal/97_Normal_0.mat": (97, "normal", None, None, 0, ("DE", "FE")),
        "Normal/99_Normal_2.mat": (99, "normal", None, None, 2, ("DE", "FE")),
    }
    got = {
        rel: (
            c.columns()["record"],
            c.found.label,
            c.columns()["position"],
            c.columns()["fault_diameter_mils"],
            c.columns()["load_hp"],
            c.channels,
        )
        for rel, c in rows.items()
    }
    assert got == expect
    assert rows[f"{DE12}/OR/014/200@6_3.mat"].columns()["rpm"] is None
    assert rows[f"{DE12}/IR/007/105_0.mat"].columns()["rpm"] == 1797.0
    assert {c.sample_rate for c in result.state.rows["faults"]} == {12_000}
    assert {c.sample_rate for c in result.state.rows["normal"]} == {48_000}
    assert dict(result.state.not_read) == {
        "48k_Drive_End_Bearing_Fault_Data/": "48 kHz drive-end data: SIREN's task uses the 12 kHz recordings",
        "readme.txt": "documentation",
    }
    assert not result.rejected


def test_cwru_takes_the_record_its_name_names(cwru_raw):
    """99.mat-style files: the X099 channels are read, not the X098 ones beside them."""
    checked = rows_by_file(scan(cwru.COMPONENT, cwru_raw))["Normal/99_Normal_2.mat"]
    from scipy.io import loadmat

    signals = cwru.COMPONENT.layout.payload(cwru_raw, checked)["signals"]
    expected = loadmat(cwru_raw / "Normal/99_Normal_2.mat")["X099_DE_time"].reshape(-1).astype(np.float32)
    assert np.array_equal(signals[0], expected)


def test_cwru_strays_and_broken_files_are_named_in_one_error(cli, rel, cwru_raw, tmp_path):
    (cwru_raw / DE12 / "IR/007/notes.mat").write_text("not a mat file name")
    write_mat(cwru_raw / DE12 / "OR/007/OR007_1.mat", 131)  # a label without a position: which record?
    write_mat(cwru_raw / DE12 / "XX/007/1.mat", 1)
    (cwru_raw / DE12 / "B/007").mkdir(parents=True)
    (cwru_raw / DE12 / "B/007/119_1.mat").write_bytes(b"MATLAB 5.0 MAT-file, but then garbage" + bytes(200))
    before = rel.snapshot(cwru_raw)
    line = rel.assert_error_line(
        build(cli, "cwru", cwru_raw, tmp_path / "out"),
        f"{DE12}/IR/007/notes.mat: unexpected file in {DE12}/IR/007/",
        f"{DE12}/OR/007/OR007_1.mat: outer-race file without a load-zone position",
        f"{DE12}/XX/: unexpected folder in {DE12}/ (expected IR/, B/ or OR/)",
        f"{DE12}/B/007/119_1.mat: not a readable MATLAB .mat file",
        "--on-error skip",
    )
    assert "Traceback" not in line and rel.snapshot(cwru_raw) == before
    assert not (tmp_path / "out").exists()


def test_cwru_content_problems_are_rejections_naming_the_file(cwru_raw):
    write_mat(cwru_raw / "Normal/Normal_3.mat", 98, extra={"X099_DE_time": np.zeros((64, 1))})  # record 100
    write_mat(cwru_raw / DE12 / "IR/014/169_0.mat", 170)
    rng = np.random.default_rng(0)
    save_mat(
        cwru_raw / DE12 / "IR/021/210_1.mat",
        {"X210_DE_time": rng.normal(size=(64, 1)), "X210_FE_time": rng.normal(size=(63, 1))},
    )
    bad = rng.normal(size=(64, 1))
    bad[5] = np.nan
    save_mat(cwru_raw / DE12 / "IR/028/3001_0.mat", {"X056_DE_time": bad})  # record 3001's variable, as published
    save_mat(cwru_raw / DE12 / "IR/028/3002_1.mat", {"X3002_DE_time": bad})  # not the published name
    os.mkfifo(cwru_raw / DE12 / "B/014/B014_2.mat")  # must be named, never opened (it would block)
    result = scan(cwru.COMPONENT, cwru_raw, on_error="skip")
    reasons = {r.path: r.reason for r in result.rejected}
    has = "holds its channels as {}_DE_time ... in the Data Center's files, but this file has {}"
    assert reasons == {
        "Normal/Normal_3.mat": "record 100 " + has.format("X100", "X098, X099"),
        f"{DE12}/IR/014/169_0.mat": "record 169 " + has.format("X169", "X170"),
        f"{DE12}/IR/028/3002_1.mat": "record 3002 " + has.format("X057", "X3002"),
        f"{DE12}/IR/021/210_1.mat": "its channels differ in length (DE 64, FE 63 samples)",
        f"{DE12}/IR/028/3001_0.mat": "1 non-finite value(s) (NaN/inf), the first in DE at sample 5",
        f"{DE12}/B/014/B014_2.mat": "is a FIFO (named pipe), not a regular file",
    }
    assert len(rows_by_file(result)) == 9  # the good files are all still there


def test_cwru_names_the_record_table_does_not_hold_are_refused(cwru_raw):
    """A number the table lacks (a 48 kHz record in a 12 kHz folder would be read at the wrong rate), a label it
    has no record for, a load that is not the record's: each is a rejection naming the file."""
    write_mat(cwru_raw / DE12 / "IR/007/109_0.mat", 109)  # 48 kHz drive-end IR007 at 0 hp
    write_mat(cwru_raw / DE12 / "OR/014/@3/OR014@3_0.mat", 310)  # the drive end has no OR014 @3 record
    write_mat(cwru_raw / "12k Fan End Bearing Fault Data/OR/014/@6/313_1.mat", 313)  # 313 is the 0-hp run
    write_mat(cwru_raw / "Normal/Normal.mat", 97)
    reasons = {r.path: r.reason for r in scan(cwru.COMPONENT, cwru_raw, on_error="skip").rejected}
    assert reasons == {
        f"{DE12}/IR/007/109_0.mat": "record 109 is not in the Data Center's record table of 12 kHz fault and "
        "normal-baseline records (48 kHz drive-end records belong in "
        "48k_Drive_End_Bearing_Fault_Data/, not read)",
        f"{DE12}/OR/014/@3/OR014@3_0.mat": "the Data Center's record table has no drive-end OR 014 @3 at 0 hp record "
        "(12 kHz data)",
        "12k Fan End Bearing Fault Data/OR/014/@6/313_1.mat": (
            "record 313 is fan-end OR 014 @6 at 0 hp in the Data Center's record table "
            "(12k_Fan_End_Bearing_Fault_Data/OR/014/@6/), but its path says fan-end OR 014 @6 at 1 hp"
        ),
        "Normal/Normal.mat": "names neither a record number nor a motor load (e.g. 97_Normal_0.mat or Normal_0.mat)",
    }


def test_cwru_every_record_of_the_table_builds_in_both_layouts(tmp_path):
    """The stand-in at its largest holds every record of the table, numbered and placed as the published tree
    (3001-3008 with their X056... / X048... drive-end channel only): 105 rows in the 10 classes of ``faults`` and
    4 in ``normal``. The same files renamed to the table's labels (IR007_0.mat ...) are the same records."""
    from libtrad.builders.fault.synth import MAX_SCALE, synthesize_fault

    # no two records share end, fault, size, position, load
    assert len(cwru_records.BY_LABEL) == len(cwru.RECORDS) == 109
    raw = tmp_path / "numbered"
    synthesize_fault(raw, component="cwru", scale=MAX_SCALE, progress=False)
    numbered = rows_by_file(scan(cwru.COMPONENT, raw))
    counts = Counter(c.found.label for c in numbered.values())
    assert counts == Counter(r.label for r in cwru.RECORDS.values()) and set(counts) == {*cwru.CLASSES, "normal"}
    assert sum(n for label, n in counts.items() if label != "normal") == 105
    assert numbered[f"{DE12}/IR/028/3001_0.mat"].channels == ("DE",)
    labelled = tmp_path / "labelled"
    for rel, checked in numbered.items():
        r = checked.found.hint
        name = (
            f"Normal_{r.load}.mat"
            if r.fault is None
            else f"{r.fault}{r.diameter:03d}" + (f"@{r.position}" if r.position else "") + f"_{r.load}.mat"
        )
        (labelled / r.place).mkdir(parents=True, exist_ok=True)
        (labelled / r.place / name).write_bytes((raw / rel).read_bytes())
    again = rows_by_file(scan(cwru.COMPONENT, labelled))
    assert len(again) == len(numbered)
    assert {c.columns()["record"]: (c.found.label, c.columns(), c.sha256) for c in again.values()} == {
        c.columns()["record"]: (c.found.label, c.columns(), c.sha256) for c in numbered.values()
    }


def test_dcase_only_options_are_refused(cwru_raw, tmp_path, cli, rel):
    with pytest.raises(ParameterError) as error:
        SIREN.build(cwru_raw, tmp_path / "out", component="cwru", allow_unlabelled=True, progress=False)
    assert error.value.param == "allow_unlabelled" and "DCASE components only" in str(error.value)
    with pytest.raises(ParameterError, match="eval_list"):
        SIREN.build(cwru_raw, tmp_path / "out", component="iica", eval_list=tmp_path / "x.csv", progress=False)
    rel.assert_error_line(
        build(cli, "mafaulda", cwru_raw, tmp_path / "out", "--allow-unlabelled"),
        "--allow-unlabelled",
        "DCASE components only",
    )


def test_a_folder_of_another_dataset_is_refused_in_one_line(cli, rel, tmp_path):
    raw = tmp_path / "raw"
    write_csv(raw / "normal/12.288.csv", rows=20)
    rel.assert_error_line(
        build(cli, "cwru", raw, tmp_path / "out"), "no CWRU layout here", "12k_Drive_End_Bearing_Fault_Data/"
    )


def test_cwru_export_loads_as_float32_channels_by_samples(cwru_raw, tmp_path, fresh_python):
    out = tmp_path / "out"
    summary = SIREN.build(cwru_raw, out, component="cwru", progress=False)
    assert summary.configs["faults"]["train"]["rows"] == 7 and summary.configs["normal"]["train"]["rows"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["protocol"].startswith("leave-one-out")
    assert (out / "images/classes.png").stat().st_size > 0
    code = """
import json, sys, datasets
ds = datasets.load_dataset(sys.argv[1], "faults", split="train", cache_dir=sys.argv[2]).with_format("numpy")
row = ds[list(ds["file"]).index(sys.argv[3])]
print(json.dumps({"dtype": str(row["signals"].dtype), "shape": list(row["signals"].shape),
                  "channels": list(row["channels"]), "rate": int(row["sampling_rate"]), "file": str(row["file"]),
                  "label": ds.features["label"].names[int(row["label"])]}))
"""
    loaded = json.loads(fresh_python(code, out, tmp_path / "cache", f"{DE12}/B/014/B014_1.mat").splitlines()[-1])
    assert loaded == {
        "dtype": "float32",
        "shape": [3, 64],
        "channels": ["DE", "FE", "BA"],
        "rate": 12000,
        "file": f"{DE12}/B/014/B014_1.mat",
        "label": "DE_B",
    }


# --------------------------------------------------------------------------- MAFAULDA
@pytest.fixture
def mafaulda_raw(tmp_path) -> Path:
    root = tmp_path / "mafaulda"
    for index, rel in enumerate(
        (
            "normal/12.288.csv",
            "horizontal-misalignment/0.5mm/13.1072.csv",
            "vertical-misalignment/1.90mm/60.0.csv",
            "imbalance/35g/20.48.csv",
            "overhang/cage_fault/20g/15.1552.csv",
            "underhang/outer_race/0g/12.288.csv",
        )
    ):
        write_csv(root / rel, seed=index)
    return root


def test_mafaulda_classes_merge_severities_and_keep_them(mafaulda_raw):
    rows = rows_by_file(scan(mafaulda.COMPONENT, mafaulda_raw))
    got = {
        rel: (c.found.label, c.columns()["severity"], c.columns()["rotation_hz"], c.channels[0], c.frames)
        for rel, c in rows.items()
    }
    n = 250_000
    assert got == {
        "normal/12.288.csv": ("normal", None, 12.288, "tachometer", n),
        "horizontal-misalignment/0.5mm/13.1072.csv": ("horizontal-misalignment", "0.5mm", 13.1072, "tachometer", n),
        "vertical-misalignment/1.90mm/60.0.csv": ("vertical-misalignment", "1.90mm", 60.0, "tachometer", n),
        "imbalance/35g/20.48.csv": ("imbalance", "35g", 20.48, "tachometer", n),
        "overhang/cage_fault/20g/15.1552.csv": ("overhang-cage_fault", "20g", 15.1552, "tachometer", n),
        "underhang/outer_race/0g/12.288.csv": ("underhang-outer_race", "0g", 12.288, "tachometer", n),
    }
    signals = mafaulda.COMPONENT.layout.payload(mafaulda_raw, rows["normal/12.288.csv"])["signals"]
    table = np.loadtxt(mafaulda_raw / "normal/12.288.csv", delimiter=",", dtype=np.float32)
    assert signals.dtype == np.float32 and signals.shape == (8, n) and np.array_equal(signals, table.T)


def test_mafaulda_bad_csvs_and_strays_are_named_with_file_and_line(mafaulda_raw, cli, rel, tmp_path):
    lines = (mafaulda_raw / "normal/12.288.csv").read_text().splitlines()
    bad_cell = lines.copy()
    bad_cell[2] = ",".join(["1.0", "abc", *bad_cell[2].split(",")[2:]])
    (mafaulda_raw / "normal/13.0.csv").write_text("\n".join(bad_cell) + "\n")
    short = lines.copy()
    short[1] = ",".join(short[1].split(",")[:7])
    (mafaulda_raw / "imbalance/35g/14.0.csv").write_text("\n".join(short) + "\n")
    write_csv(mafaulda_raw / "imbalance/35g/15.0.csv", columns=7)
    (mafaulda_raw / "imbalance/35g/16.0.csv").write_text("")
    write_csv(mafaulda_raw / "imbalance/35 g/17.0.csv")
    write_csv(mafaulda_raw / "overhang/ball/0g/12.0.csv")
    write_csv(mafaulda_raw / "normal/run1.csv")
    result = scan(mafaulda.COMPONENT, mafaulda_raw, on_error="skip")
    assert {r.path: r.reason for r in result.rejected} == {
        "imbalance/35 g/": "unexpected folder in imbalance/ (expected severity folders such as 6g/)",
        "normal/run1.csv": "unexpected file in normal/ (expected HZ.csv, the rotation frequency (e.g. 12.288.csv))",
        "overhang/ball/": "unexpected folder in overhang/ (expected ball_fault/, cage_fault/ or outer_race/)",
        "imbalance/35g/14.0.csv": "line 2 has 7 column(s), expected 8 (tachometer, underhang-axial, underhang-radial, "
        "underhang-tangential, overhang-axial, overhang-radial, overhang-tangential, "
        "microphone)",
        "imbalance/35g/15.0.csv": "line 1 has 7 column(s), expected 8 (tachometer, underhang-axial, underhang-radial, "
        "underhang-tangential, overhang-axial, overhang-radial, overhang-tangential, "
        "microphone)",
        "imbalance/35g/16.0.csv": "empty file (no rows)",
        "normal/13.0.csv": "line 3 column 2: 'abc' is not a number",
    }
    rel.assert_error_line(
        build(cli, "mafaulda", mafaulda_raw, tmp_path / "out"),
        "imbalance/35g/14.0.csv: line 2 has 7 column(s), expected 8",
        "(and 2 more)",
    )


# --------------------------------------------------------------------------- IIEE
def test_iiee_subset_condition_recording_and_cut_from_the_names(tmp_path):
    raw = tmp_path / "iiee"
    names = (
        "train_cut/engine1_good/pure_0.wav",
        "train_cut/engine3_heavyload/pure_12.wav",
        "test_cut/engine2_broken/talking_3_1.wav",
        "test_cut/engine2_broken/atmo_medium_0.wav",
        "test_cut/engine1_good/whitenoise_low_2.wav",
        "test_cut/engine3_heavyload/stresstest_4.wav",
    )
    for index, name in enumerate(names):
        write_wav(raw / name, 44_100, seconds=3.0, seed=index)
    write_wav(raw / "train/engine1_good/pure.wav", 44_100)  # uncut: listed as not read
    write_wav(raw / "test_cut/engine1_good/pure_1.wav", 44_100, seconds=3.0)
    write_wav(raw / "test_cut/engine1_good/radio_0.wav", 44_100, seconds=3.0)
    write_wav(raw / "train_cut/engine2_broken/pure_0.wav", 16_000, seconds=3.0)
    write_wav(raw / "train_cut/engine4_new/pure_0.wav", 44_100, seconds=3.0)
    result = scan(iiee.COMPONENT, raw, on_error="skip")
    got = {
        rel: (c.found.label, *(c.columns()[k] for k in ("subset", "condition", "recording", "cut")))
        for rel, c in rows_by_file(result).items()
    }
    assert got == {
        names[0]: ("engine1_good", "train", "pure", "pure", 0),
        names[1]: ("engine3_heavyload", "train", "pure", "pure", 12),
        names[2]: ("engine2_broken", "test", "talking", "talking_3", 1),
        names[3]: ("engine2_broken", "test", "atmo_medium", "atmo_medium", 0),
        names[4]: ("engine1_good", "test", "whitenoise_low", "whitenoise_low", 2),
        names[5]: ("engine3_heavyload", "test", "stresstest", "stresstest", 4),
    }
    reasons = {r.path: r.reason for r in result.rejected}
    assert reasons["test_cut/engine1_good/pure_1.wav"].startswith("unknown test recording 'pure'")
    assert reasons["test_cut/engine1_good/radio_0.wav"].startswith("unknown test recording 'radio'")
    assert (
        reasons["train_cut/engine2_broken/pure_0.wav"]
        == "sample rate 16000 Hz, expected 44100 Hz (pass --resample to convert)"
    )
    assert reasons["train_cut/engine4_new/"].startswith("unexpected folder in train_cut/")
    assert len(reasons) == 4
    assert (
        "train/",
        "the uncut recordings; the 3-s cuts in train_cut/ and test_cut/ are the rows",
    ) in result.state.not_read


# --------------------------------------------------------------------------- IICA
def iica_tree(root: Path, per_class: int = 5) -> list[str]:
    names = []
    for i in range(per_class):
        background = ("lab", "hydr", "hydr_low", "work", "work_low")[i]
        session = 1 + i % 3
        names += [
            f"raw/tubeleak/{background}/{session}/{session}_niO_{i}_1m_.wav",
            f"raw/ventleak/{background}/{session}/{session}_niO_{i}_2m_.wav",
            f"raw/{('tubeleak', 'ventleak')[i % 2]}/{background}/{session}/{session}_iO_{i}_3m_.wav",
        ]
    for index, name in enumerate(names):
        write_wav(root / name, 48_000, seconds=0.01, seed=index, subtype="PCM_24")
    return names


def test_iica_labels_by_annotation_and_folder_and_folds_are_stratified_and_stable(tmp_path):
    raw = tmp_path / "iica"
    names = iica_tree(raw)
    write_wav(raw / "raw/ventlow/lab/1/1_niO_0_1m_.wav", 48_000)
    write_wav(raw / "raw/tubeleak/lab/1/1_leak_0_1m_.wav", 48_000)
    write_wav(raw / "raw/tubeleak/lab/1/1_iO_niO_0.wav", 48_000)
    write_wav(raw / "raw/tubeleak/office/1/1_iO_0_1m_.wav", 48_000)
    first = scan(iica.COMPONENT, raw, on_error="skip")
    rows = rows_by_file(first)
    assert sorted(rows) == sorted(names)
    assert rows[names[0]].found.label == "tubeleak" and rows[names[1]].found.label == "ventleak"
    assert rows[names[2]].found.label == "no_leak" and rows[names[2]].columns()["setup"] == "tubeleak"
    assert rows[names[5]].found.label == "no_leak" and rows[names[5]].columns()["setup"] == "ventleak"
    assert rows[names[4]].columns() | {"fold": None} == {
        "setup": "ventleak",
        "background": "hydr",
        "session": 2,
        "fold": None,
    }
    per_fold = Counter((c.columns()["fold"], c.found.label) for c in rows.values())
    assert per_fold == Counter({(fold, label): 1 for fold in range(5) for label in ("no_leak", "tubeleak", "ventleak")})
    again = rows_by_file(scan(iica.COMPONENT, raw, on_error="skip"))
    assert {k: c.columns()["fold"] for k, c in again.items()} == {k: c.columns()["fold"] for k, c in rows.items()}
    one_token = "its name must hold exactly one of _iO_ (no leak) and _niO_ (leak)"
    assert {r.path: r.reason for r in first.rejected} == {
        "raw/tubeleak/lab/1/1_leak_0_1m_.wav": one_token,
        "raw/tubeleak/lab/1/1_iO_niO_0.wav": one_token,
        "raw/tubeleak/office/": "unexpected folder in raw/tubeleak/ "
        "(expected hydr/, hydr_low/, lab/, work/, work_low/)",
    }
    assert ("raw/ventlow/", "low-pressure vent leaks: not one of SIREN's three classes") in first.state.not_read


def test_folds_are_sklearns_stratified_kfold_over_sorted_paths():
    from sklearn.model_selection import StratifiedKFold

    paths = [f"f{i:02d}.wav" for i in range(17)][::-1]  # given in reverse: the order must not matter
    labels = ["a", "b", "c"] * 5 + ["a", "b"]
    folds = assign_folds(paths, labels)
    order = sorted(range(17), key=lambda i: paths[i])
    expected = {}
    for fold, (_, test) in enumerate(
        StratifiedKFold(5, shuffle=True, random_state=1).split(order, [labels[i] for i in order])
    ):
        expected.update({paths[order[j]]: fold for j in test})
    assert dict(zip(paths, folds)) == expected
    with pytest.raises(LibtradError, match="at least 5 valid files of a class .found 4 a, 4 b, 4 c"):
        assign_folds(paths[:12], labels[:12])


# --------------------------------------------------------------------------- shared pieces
def test_a_file_changed_after_validation_is_refused(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, 48_000)
    found = Found(path, "a.wav", "default", "no_leak", {})
    checked = Checked(found, "0" * 64, path.stat().st_size, 48_000, ("mono",), 480)
    with pytest.raises(LibtradError, match="a.wav: changed since it was validated"):
        reread(tmp_path, checked)


def test_synth_is_deterministic_and_refuses_unknown_components(tmp_path):
    from libtrad.builders.fault.synth import synthesize_fault

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("SYNTHETIC.json", ".libtrad.json")
        }

    for component in ("cwru", "iica"):
        a = synthesize_fault(tmp_path / f"{component}-a", component=component, seed=3, progress=False)
        synthesize_fault(tmp_path / f"{component}-b", component=component, seed=3, progress=False)
        assert files(tmp_path / f"{component}-a") == files(tmp_path / f"{component}-b")
        assert a.files == len(files(tmp_path / f"{component}-a"))
    with pytest.raises(ParameterError, match="component"):
        synthesize_fault(tmp_path / "x", component="dcase2020", progress=False)


# --------------------------------------------------------------------------- rules over the whole set
def skipped_build(cli, component: str, raw: Path, out: Path) -> dict:
    """Build with --on-error skip; the manifest."""
    result = build(cli, component, raw, out, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    return json.loads((out / "manifest.json").read_text())


def test_mafaulda_csv_cut_short_is_refused_with_its_length(mafaulda_raw, cli, rel, tmp_path):
    """Every per-line check passes on a CSV cut to 500 rows: its length gives it away."""
    write_csv(mafaulda_raw / "normal/14.0.csv", rows=500, seed=9)
    before = rel.snapshot(mafaulda_raw)
    rel.assert_error_line(
        build(cli, "mafaulda", mafaulda_raw, tmp_path / "out"),
        "normal/14.0.csv: 500 rows (0.01 s), expected 250,000 rows (5 s at 50 kHz, every MAFAULDA record)",
        "--on-error skip",
    )
    assert rel.snapshot(mafaulda_raw) == before and not (tmp_path / "out").exists()
    result = scan(mafaulda.COMPONENT, mafaulda_raw, on_error="skip")  # the export of --on-error skip: IIEE's test
    assert [r.path for r in result.rejected] == ["normal/14.0.csv"]
    assert [s["path"] for s in result.sources if s["path"].startswith("normal/")] == ["normal/12.288.csv"]
    checks = mafaulda.COMPONENT.manifest_extra({"on_error": "skip"})["validation"]["checks"]
    assert "250,000 rows" in checks and "same bytes" in checks


def test_a_synthetic_stand_in_is_held_to_its_own_length(tmp_path, cli, rel):
    """libtrad's MAFAULDA stand-in is 0.2 s per CSV (SYNTHETIC.json says so); a cut one is still refused."""
    from libtrad.builders.fault.synth import synthesize_fault

    raw = tmp_path / "synth"
    synthesize_fault(raw, component="mafaulda", scale=0.1, seed=1, progress=False)
    assert mafaulda.SYNTHETIC_ROWS == 10_000
    [victim] = sorted(raw.glob("normal/*.csv"))
    victim.write_text("".join(victim.read_text().splitlines(keepends=True)[:500]))
    rel.assert_error_line(
        build(cli, "mafaulda", raw, tmp_path / "out"),
        f"normal/{victim.name}: 500 rows (0.01 s), expected 10,000 rows (0.2 s at 50 kHz, every "
        "file of libtrad's synthetic stand-in",
    )


def test_iiee_short_cut_among_3_s_cuts_is_refused(tmp_path, cli, rel):
    raw = tmp_path / "iiee"
    for index, name in enumerate(
        (
            "train_cut/engine1_good/pure_0.wav",
            "train_cut/engine2_broken/pure_0.wav",
            "test_cut/engine1_good/talking_1_0.wav",
        )
    ):
        write_wav(raw / name, 44_100, seconds=3.0, seed=index)
    write_wav(raw / "train_cut/engine1_good/pure_1.wav", 44_100, seconds=0.2, seed=7)
    before = rel.snapshot(raw)
    rel.assert_error_line(
        build(cli, "iiee", raw, tmp_path / "out"),
        "train_cut/engine1_good/pure_1.wav: 8,820 samples (0.2 s), expected 132,300 samples (3 s at "
        "44.1 kHz, every IIEE cut)",
    )
    assert rel.snapshot(raw) == before
    manifest = skipped_build(cli, "iiee", raw, tmp_path / "skip")
    assert [r["path"] for r in manifest["rejected"]] == ["train_cut/engine1_good/pure_1.wav"]


def test_the_same_cwru_record_twice_is_refused_naming_both(cwru_raw, cli, rel, tmp_path):
    """One record under its number and under its label (or any two names): one row would count twice. (A copy in
    another class's folder is refused by the record table itself: test_fault_real.py.)"""
    first = f"{DE12}/IR/007/105_0.mat"
    copy = f"{DE12}/IR/007/IR007_0.mat"  # the record table's label of record 105
    (cwru_raw / copy).write_bytes((cwru_raw / first).read_bytes())
    before = rel.snapshot(cwru_raw)
    line = rel.assert_error_line(
        build(cli, "cwru", cwru_raw, tmp_path / "out"),
        f"{first}: is record 105 (drive-end IR 007 at 0 hp), as {copy} is: one record would count twice; keep one file",
        f"{copy}: is record 105",
    )
    assert rel.snapshot(cwru_raw) == before and not (tmp_path / "out").exists()
    assert line.count(first) == 2 and line.count(copy) == 2
    manifest = skipped_build(cli, "cwru", cwru_raw, tmp_path / "skip")
    assert sorted(r["path"] for r in manifest["rejected"]) == sorted([first, copy])
    assert first not in json.dumps(manifest["sources"]) and copy not in json.dumps(manifest["sources"])


@pytest.mark.parametrize("corpus", ["mafaulda", "iiee", "iica"])
def test_duplicates_are_refused_in_every_fault_corpus(corpus, tmp_path, mafaulda_raw):
    """One shared rule (common.check_set): a copy under the same label counts twice, so it is refused too."""
    if corpus == "mafaulda":
        raw, first, copy = mafaulda_raw, "normal/12.288.csv", "imbalance/35g/12.288.csv"
    elif corpus == "iiee":
        raw, first, copy = tmp_path / "iiee", "train_cut/engine1_good/pure_0.wav", "train_cut/engine1_good/pure_1.wav"
        write_wav(raw / first, 44_100, seconds=3.0)
        write_wav(raw / "train_cut/engine2_broken/pure_0.wav", 44_100, seconds=3.0, seed=1)
    else:
        raw = tmp_path / "iica"
        names = iica_tree(raw)
        first, copy = names[0], "raw/tubeleak/lab/1/1_niO_99_1m_.wav"
    (raw / copy).parent.mkdir(parents=True, exist_ok=True)
    (raw / copy).write_bytes((raw / first).read_bytes())
    component = {"mafaulda": mafaulda, "iiee": iiee, "iica": iica}[corpus].COMPONENT
    with pytest.raises(LibtradError) as error:
        scan(component, raw)
    assert f"{first}: the same bytes" in str(error.value) and f"as {copy}" in str(error.value)
    result = scan(component, raw, on_error="skip")
    reasons = {r.path: r.reason for r in result.rejected}
    assert set(reasons) == {first, copy}
    if corpus == "mafaulda":
        assert reasons[first].endswith("under 2 labels (imbalance, normal); keep one copy")
    else:
        assert reasons[first].endswith("so one recording would count twice; keep one copy")
    assert first not in rows_by_file(result) and copy not in rows_by_file(result)
