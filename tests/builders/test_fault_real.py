"""The publishers' own files: real CWRU and MFPT records from ``../shared/real`` build as published.

``../shared/real`` (beside the checkout; its README gives provenance and terms) holds 7 genuine CWRU
Bearing Data Center records in the numbered ``CWRU-dataset`` tree — among them the 0.028-in records
3001 and 3005, which hold ``X056_DE_time`` and ``X048_DE_time`` only, the fan-end record 278 with its
stray variable ``i``, and the 48-kHz normal record 97 — and 2 MFPT variable-load records. They are
read in place (never copied into the repository); the trees a test rearranges are copies in a
temporary folder. Every test skips, saying so, where the folder is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat

from libtrad.builders.fault import cwru, mfpt
from libtrad.builders.registry import DATASETS

SIREN = DATASETS["siren"]
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real"
DE12, FE12 = "12k_Drive_End_Bearing_Fault_Data", "12k_Fan_End_Bearing_Fault_Data"
# The real records: numbered path -> (its label-named path, record, class, channels, samples, the file's RPM value).
CWRU_REAL = {
    f"{DE12}/B/007/118_0.mat": (f"{DE12}/B/007/B007_0.mat", 118, "DE_B", ("DE", "FE", "BA"), 122_571, 1796.0),
    f"{DE12}/B/028/3005_0.mat": (f"{DE12}/B/028/B028_0.mat", 3005, "DE_B", ("DE",), 120_801, None),
    f"{DE12}/IR/007/105_0.mat": (f"{DE12}/IR/007/IR007_0.mat", 105, "DE_IR", ("DE", "FE", "BA"), 121_265, 1797.0),
    f"{DE12}/IR/028/3001_0.mat": (f"{DE12}/IR/028/IR028_0.mat", 3001, "DE_IR", ("DE",), 120_801, None),
    f"{DE12}/OR/007/@6/130_0.mat": (
        f"{DE12}/OR/007/@6/OR007@6_0.mat",
        130,
        "DE_OR@6",
        ("DE", "FE", "BA"),
        121_991,
        1796.0,
    ),
    f"{FE12}/IR/007/278_0.mat": (f"{FE12}/IR/007/IR007_0.mat", 278, "FE_IR", ("DE", "FE", "BA"), 121_535, 1796.0),
    "Normal/97_Normal_0.mat": ("Normal/Normal_0.mat", 97, "normal", ("DE", "FE"), 243_938, 1796.0),
}
MFPT_DIR = "MFPT Fault Data Sets"
OUTER = f"{MFPT_DIR}/3 - Seven More Outer Race Fault Conditions"


@pytest.fixture(scope="module")
def real_cwru() -> Path:
    path = REAL / "cwru"
    if not all((path / rel).is_file() for rel in CWRU_REAL):
        pytest.skip(f"the real CWRU records are not at {path} (../shared/real beside the checkout)")
    return path


@pytest.fixture(scope="module")
def real_mfpt() -> Path:
    path = REAL / "mfpt"
    if not (path / MFPT_DIR).is_dir():
        pytest.skip(f"the real MFPT records are not at {path} (../shared/real beside the checkout)")
    return path


def scan(component, raw: Path, on_error: str = "raise"):
    return component.scan(raw, component.default_configs(raw), {}, on_error=on_error, progress=False)


def rows_by_file(result) -> dict:
    return {c.found.rel: c for rows in result.state.rows.values() for c in rows}


def copy_tree(source: Path, target: Path, names: dict[str, str]) -> Path:
    """A copy of ``source``'s files at other paths (source rel -> target rel), bytes unchanged."""
    for rel, new in names.items():
        (target / new).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target / new)
    return target


