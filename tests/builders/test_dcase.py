"""DCASE Task 2 (2020–2025; 2026 in test_dcase_2026.py): ground-truth lists, name/layout parsing, options.

Tiny raw trees in every official naming scheme are written by the tests themselves (0.05-s WAVs);
parsing is checked through the component's scan (no Parquet), the error paths through the CLI.
The contract (synth -> build -> fresh-process load -> rebuild) runs in test_dataset_contract.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from libtrad.builders.dcase import components as dc
from libtrad.builders.dcase.eval_lists import TOTALS, load_file, load_packaged, packaged_bytes, packaged_path
from libtrad.builders.dcase.layout import check_clip, parse_attributes
from libtrad.builders.dcase.years import SPECS
from libtrad.core.errors import LibtradError, ParameterError

LIST = "eval_data_list_{}_converted.csv"
PUBLISHED = tuple(TOTALS)  # the years whose ground truth libtrad ships (DCASE 2026: none yet)


# ----------------------------------------------------------------------------- helpers
def wav(path: Path, sample_rate: int = 16_000, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(path.name)).normal(0, 0.1, (800, channels)).astype(np.float32)
    sf.write(path, noise, sample_rate, subtype="PCM_16")


def tree(root: Path, files: list[str], lists: dict[str, str] | None = None) -> Path:
    for rel in files:
        wav(root / rel)
    for rel, text in (lists or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def scan_rows(root: Path, year: int, on_error: str = "raise", **options) -> dict[str, dict[tuple, dict]]:
    """{split: {(set, machine, file): row without audio}} through the component's own scan."""
    component = dc.COMPONENTS[f"dcase{year}"]
    opts = component.check_options(options)
    scan = component.scan(root.resolve(), [component.name], opts, on_error=on_error, progress=False)
    out = {}
    for split, clips in scan.state.splits.items():
        rows = [{k: v for k, v in dc.example(scan.state, c).items() if k != "audio"} for c in clips]
        out[split] = {(r["set"], r["machine"], r["file"]): r for r in rows}
    return out


# ----------------------------------------------------------------------------- ground-truth lists
@pytest.mark.parametrize("year", PUBLISHED)
def test_packaged_eval_list_totals(year):
    truth = load_packaged(year)
    assert (len(truth.rows), truth.anomalies) == TOTALS[year]
    header = packaged_path(year).read_bytes()[:10]
    assert header[3] & 0x08 == 0 and header[4:8] == b"\0\0\0\0"  # no file name, mtime 0: reproducible bytes


@pytest.mark.parametrize("year", PUBLISHED)
def test_shared_eval_lists_match_packaged(year, shared_fixtures):
    path = shared_fixtures / "dcase_eval_lists" / LIST.format(year)
    truth = load_file(path, year, "shared", str(path))
    assert (len(truth.rows), truth.anomalies) == TOTALS[year]
    assert path.read_bytes() == packaged_bytes(year)
    assert truth.rows == load_packaged(year).rows


