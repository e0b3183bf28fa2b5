"""Paderborn, XJTU-SY, MFPT, SEU and JNU: columns from the publishers' names and tables, and bad input.

Raw trees are the corpora's own synthetic stand-ins (tiny: 0.04-0.1 s per file) with broken files
written beside them; every broken file must give one rejection naming it and the problem (one
``error:`` line from the CLI, or a ``rejected`` entry of the manifest with ``--on-error skip``),
never a traceback. The synth -> export -> fresh-process load contract runs in
test_dataset_contract.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from libtrad.builders.fault import jnu, mfpt, paderborn, seu, xjtu_sy
from libtrad.builders.fault.synth import synthesize_fault

MFPT3 = "MFPT Fault Data Sets/3 - Seven More Outer Race Fault Conditions"


def scan(component, raw: Path, on_error: str = "skip"):
    return component.scan(raw, component.default_configs(raw), {}, on_error=on_error, progress=False)


def rows(result) -> dict:
    return {c.found.rel: c for config in result.state.rows.values() for c in config}


def build(cli, component: str, raw: Path, out: Path, *extra):
    return cli("build", "siren", "--component", component, "--data-dir", raw, "--output", out, *extra)


@pytest.fixture
def stand_in(tmp_path):
    def make(component: str, scale: float = 1.0) -> Path:
        raw = tmp_path / component
        synthesize_fault(raw, component=component, scale=scale, progress=False)
        return raw

    return make


def mat_bytes(content: dict) -> bytes:
    buffer = io.BytesIO()
    savemat(buffer, content, format="5")
    return buffer.getvalue()


# --------------------------------------------------------------------------- columns from names and tables
def test_columns_come_from_the_publishers_names_and_tables(stand_in):
    pb = rows(scan(paderborn.COMPONENT, stand_in("paderborn")))
    row = pb["KA04/N15_M07_F10_KA04_1.mat"]
    assert row.found.label == "outer_ring" and row.channels == ("vibration_1",) and row.sample_rate == 64_000
    assert {k: row.columns()[k] for k in ("damage_method", "damage_extent", "rpm", "torque_nm", "radial_force_n")} == {
        "damage_method": "accelerated lifetime test",
        "damage_extent": 1,
        "rpm": 1500,
        "torque_nm": 0.7,
        "radial_force_n": 1000,
    }
    assert pb["KB23/N15_M07_F10_KB23_1.mat"].found.label == "inner_outer_ring"

    xj = rows(scan(xjtu_sy.COMPONENT, stand_in("xjtu-sy")))
    assert len(xj) == 30  # 15 bearings, the first and the last record of each
    last, first = xj["35Hz12kN/Bearing1_5/52.csv"], xj["35Hz12kN/Bearing1_5/1.csv"]
    assert last.found.label == "inner_race+outer_race" and last.columns()["time_to_failure_min"] == 0
    assert first.columns()["time_to_failure_min"] == 51 and first.columns()["lifetime_min"] == 52
    assert xj["40Hz10kN/Bearing3_2/2496.csv"].columns()["rpm"] == 2400
    assert last.channels == ("horizontal", "vertical") and last.frames == xjtu_sy.SYNTHETIC_ROWS

    mf = rows(scan(mfpt.COMPONENT, stand_in("mfpt", 0.1)))
    assert len(mf) == 20
    vload = mf[f"{MFPT3}/OuterRaceFault_vload_1.mat"]
    assert (vload.found.label, vload.sample_rate, vload.columns()["load_lbs"]) == ("outer_race", 48_828, 25.0)
    assert mf["MFPT Fault Data Sets/1 - Three Baseline Conditions/baseline_2.mat"].sample_rate == 97_656

    se = scan(seu.COMPONENT, stand_in("seu", 0.1))
    ball = rows(se)["bearingset/ball_20_0.csv"]  # comma-separated, the others tab-separated
    assert ball.channels == seu.CHANNELS and ball.frames == 200 and ball.columns()["sampling_rate_published"] is False
    assert {c.found.label for c in se.state.rows["gear"]} == set(seu.LAYOUT.configs["gear"])

    jn = rows(scan(jnu.COMPONENT, stand_in("jnu", 0.1)))
    assert (jn["n800_3_2.csv"].found.label, jn["tb1000_2.csv"].columns()["rpm"]) == ("normal", 1000)


# --------------------------------------------------------------------------- bad input: one line, or skip and list
def test_paderborn_bad_mat_files_are_named_one_line_or_skipped(stand_in, cli, rel, tmp_path):
    raw = stand_in("paderborn")
    good = (raw / "K001/N15_M07_F10_K001_1.mat").read_bytes()
    (raw / "K001/N09_M07_F10_K001_1.mat").write_bytes(good[: len(good) // 2])  # truncated
    (raw / "K002/N09_M07_F10_K002_1.mat").write_bytes(mat_bytes({"something_else": np.zeros(3)}))
    (raw / "KA01/N09_M07_F10_KA01_1.mat").write_bytes(b"\x00" * 512 + b"\x89HDF\r\n\x1a\n" + bytes(64))
    (raw / "KX99").mkdir()  # not a bearing code of the publisher's tables
    (raw / "KI01/N15_M07_F10_KI04_1.mat").write_bytes(good)  # another bearing's name in KI01/
    before = rel.snapshot(raw)
    line = rel.assert_error_line(
        build(cli, "paderborn", raw, tmp_path / "out"),
        "K001/N09_M07_F10_K001_1.mat: not a readable MATLAB .mat file",
        "K002/N09_M07_F10_K002_1.mat: no variable N09_M07_F10_K002_1 (the struct named after the file) in it; it "
        "holds something_else",
        "KA01/N09_M07_F10_KA01_1.mat: is a MATLAB v7.3 (HDF5) file; Paderborn publishes MATLAB v5 files",
        "KX99/: unexpected folder at the top of the data folder",
        "KI01/N15_M07_F10_KI04_1.mat: its name says bearing KI04 but it lies in KI01/",
        "--on-error skip",
    )
    assert "Traceback" not in line and rel.snapshot(raw) == before and not (tmp_path / "out").exists()
    result = build(cli, "paderborn", raw, tmp_path / "skip", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "skip/manifest.json").read_text())
    assert len(manifest["rejected"]) == 5 and manifest["configs"]["default"]["train"]["rows"] == 8


def test_paderborn_struct_without_vibration_is_named(stand_in):
    raw = stand_in("paderborn")
    entries = np.zeros((1, 1), dtype=[("Name", "O"), ("Data", "O")])
    entries[0, 0] = ("force", np.ones((1, 8)))
    (raw / "K001/N15_M01_F10_K001_2.mat").write_bytes(mat_bytes({"N15_M01_F10_K001_2": {"Y": entries}}))
    reasons = {r.path: r.reason for r in scan(paderborn.COMPONENT, raw).rejected}
    assert reasons == {"K001/N15_M01_F10_K001_2.mat": "N15_M01_F10_K001_2.Y has no vibration_1 signal (it has force)"}


def test_paderborn_two_signals_of_one_name_are_named_not_one_dropped(stand_in):
    raw = stand_in("paderborn")
    entries = np.zeros((1, 2), dtype=[("Name", "O"), ("Data", "O")])
    entries[0, 0] = ("vibration_1", np.ones((1, 8)))
    entries[0, 1] = ("vibration_1", np.zeros((1, 8)))
    (raw / "K001/N15_M01_F10_K001_2.mat").write_bytes(mat_bytes({"N15_M01_F10_K001_2": {"Y": entries}}))
    reasons = {r.path: r.reason for r in scan(paderborn.COMPONENT, raw).rejected}
    assert reasons == {"K001/N15_M01_F10_K001_2.mat": "N15_M01_F10_K001_2.Y holds two signals named 'vibration_1'"}


def test_mfpt_wrong_rate_and_missing_variable(stand_in, cli, rel, tmp_path):
    raw = stand_in("mfpt", 0.1)
    victim = raw / MFPT3 / "OuterRaceFault_vload_2.mat"
    victim.write_bytes(mat_bytes({"bearing": {"sr": 50_000.0, "gs": np.ones((64, 1)), "load": 50.0, "rate": 25.0}}))
    (raw / MFPT3 / "OuterRaceFault_vload_3.mat").write_bytes(mat_bytes({"data": np.ones(8)}))
    (raw / MFPT3 / "OuterRaceFault_vload_8.mat").write_bytes(victim.read_bytes())  # the publisher has 7
    rel.assert_error_line(
        build(cli, "mfpt", raw, tmp_path / "out"),
        f"{MFPT3}/OuterRaceFault_vload_2.mat: sampling rate bearing.sr = 50000 sps, expected 48,828 (the rate MFPT "
        "publishes for 3 - Seven More Outer Race Fault Conditions/)",
        f"{MFPT3}/OuterRaceFault_vload_3.mat: no variable 'bearing' in it (it holds data)",
        f"{MFPT3}/OuterRaceFault_vload_8.mat: file number 8 is not one of 1-7",
    )


def test_xjtu_sy_records_beyond_the_lifetime_bad_header_and_short_records(stand_in, cli, rel, tmp_path):
    raw = stand_in("xjtu-sy")
    folder = raw / "35Hz12kN/Bearing1_1"
    good = (folder / "1.csv").read_text()
    (folder / "124.csv").write_text(good)  # Bearing1_1 has 123 records
    (folder / "2.csv").write_text(good.split("\n", 1)[1])  # header line missing
    (folder / "3.csv").write_text("\n".join(good.splitlines()[:500]) + "\n")  # cut short
    (raw / "35Hz12kN/Bearing2_1").mkdir()  # condition 2's bearing under condition 1
    result = scan(xjtu_sy.COMPONENT, raw)
    reasons = {r.path: r.reason for r in result.rejected}
    assert reasons["35Hz12kN/Bearing1_1/124.csv"] == (
        "record 124 is beyond Bearing1_1's 123 published records (its lifetime, 123 min)"
    )
    assert (
        reasons["35Hz12kN/Bearing1_1/2.csv"].startswith("first line '-")
        and "is not the header" in reasons["35Hz12kN/Bearing1_1/2.csv"]
    )
    assert reasons["35Hz12kN/Bearing1_1/3.csv"].startswith("499 rows (0.0195 s), expected 1,024 rows")
    assert reasons["35Hz12kN/Bearing2_1/"].startswith("Bearing2_1 belongs to another operating condition")
    assert len(rows(result)) == 30
    rel.assert_error_line(build(cli, "xjtu-sy", raw, tmp_path / "out"), "35Hz12kN/Bearing1_1/124.csv: record 124")


def test_seu_and_jnu_unknown_classes_and_bad_lines(stand_in, cli, rel, tmp_path):
    raw = stand_in("seu", 0.1)
    good = (raw / "gearset/Miss_20_0.csv").read_text().splitlines()
    (raw / "gearset/Crack_20_0.csv").write_text("\n".join(good) + "\n")
    (raw / "bearingset/inner_25_1.csv").write_text("\n".join(good) + "\n")
    broken = good[:20] + ["0.1\t0.2\t0.3\t"] + good[21:]
    (raw / "gearset/Root_30_2.csv").write_text("\n".join(broken) + "\n")
    reasons = {r.path: r.reason for r in scan(seu.COMPONENT, raw).rejected}
    assert reasons == {
        "gearset/Crack_20_0.csv": (
            "unknown condition 'Crack' in gearset/ (expected Health, Chipped, Miss, Root, Surface)"
        ),
        "bearingset/inner_25_1.csv": "working condition 25_1 is not one of 20_0 (20 Hz, 0 V) or 30_2 (30 Hz, 2 V)",
        "gearset/Root_30_2.csv": "line 21 has 3 value(s), expected 8 (motor, planetary-x, planetary-y, planetary-z, "
        "motor-torque, parallel-x, parallel-y, parallel-z)",
    }

    raw = stand_in("jnu", 0.1)
    (raw / "xb600_2.csv").write_text("0.1\n")
    (raw / "ib700_2.csv").write_text("0.1\n")
    (raw / "ob600_2.csv").write_text("0.1\n0.2,0.3\n")
    (raw / "readme.txt").write_text("downloaded from GitHub\n")
    line = rel.assert_error_line(
        build(cli, "jnu", raw, tmp_path / "out"),
        "xb600_2.csv: unknown condition prefix 'xb'",
        "ib700_2.csv: speed 700 r/min is not one of 600, 800, 1000",
        "ob600_2.csv: line 2 has 2 values, expected 1",
    )
    assert "readme.txt" not in line
    result = scan(jnu.COMPONENT, raw)
    assert dict(result.state.not_read) == {"readme.txt": "documentation"} and len(rows(result)) == 11


@pytest.mark.parametrize("header_lines", [15, 10, 0])
def test_seu_a_file_with_fewer_header_lines_is_refused_not_read_with_rows_dropped(header_lines, stand_in):
    """The 16 lines SEU's reader skips are checked to be a header: with fewer, the first data rows would
    have been read past (built, nothing rejected)."""
    raw = stand_in("seu", 0.1)
    good = (raw / "gearset/Miss_20_0.csv").read_text().splitlines()
    (raw / "gearset/Miss_20_0.csv").write_text("\n".join(good[16 - header_lines :]) + "\n")
    result = scan(seu.COMPONENT, raw)
    reasons = {r.path: r.reason for r in result.rejected}
    assert reasons == {
        "gearset/Miss_20_0.csv": f"line {header_lines + 1} is a row of 8 numbers, but SEU's files hold 16 header "
        f"lines before the data (this one has {header_lines}); reading it would drop its first data rows"
    }
    assert "gearset/Miss_20_0.csv" not in rows(result)


def test_another_folder_is_no_jnu_or_mfpt_layout(cli, rel, tmp_path):
    raw = tmp_path / "raw"
    (raw / "normal").mkdir(parents=True)
    (raw / "normal/12.288.csv").write_text("1,2\n")
    rel.assert_error_line(build(cli, "jnu", raw, tmp_path / "out"), "no JNU layout here")
    rel.assert_error_line(build(cli, "mfpt", raw, tmp_path / "out"), "no MFPT layout here", "MFPT Fault Data Sets/")


# --------------------------------------------------------------------------- siren-fault reads the exports
def test_siren_fault_plans_loocv_over_every_exported_row(stand_in, tmp_path):
    """The suite's protocol follows the columns: no ``fold``/``subset`` column, so LOOCV over all rows."""
    import pyarrow.parquet as pq

    from libtrad.builders.registry import SIREN
    from libtrad.ray_jobs.evaluation.suites import siren_fault

    raw = stand_in("jnu", 0.1)
    SIREN.build(raw, tmp_path / "out", component="jnu", progress=False)
    [shard] = sorted((tmp_path / "out").rglob("*.parquet"))
    df = pq.read_table(shard, columns=["file", "label", "rpm"]).to_pandas()
    units = siren_fault.SUITE.plan(df, siren_fault.FaultOptions())
    assert all(u.key.startswith("loocv/") and u.leave_one_out for u in units)
    assert sorted(np.concatenate([u.queries for u in units]).tolist()) == list(range(12))