def read_shard_rows(out: Path, config: str) -> list[dict]:
    """The exported rows of ``config``, ``signals`` as ``n_samples`` (the first channel's length) and
    ``first_channel`` (float32 ndarray): Python lists of a few million samples would only slow the test down."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = []
    for shard in sorted((out / "data" / config).rglob("*.parquet")):
        table = pq.read_table(shard)
        signals = table.column("signals")
        lengths = pc.list_value_length(pc.list_element(signals, 0)).to_pylist()
        for index, row in enumerate(table.drop_columns(["signals"]).to_pylist()):
            row["n_samples"] = lengths[index]
            row["first_channel"] = signals[index][0].values.to_numpy(zero_copy_only=False)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- CWRU
def test_the_real_cwru_records_build_in_their_numbered_tree(real_cwru, tmp_path):
    """As the Data Center ships them: 3001/3005 with their X056/X048 variables, 278 with its stray ``i``."""
    out = tmp_path / "out"
    summary = SIREN.build(real_cwru, out, component="cwru", progress=False)
    assert summary.configs["faults"]["train"]["rows"] == 6 and summary.configs["normal"]["train"]["rows"] == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rejected"] == [] and len(manifest["sources"]) == 7
    names = list(cwru.CLASSES)
    for config in ("faults", "normal"):
        for row in read_shard_rows(out, config):
            _, record, label, channels, samples, rpm = CWRU_REAL[row["file"]]
            table = cwru.RECORDS[record]
            got_label = names[row["label"]] if config == "faults" else "normal"
            assert (row["record"], got_label, tuple(row["channels"]), row["n_samples"], row["rpm"]) == (
                record,
                label,
                channels,
                samples,
                rpm,
            ), row["file"]
            assert (row["bearing"], row["fault"], row["fault_diameter_mils"], row["load_hp"]) == (
                table.end,
                table.fault,
                table.diameter,
                table.load,
            )
            assert row["sampling_rate"] == (48_000 if config == "normal" else 12_000)
            if record == 3001:  # the row holds the published variable, not a made-up X3001
                published = loadmat(real_cwru / row["file"])["X056_DE_time"].reshape(-1).astype(np.float32)
                assert np.array_equal(row["first_channel"], published)
    assert read_shard_rows(out, "faults")[0]["position"] is None
    assert {r["file"]: r["position"] for r in read_shard_rows(out, "faults")}[f"{DE12}/OR/007/@6/130_0.mat"] == "@6"


def test_a_label_named_tree_of_the_same_bytes_builds_the_same_rows(real_cwru, tmp_path):
    labelled = copy_tree(real_cwru, tmp_path / "labelled", {rel: row[0] for rel, row in CWRU_REAL.items()})
    numbered_rows = rows_by_file(scan(cwru.COMPONENT, real_cwru))
    labelled_rows = rows_by_file(scan(cwru.COMPONENT, labelled))
    assert set(numbered_rows) == set(CWRU_REAL) and set(labelled_rows) == {row[0] for row in CWRU_REAL.values()}
    for rel, (new, *_) in CWRU_REAL.items():
        a, b = numbered_rows[rel], labelled_rows[new]
        assert (a.found.label, a.columns(), a.channels, a.frames, a.sample_rate, a.sha256) == (
            b.found.label,
            b.columns(),
            b.channels,
            b.frames,
            b.sample_rate,
            b.sha256,
        ), rel
        row_a = cwru.LAYOUT.example(real_cwru, a)
        row_b = cwru.LAYOUT.example(labelled, b)
        assert row_a.pop("file") == rel and row_b.pop("file") == new
        assert np.array_equal(row_a.pop("signals"), row_b.pop("signals")) and row_a == row_b


def test_a_real_record_in_a_contradicting_folder_is_refused_by_name(real_cwru, tmp_path, cli, rel):
    """Record 105 (drive-end inner race, 7 mils, 0 hp) under B/007/, 3001 named for 2 hp, 278 (fan end) among
    the drive-end faults, 105's bytes named as record 106: each refused naming the file and what the table says."""
    raw = copy_tree(
        real_cwru,
        tmp_path / "raw",
        {
            f"{DE12}/B/007/118_0.mat": f"{DE12}/B/007/118_0.mat",  # in its place: builds
            f"{DE12}/IR/007/105_0.mat": f"{DE12}/B/007/105_0.mat",
            f"{DE12}/IR/028/3001_0.mat": f"{DE12}/IR/028/3001_2.mat",
            f"{FE12}/IR/007/278_0.mat": f"{DE12}/IR/007/278_0.mat",
        },
    )
    shutil.copyfile(real_cwru / DE12 / "IR/007/105_0.mat", raw / DE12 / "IR/007/IR007_1.mat")
    before = rel.snapshot(raw)
    result = cli("build", "siren", "--component", "cwru", "--data-dir", raw, "--output", tmp_path / "out")
    rel.assert_error_line(
        result,
        f"{DE12}/B/007/105_0.mat: record 105 is drive-end IR 007 at 0 hp in the Data "
        f"Center's record table ({DE12}/IR/007/), but its path says drive-end B 007",
        "--on-error skip",
    )
    assert rel.snapshot(raw) == before and not (tmp_path / "out").exists()
    reasons = {r.path: r.reason for r in scan(cwru.COMPONENT, raw, on_error="skip").rejected}
    assert reasons == {
        f"{DE12}/B/007/105_0.mat": f"record 105 is drive-end IR 007 at 0 hp in the Data Center's record table "
        f"({DE12}/IR/007/), but its path says drive-end B 007 at 0 hp",
        f"{DE12}/IR/028/3001_2.mat": f"record 3001 is drive-end IR 028 at 0 hp in the Data Center's record table "
        f"({DE12}/IR/028/), but its path says drive-end IR 028 at 2 hp",
        f"{DE12}/IR/007/278_0.mat": f"record 278 is fan-end IR 007 at 0 hp in the Data Center's record table "
        f"({FE12}/IR/007/), but its path says drive-end IR 007 at 0 hp",
        f"{DE12}/IR/007/IR007_1.mat": "record 106 holds its channels as X106_DE_time ... in the Data Center's "
        "files, but this file has X105",
    }
    result = cli(
        "build", "siren", "--component", "cwru", "--data-dir", raw, "--output", tmp_path / "skip", "--on-error", "skip"
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "skip/manifest.json").read_text())
    assert [s["path"] for s in manifest["sources"]] == [f"{DE12}/B/007/118_0.mat"]
    assert {r["path"] for r in manifest["rejected"]} == set(reasons)