def test_eval_list_reference_forms():
    truth = {y: load_packaged(y) for y in PUBLISHED}
    assert truth[2020].get("fan", "id_01_00000000.wav").reference == "normal_id_01_00000098.wav"
    t = truth[2021].get("gearbox", "section_03_source_test_0001.wav")
    assert (t.label, t.domain, t.section, t.attributes) == (1, "source", 3, None)
    t = truth[2022].get("bearing", "section_03_0001.wav")
    assert (t.label, t.domain, t.section, t.attributes) == (1, "target", 3, "vel_25")
    t = truth[2024].get("3DPrinter", "section_00_0001.wav")
    assert (t.label, t.domain, t.attributes) == (1, "target", "mdl_B_spd_2")
    t = truth[2025].get("Polisher", "section_00_0001.wav")  # 2025: section_00_target_0001.wav
    assert (t.label, t.domain, t.attributes) == (1, "target", None)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("fan\nid_01_00000000.wav,normal_id_01_00000001.wav,0,x\n", "line 2: expected a machine type"),
        ("fan\nid_01_00000000.wav,id_01_00000001.wav\n", "not a reference name of DCASE 2020"),
        ("id_01_00000000.wav,normal_id_01_00000001.wav,0\n", "line 1: a clip row before any machine-type row"),
        ("drill\n", "line 1: 'drill' is not a DCASE 2020 evaluation machine type"),
        ("fan\nid_01_00000000.wav,anomaly_id_01_00000001.wav,0\n", "line 2: label 0 contradicts"),
        ("fan\nid_01_00000000.wav,normal_id_03_00000001.wav,0\n", "name different sections"),
        ("fan\nid_01_00000000.wav,normal_id_01_00000001.wav,2\n", "label '2' is not 0"),
        ("fan\nsection_03_0000.wav,normal_id_01_00000001.wav,0\n", "not a DCASE 2020 evaluation test file name"),
    ],
)
def test_malformed_eval_list_names_file_and_line(tmp_path, text, problem):
    path = tmp_path / "gt.csv"
    path.write_text(text)
    with pytest.raises(LibtradError, match="gt.csv") as info:
        load_file(path, 2020, "test", str(path))
    assert problem in str(info.value)


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    "year, set_, machine, folder, name, expected",
    [
        (2020, "dev", "fan", "train", "normal_id_00_00000000.wav", (0, None, "normal", None)),
        (2020, "dev", "ToyCar", "test", "anomaly_id_04_00000123.wav", (4, None, "anomaly", None)),
        (2020, "eval", "fan", "test", "id_05_00000007.wav", (5, None, None, None)),
        (2021, "dev", "fan", "source_test", "section_02_source_test_anomaly_0003.wav", (2, "source", "anomaly", None)),
        (2021, "eval", "pump", "test", "section_04_target_test_0001.wav", (4, "target", None, None)),
        # 2021 train names carry attributes, as real clips are named (baseline README: ``_<attribute>``)
        (
            2021,
            "dev",
            "fan",
            "train",
            "section_00_source_train_normal_0000_strength_1_ambient.wav",
            (0, "source", "normal", "strength_1_ambient"),
        ),
        (
            2021,
            "dev",
            "gearbox",
            "train",
            "section_00_source_train_normal_0000_0_g_25_mm_2000_mV_none.wav",
            (0, "source", "normal", "0_g_25_mm_2000_mV_none"),
        ),
        (
            2021,
            "dev",
            "ToyTrain",
            "train",
            "section_00_target_train_normal_0002_C2Spd6Mic1.wav",
            (0, "target", "normal", "C2Spd6Mic1"),
        ),
        (2021, "dev", "fan", "train", "section_01_source_train_normal_0007.wav", (1, "source", "normal", None)),
        (
            2022,
            "dev",
            "bearing",
            "train",
            "section_01_target_train_normal_0000_vel_21_loc_A.wav",
            (1, "target", "normal", "vel_21_loc_A"),
        ),
        (2022, "eval", "valve", "test", "section_05_0042.wav", (5, None, None, None)),
        (
            2023,
            "eval",
            "bandsaw",
            "train",
            "section_00_source_train_normal_0009_vel_15.wav",
            (0, "source", "normal", "vel_15"),
        ),
        (
            2024,
            "dev",
            "gearbox",
            "test",
            "section_00_source_test_normal_0001_volt_1.3_wt_30.wav",
            (0, "source", "normal", "volt_1.3_wt_30"),
        ),
        (
            2025,
            "dev",
            "ToyCar",
            "test",
            "section_00_target_test_anomaly_0017_noAttribute.wav",
            (0, "target", "anomaly", "noAttribute"),
        ),
    ],
)
def test_names_per_year(year, set_, machine, folder, name, expected):
    clip = check_clip(SPECS[year], set_, machine, folder, name)
    assert not isinstance(clip, str), clip
    assert (clip.section, clip.domain, clip.label, clip.attributes) == expected