# --------------------------------------------------------------------------- MFPT
def test_the_real_mfpt_records_build(real_mfpt, tmp_path):
    """The published variable-load files: 48,828 sps, 3 s, and their load held as text ('25', '0')."""
    out = tmp_path / "out"
    summary = SIREN.build(real_mfpt, out, component="mfpt", progress=False)
    assert summary.configs["default"]["train"]["rows"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rejected"] == []
    got = {
        row["file"]: (
            mfpt.CLASSES[row["label"]],
            row["sampling_rate"],
            row["n_samples"],
            row["load_lbs"],
            row["shaft_hz"],
            row["set"],
            tuple(row["channels"]),
        )
        for row in read_shard_rows(out, "default")
    }
    assert got == {
        f"{MFPT_DIR}/3 - Seven More Outer Race Fault Conditions/OuterRaceFault_vload_1.mat": (
            "outer_race",
            48_828,
            146_484,
            25.0,
            25.0,
            3,
            ("accelerometer",),
        ),
        f"{MFPT_DIR}/4 - Seven Inner Race Fault Conditions/InnerRaceFault_vload_1.mat": (
            "inner_race",
            48_828,
            146_484,
            0.0,
            25.0,
            4,
            ("accelerometer",),
        ),
    }


def test_a_real_mfpt_file_in_another_folder_is_refused_by_name(real_mfpt, tmp_path):
    inner = f"{MFPT_DIR}/4 - Seven Inner Race Fault Conditions/InnerRaceFault_vload_1.mat"
    raw = copy_tree(
        real_mfpt,
        tmp_path / "raw",
        {
            inner: f"{MFPT_DIR}/3 - Seven More Outer Race Fault Conditions/InnerRaceFault_vload_1.mat",
            f"{OUTER}/OuterRaceFault_vload_1.mat": f"{OUTER}/OuterRaceFault_vload_2.mat",
        },
    )
    reasons = {r.path: r.reason for r in scan(mfpt.COMPONENT, raw, on_error="skip").rejected}
    assert reasons == {
        f"{OUTER}/InnerRaceFault_vload_1.mat": (
            "MFPT's table puts InnerRaceFault_vload_N.mat files (inner_race) in 4 - Seven Inner Race Fault "
            "Conditions/, not in 3 - Seven More Outer Race Fault Conditions/"
        ),
        f"{OUTER}/OuterRaceFault_vload_2.mat": (
            "bearing.load = 25 lbs, but MFPT's description gives OuterRaceFault_vload_2.mat 50 lbs"
        ),
    }


def test_the_real_mfpt_records_load_embed_and_evaluate_with_default_options(real_mfpt, tmp_path, cli):
    """The whole path on the publisher's files: build, ``load_dataset`` (the accelerometer kept as
    published), ``embed`` with no option but the encoder, ``evaluate siren-fault`` — its k lowered to 1, the
    only neighbour two records can give each other (the default k = 5 needs six rows)."""
    import datasets

    built = cli("build", "siren", "--component", "mfpt", "--data-dir", real_mfpt, "--output", tmp_path / "mfpt")
    assert built.exit_code == 0, built.output
    loaded = datasets.load_dataset(
        str(tmp_path / "mfpt"), "default", split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert loaded.num_rows == 2 and {len(r["signals"][0]) for r in loaded} == {146_484}
    embedded = cli("embed", "--dataset", tmp_path / "mfpt", "--encoder", "logmel-stats", "--output", tmp_path / "emb")
    assert embedded.exit_code == 0, embedded.output
    info = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert info["channels"]["selection"] == "all" and info["channels"]["rows_per_set"] == {"accelerometer": 2}
    assert info["dataset"]["component"] == "mfpt"
    evaluated = cli(
        "evaluate",
        "siren-fault",
        "--embeddings",
        tmp_path / "emb",
        "--output",
        tmp_path / "results",
        "--local",
        "--k",
        "1",
    )
    assert evaluated.exit_code == 0, evaluated.output
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["protocol"] == "loocv" and len(results["predictions"]) == 2