@pytest.mark.parametrize(
    "year, set_, machine, folder, name, reason",
    [
        (2020, "dev", "fan", "train", "anomaly_id_00_00000000.wav", "anomalous clip in train/"),
        (2020, "dev", "fan", "test", "normal_id_01_00000000.wav", "01 is not a DCASE 2020 development ID of fan"),
        (2020, "dev", "fan", "test", "id_00_00000000.wav", "unlabelled (evaluation test) name"),
        (2020, "eval", "fan", "test", "normal_id_01_00000000.wav", "a labelled name in the evaluation test set"),
        (2020, "dev", "fan", "train", "normal_id_00_0000000.wav", "file name is not normal_id_XX_NNNNNNNN.wav"),
        (
            2021,
            "dev",
            "fan",
            "source_test",
            "section_00_target_test_normal_0000.wav",
            "a target-domain clip in source_test/",
        ),
        (
            2021,
            "dev",
            "fan",
            "train",
            "section_00_source_test_normal_0000.wav",
            "named as a test clip but lies in train/",
        ),
        (
            2021,
            "dev",
            "fan",
            "test",
            "section_03_source_test_normal_0000.wav",
            "03 is not a DCASE 2021 development section",
        ),
        (
            2021,
            "dev",
            "fan",
            "source_test",
            "section_00_source_test_normal_0000_vel_1.wav",
            "DCASE 2021 test names carry no attributes",
        ),
        (2020, "dev", "fan", "train", "normal_id_00_00000000_vel_1.wav", "file name is not normal_id_XX_NNNNNNNN.wav"),
        (2022, "dev", "fan", "train", "section_00_source_train_normal_0000.wav", "no _<attributes> part"),
        (2023, "eval", "bandsaw", "test", "section_01_0000.wav", "01 is not a DCASE 2023 evaluation section (00)"),
        (
            2024,
            "dev",
            "fan",
            "train",
            "section_00_source_train_normal_\u0660001_x_1.wav",
            "file name is not",
        ),  # Arabic-Indic digit
        (2025, "dev", "fan", "train", "Section_00_source_train_normal_0000_x_1.wav", "file name is not"),
    ],
)
def test_bad_names_say_why(year, set_, machine, folder, name, reason):
    result = check_clip(SPECS[year], set_, machine, folder, name)
    assert isinstance(result, str) and reason in result, result


@pytest.mark.parametrize("year", PUBLISHED)
def test_every_published_evaluation_name_is_accepted_where_it_lies(year):
    """Every row of the published ground truth (the shared fixture is byte-identical to the packaged
    copy): its test name is an evaluation test clip of its machine in test/ (2021: its domain's
    folder), of the section its reference names."""
    for (machine, name), truth in load_packaged(year).rows.items():
        folder = f"{truth.domain}_test" if year == 2021 else "test"
        clip = check_clip(SPECS[year], "eval", machine, folder, name)
        assert not isinstance(clip, str), (machine, name, clip)
        assert (clip.label, clip.section) == (None, truth.section), (machine, name)


@pytest.mark.parametrize(
    "raw, parsed",
    [
        ("vel_21", [("vel", "21")]),
        ("mdl_B_spd_2", [("mdl", "B"), ("spd", "2")]),
        ("car_A1_spd_28V_mic_1_noise_6", [("car", "A1"), ("spd", "28V"), ("mic", "1"), ("noise", "6")]),
        ("f-n_D", [("f-n", "D")]),
        ("ac_0.05", [("ac", "0.05")]),
        ("spd1000_BckgA", [("spd", "1000"), ("Bckg", "A")]),
        ("noAttribute", []),
        ("weird", None),
        (None, None),
    ],
)
def test_attribute_values(raw, parsed):
    values = parse_attributes(raw)
    assert (values if values is None else [(v["key"], v["value"]) for v in values]) == parsed


def test_every_published_attribute_string_parses():
    for year in (2022, 2023, 2024):
        for truth in load_packaged(year).rows.values():
            assert parse_attributes(truth.attributes) is not None, truth.reference


# ----------------------------------------------------------------------------- layouts through the scan
def test_2020_duplicate_names_in_train_and_test_are_both_kept(tmp_path):
    raw = tree(
        tmp_path / "raw",
        [
            "development/fan/train/normal_id_00_00000000.wav",
            "development/fan/test/normal_id_00_00000000.wav",
            "development/fan/test/anomaly_id_00_00000000.wav",
            "development/ToyCar/test/normal_id_01_00000000.wav",
            "development/ToyCar/train/normal_id_01_00000000.wav",
            "additional_train/fan/train/normal_id_01_00000000.wav",
            "evaluation/fan/test/id_01_00000000.wav",  # packaged list: normal (reference normal_id_01_00000098.wav)
            "evaluation/fan/test/id_01_00000001.wav",  # packaged list: anomaly
        ],
    )
    rows = scan_rows(raw, 2020)
    train, test = rows["train"], rows["test"]
    assert ("dev", "fan", "normal_id_00_00000000.wav") in train and ("dev", "fan", "normal_id_00_00000000.wav") in test
    assert train[("eval", "fan", "normal_id_01_00000000.wav")]["section"] == 1
    assert {k[2]: r["label"] for k, r in test.items() if k[1] == "fan"} == {
        "normal_id_00_00000000.wav": 0,
        "anomaly_id_00_00000000.wav": 1,
        "id_01_00000000.wav": 0,
        "id_01_00000001.wav": 1,
    }
    assert all(r["domain"] is None and r["attributes"] is None and r["year"] == 2020 for r in test.values())


def test_2021_dev_data_raw_split_test_folders_and_additional_train(tmp_path):
    raw = tree(
        tmp_path / "raw",
        [
            "dev_data/raw/gearbox/train/section_00_source_train_normal_0000.wav",
            "dev_data/raw/gearbox/train/section_01_target_train_normal_0000.wav",
            "dev_data/raw/gearbox/source_test/section_00_source_test_anomaly_0000.wav",
            "dev_data/raw/gearbox/target_test/section_02_target_test_normal_0000.wav",
            "dev_data/raw/gearbox/test/section_01_source_test_normal_0001.wav",
            "additional_train/gearbox/train/section_04_target_train_normal_0000.wav",
            "eval_data/raw/gearbox/source_test/section_03_source_test_0000.wav",
            "eval_data/raw/gearbox/source_test/section_03_source_test_0001.wav",
        ],
    )
    rows = scan_rows(raw, 2021)
    got = {k[2]: (r["set"], r["section"], r["domain"], r["label"]) for k, r in rows["test"].items()}
    assert got == {
        "section_00_source_test_anomaly_0000.wav": ("dev", 0, "source", 1),
        "section_02_target_test_normal_0000.wav": ("dev", 2, "target", 0),
        "section_01_source_test_normal_0001.wav": ("dev", 1, "source", 0),
        "section_03_source_test_0000.wav": ("eval", 3, "source", 0),
        "section_03_source_test_0001.wav": ("eval", 3, "source", 1),
    }
    assert rows["train"][("eval", "gearbox", "section_04_target_train_normal_0000.wav")]["domain"] == "target"


@pytest.mark.parametrize(
    "year, files, checks",
    [
        (
            2022,
            [
                "development/bearing/train/section_00_source_train_normal_0000_vel_6.wav",
                "development/bearing/test/section_02_target_test_anomaly_0001_vel_21_loc_A.wav",
                "evaluation/bearing/train/section_03_source_train_normal_0000_vel_9.wav",
                "evaluation/bearing/test/section_03_0000.wav",
            ],
            {
                "section_02_target_test_anomaly_0001_vel_21_loc_A.wav": (2, "target", "vel_21_loc_A", 1),
                "section_03_0000.wav": (3, "source", "vel_21", 0),
            },
        ),
        (
            2023,
            [
                "development/fan/train/section_00_source_train_normal_0000_m-n_W.wav",
                "development/fan/test/section_00_target_test_normal_0000_m-n_X.wav",
                "additional_train/bandsaw/train/section_00_target_train_normal_0000_vel_15.wav",
                "evaluation/bandsaw/test/section_00_0005.wav",
            ],
            {
                "section_00_target_test_normal_0000_m-n_X.wav": (0, "target", "m-n_X", 0),
                "section_00_0005.wav": (0, "source", "vel_15", 1),
            },
        ),
        (
            2024,
            [
                "development/slider/train/section_00_source_train_normal_0000_noAttribute.wav",
                "development/slider/test/section_00_source_test_anomaly_0003_spd1000_BckgA.wav",
                "additional_train/3DPrinter/train/section_00_source_train_normal_0000_mdl_A_spd_1.wav",
                "evaluation/3DPrinter/test/section_00_0001.wav",
            ],
            {
                "section_00_source_test_anomaly_0003_spd1000_BckgA.wav": (0, "source", "spd1000_BckgA", 1),
                "section_00_0001.wav": (0, "target", "mdl_B_spd_2", 1),
            },
        ),
        (
            2025,
            [
                "development/ToyTrain/train/section_00_source_train_normal_0000_noAttribute.wav",
                "development/ToyTrain/test/section_00_target_test_normal_0002_noAttribute.wav",
                "additional_train/Polisher/train/section_00_source_train_normal_0000_noAttribute.wav",
                "evaluation/Polisher/test/section_00_0001.wav",
            ],
            {
                "section_00_target_test_normal_0002_noAttribute.wav": (0, "target", "noAttribute", 0),
                "section_00_0001.wav": (0, "target", None, 1),
            },
        ),
    ],
)
def test_attribute_years_with_packaged_ground_truth(tmp_path, year, files, checks):
    rows = scan_rows(tree(tmp_path / "raw", files), year)
    got = {k[2]: (r["section"], r["domain"], r["attributes"], r["label"]) for k, r in rows["test"].items()}
    assert got == checks
    for row in rows["test"].values():
        assert row["attribute_values"] == parse_attributes(row["attributes"])


def test_eval_list_precedence_option_over_folder_over_package(tmp_path):
    files = [
        "development/bearing/train/section_00_source_train_normal_0000_vel_6.wav",
        "development/bearing/test/section_00_source_test_normal_0000_vel_6.wav",
        "evaluation/bearing/test/section_03_0000.wav",
    ]  # packaged: normal, source, vel_21
    key = ("eval", "bearing", "section_03_0000.wav")
    folder_list = "bearing\nsection_03_0000.wav,section_03_target_test_anomaly_0000_vel_99.wav,1\n"
    raw = tree(tmp_path / "raw", files, {f"evaluation/{LIST.format(2022)}": folder_list})
    assert scan_rows(raw, 2022)["test"][key]["attributes"] == "vel_99"
    option = tmp_path / "mine.csv"
    option.write_text("bearing\r\nsection_03_0000.wav,section_03_source_test_normal_0000_vel_7.wav,0\r\n")
    row = scan_rows(raw, 2022, eval_list=option)["test"][key]
    assert (row["label"], row["domain"], row["attributes"]) == (0, "source", "vel_7")
    (raw / "evaluation" / LIST.format(2022)).unlink()
    assert scan_rows(raw, 2022)["test"][key]["attributes"] == "vel_21"


def test_check_options_refuses_unknown_and_missing(tmp_path):
    with pytest.raises(ParameterError, match="bogus"):
        dc.DCASE2021.check_options({"bogus": 1})
    with pytest.raises(ParameterError, match="eval_list"):
        dc.DCASE2021.check_options({"eval_list": tmp_path / "nope.csv"})


# ----------------------------------------------------------------------------- CLI: errors, skip, unlabelled
_GOOD_2021 = [
    "development/fan/train/section_00_source_train_normal_0000.wav",
    "development/fan/source_test/section_00_source_test_anomaly_0000.wav",
    "development/fan/target_test/section_00_target_test_normal_0000.wav",
]


def test_unknown_files_are_named_in_the_error_and_recorded_with_skip(tmp_path, cli, rel):
    raw = tree(
        tmp_path / "raw",
        [
            *_GOOD_2021,
            "development/fan/train/section_03_source_train_normal_0001.wav",
            "development/fan/extra/a.wav",
            "development/drill/train/x.wav",
        ],
        {"development/fan/train/notes.txt": "hi", "README.txt": "hi"},
    )
    wav(raw / "development/fan/train/section_00_source_train_normal_0002.wav", sample_rate=44_100)
    out = tmp_path / "out"
    result = cli("build", "siren", "--component", "dcase2021", "--data-dir", raw, "--output", out)
    line = rel.assert_error_line(
        result,
        "README.txt: unexpected file at the top",
        "development/drill/",
        "development/fan/extra/",
        "notes.txt: file name is not",
        "03 is not a DCASE 2021 development section",
    )
    assert "--on-error skip" in line and not out.exists()
    result = cli("build", "siren", "--component", "dcase2021", "--data-dir", raw, "--output", out, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    rejected = {r["path"]: r["reason"] for r in json.loads((out / "manifest.json").read_text())["rejected"]}
    assert set(rejected) == {
        "README.txt",
        "development/drill/",
        "development/fan/extra/",
        "development/fan/train/notes.txt",
        "development/fan/train/section_03_source_train_normal_0001.wav",
        "development/fan/train/section_00_source_train_normal_0002.wav",
    }
    assert "44100 Hz" in rejected["development/fan/train/section_00_source_train_normal_0002.wav"]
    assert "development/fan/extra/" in (out / "README.md").read_text()


def test_no_layout_says_which_layouts_were_expected(tmp_path, cli, rel):
    raw = tree(tmp_path / "raw", ["fan/train/section_00_source_train_normal_0000.wav"])
    result = cli("build", "siren", "--component", "dcase2021", "--data-dir", raw, "--output", tmp_path / "out")
    rel.assert_error_line(
        result,
        "no DCASE 2021 layout found",
        "fan look like machine folders",
        "development/<machine>/{train,test}/",
        "additional_train/<machine>/train/",
    )


def test_unlabelled_eval_clips_refused_or_kept(tmp_path, cli, rel):
    raw = tree(
        tmp_path / "raw",
        [
            "development/valve/train/section_00_source_train_normal_0000_pat_00.wav",
            "development/valve/test/section_00_source_test_anomaly_0000_pat_00.wav",
            "evaluation/valve/test/section_03_9999.wav",
        ],
    )
    out = tmp_path / "out"
    result = cli("build", "siren", "--component", "dcase2022", "--data-dir", raw, "--output", out)
    rel.assert_error_line(
        result,
        "evaluation/valve/test/section_03_9999.wav: no ground truth for valve/section_03_9999.wav",
        "--allow-unlabelled",
    )
    result = cli("build", "siren", "--component", "dcase2022", "--data-dir", raw, "--output", out, "--allow-unlabelled")
    assert result.exit_code == 0, result.output
    rows = pq.read_table(next((out / "data/dcase2022").glob("test-*.parquet")), columns=["file", "label", "domain"])
    assert {r["file"]: (r["label"], r["domain"]) for r in rows.to_pylist()}["section_03_9999.wav"] == (-1, None)
    assert json.loads((out / "manifest.json").read_text())["configs"]["dcase2022"]["test"]["labels"]["unlabelled"] == 1


def test_missing_eval_list_option_names_the_flag(tmp_path, cli, rel):
    raw = tree(tmp_path / "raw", _GOOD_2021)
    result = cli(
        "build",
        "siren",
        "--component",
        "dcase2021",
        "--data-dir",
        raw,
        "--output",
        tmp_path / "out",
        "--eval-list",
        tmp_path / "missing.csv",
    )
    rel.assert_error_line(result, "--eval-list", "no such file")


# ----------------------------------------------------------------------------- synthetic stand-in
def test_synth_is_deterministic_and_anomalies_differ(tmp_path):
    from libtrad.builders.dcase.synth import synthesize_dcase

    # easy: loud anomalies, measured below (paper's subtle ones: tests/builders/test_difficulty.py)
    a = synthesize_dcase(tmp_path / "a", year=2023, seed=3, difficulty="easy", progress=False)
    synthesize_dcase(tmp_path / "b", year=2023, seed=3, difficulty="easy", progress=False)
    synthesize_dcase(tmp_path / "c", year=2023, seed=4, difficulty="easy", progress=False)
    synthesize_dcase(tmp_path / "d", year=2023, seed=3, progress=False)  # the default, paper
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.wav"))
    assert len(files) == a.files and "SYNTHETIC" in a.describe()
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert any((tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in files)
    assert all((tmp_path / "a" / f).read_bytes() != (tmp_path / "d" / f).read_bytes() for f in files)

    def high_band(path: Path) -> float:
        x, sr = sf.read(path)
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        return float(spectrum[np.fft.rfftfreq(len(x), 1 / sr) > 1500].sum() / spectrum.sum())

    test = tmp_path / "a/development/fan/test"
    normal = [high_band(p) for p in test.glob("*_normal_*.wav")]
    anomaly = [high_band(p) for p in test.glob("*_anomaly_*.wav")]
    assert min(anomaly) > 10 * max(normal)
    rows = scan_rows(tmp_path / "a", 2023)  # the stand-in is labelled by its own list
    eval_labels = [r["label"] for r in rows["test"].values() if r["set"] == "eval"]
    assert sorted(set(eval_labels)) == [0, 1] and sum(eval_labels) == len(eval_labels) // 2


def test_the_organisers_two_column_list_form(tmp_path):
    """Their baseline's eval_data_list_YYYY.csv: test_file,labelled reference (2024's references may lack the
    split: section_00_source_normal_0035_weight15_BckgF.wav); the label is the reference name's."""
    path = tmp_path / "eval_data_list_2024.csv"
    path.write_bytes(
        b"ToothBrush\r\nsection_00_0000.wav,section_00_source_normal_0035_weight15_BckgF.wav\r\n"
        b"section_00_0001.wav,section_00_target_test_anomaly_0002_noAttribute.wav\r\n"
    )
    rows = load_file(path, 2024, "test", str(path)).rows
    first, second = rows[("ToothBrush", "section_00_0000.wav")], rows[("ToothBrush", "section_00_0001.wav")]
    assert (first.label, first.domain, first.attributes) == (0, "source", "weight15_BckgF")
    assert (second.label, second.domain) == (1, "target")
    path.write_bytes(b"ToothBrush\r\nsection_00_0000.wav,section_00_source_0035.wav\r\n")
    with pytest.raises(LibtradError, match="names no label, and the row gives none"):
        load_file(path, 2024, "test", str(path))
