"""DCASE 2026 Task 2 (``dcase2026``): two channels kept and named, the year's machine types, records and
names, its stand-in through build → load → embed (near, far, both) → siren-dcase, and its rejections.

The published facts the names come from: the organisers' baseline (nttcslab dcase2023_task2_baseline_ae,
2026t2 scripts and README: machine types, section 00, dev_data/raw and eval_data/raw, the README's
``section_00_source_test_normal_0000_car_A2_spd_28V_mic_1_noise_1.wav``); no real 2026 clip was read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from libtrad.builders.dcase import components as dc
from libtrad.builders.dcase.eval_lists import packaged_available
from libtrad.builders.dcase.layout import check_clip
from libtrad.builders.dcase.years import NEAR_FAR_POLICY, SPECS
from libtrad.core.channels import select_channels
from libtrad.core.errors import ParameterError

SPEC = SPECS[2026]
DEV = ("ToyCar", "ToyCarEmu", "bearingEmu", "fan", "gearboxEmu", "sliderEmu", "valveEmu")
EVAL = ("ToyDrone", "ToothBrush", "SewingMachine", "BlowerDustCollector", "Sander")


def wav(path: Path, channels: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(str(path))).normal(0, 0.1, (800, channels)).astype(np.float32)
    sf.write(path, noise, 16_000, subtype="PCM_16")


# ----------------------------------------------------------------------------- the year's facts
def test_machine_types_sections_channels_and_records():
    assert (SPEC.dev_machines, SPEC.eval_machines) == (DEV, EVAL)
    assert all(SPEC.sections(s, m) == (0,) for s in ("dev", "eval") for m in SPEC.machines(s))
    assert SPEC.channel_names == ("near", "far") and SPEC.channels == 2 and SPEC.attributes
    component = dc.COMPONENTS["dcase2026"]
    assert component.channels is NEAR_FAR_POLICY and "multichannel" in component.tags
    assert list(dc.COMPONENTS) == [f"dcase{y}" for y in range(2020, 2027)]
    urls = {d.url for d in component.DOWNLOADS}
    assert "https://zenodo.org/records/19336329/files/dev_ToyCar_r2.zip" in urls  # the re-released ToyCar
    assert "https://zenodo.org/records/19336329/files/dev_ToyCarEmu.zip" in urls
    assert "https://zenodo.org/records/20151556/files/eval_data_SewingMachine_train.zip" in urls
    assert len(urls) == 7 + 5 + 5
    assert not packaged_available(2026) and packaged_available(2025)  # no 2026 ground truth shipped yet


def test_channel_selections_near_far_both():
    assert select_channels(None, NEAR_FAR_POLICY).names == ("near",)  # the official baseline's channel
    assert select_channels("far", NEAR_FAR_POLICY).names == ("far",)
    assert select_channels("both", NEAR_FAR_POLICY).names == ("near", "far")
    assert select_channels("far,near", NEAR_FAR_POLICY).names == ("near", "far")  # one canonical order
    assert select_channels("all", NEAR_FAR_POLICY).names is None
    with pytest.raises(ParameterError, match="no channel 'left'; it names near, far, both, all"):
        select_channels("left", NEAR_FAR_POLICY)


@pytest.mark.parametrize(
    "set_, machine, folder, name, label",
    [
        ("dev", "ToyCar", "test", "section_00_source_test_normal_0000_car_A2_spd_28V_mic_1_noise_1.wav", "normal"),
        ("dev", "valveEmu", "train", "section_00_target_train_normal_0009_noAttribute.wav", "normal"),
        ("dev", "bearingEmu", "test", "section_00_target_test_anomaly_0049_vel_8.wav", "anomaly"),
        ("eval", "BlowerDustCollector", "train", "section_00_source_train_normal_0989_noAttribute.wav", "normal"),
        ("eval", "ToyDrone", "test", "section_00_0199.wav", None),
    ],
)
def test_published_forms_are_accepted(set_, machine, folder, name, label):
    clip = check_clip(SPEC, set_, machine, folder, name)
    assert not isinstance(clip, str), clip
    assert (clip.section, clip.label) == (0, label)


@pytest.mark.parametrize(
    "set_, machine, folder, name, reason",
    [
        ("dev", "fan", "train", "section_00_source_train_normal_0000.wav", "no _<attributes> part"),
        ("dev", "fan", "test", "section_01_source_test_normal_0000_a_1.wav", "01 is not a DCASE 2026 development"),
        ("eval", "Sander", "test", "section_00_source_test_normal_0000_a_1.wav", "a labelled name in the evaluation"),
        ("dev", "fan", "test", "near_section_00_0000.wav", "file name is not section_XX"),
    ],
)
def test_bad_names_say_why(set_, machine, folder, name, reason):
    result = check_clip(SPEC, set_, machine, folder, name)
    assert isinstance(result, str) and reason in result, result


def test_baseline_layout_builds_and_bad_entries_are_listed(tmp_path, cli, rel):
    """The baseline's folders (dev_data/raw, eval_data/raw with attributes_00.csv); a mono clip, a
    three-channel clip, a 2025 machine type and an unknown name are each a named rejection."""
    raw = tmp_path / "raw"
    good = [
        "dev_data/raw/ToyCarEmu/train/section_00_source_train_normal_0000_noAttribute.wav",
        "dev_data/raw/ToyCarEmu/test/section_00_source_test_normal_0000_noAttribute.wav",
        "dev_data/raw/ToyCarEmu/test/section_00_source_test_anomaly_0000_noAttribute.wav",
        "eval_data/raw/Sander/train/section_00_source_train_normal_0000_noAttribute.wav",
    ]
    for name in good:
        wav(raw / name)
    (raw / "dev_data/raw/ToyCarEmu/attributes_00.csv").write_text("file_name,d1p,d1v\n")
    train = "dev_data/raw/ToyCarEmu/train/section_00_source_train_normal_{}_noAttribute.wav"
    bad = {
        train.format("0001"): "has 1 channel(s), expected 2",
        train.format("0002"): "has 3 channel(s), expected 2",
        "dev_data/raw/ToyTrain/": "not a DCASE 2026 development machine type",
        "dev_data/raw/ToyCarEmu/test/section_00_test_0000.wav": "file name is not",
    }
    wav(raw / train.format("0001"), channels=1)
    wav(raw / train.format("0002"), channels=3)
    wav(raw / "dev_data/raw/ToyTrain/train/section_00_source_train_normal_0000_noAttribute.wav")
    wav(raw / "dev_data/raw/ToyCarEmu/test/section_00_test_0000.wav")
    before = rel.snapshot(raw)
    out = tmp_path / "out"
    args = ("build", "siren", "--component", "dcase2026", "--data-dir", raw, "--output", out)
    rel.assert_error_line(cli(*args), "invalid input in", "--on-error skip")
    result = cli(*args, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert rel.snapshot(raw) == before
    manifest = json.loads((out / "manifest.json").read_text())
    rejected = {r["path"]: r["reason"] for r in manifest["rejected"]}
    assert set(rejected) == set(bad), rejected
    assert all(fragment in rejected[path] for path, fragment in bad.items()), rejected
    assert manifest["validation"]["channels"] == 2
    clips = [s for s in manifest["sources"] if s["path"].endswith(".wav")]
    assert sorted(s["path"] for s in clips) == sorted(good) and all(s["channels"] == 2 for s in clips)


def test_evaluation_clips_without_ground_truth_say_none_is_shipped(tmp_path, cli, rel):
    raw = tmp_path / "raw"
    for name in (
        "development/fan/train/section_00_source_train_normal_0000_noAttribute.wav",
        "development/fan/test/section_00_source_test_anomaly_0000_noAttribute.wav",
        "evaluation/Sander/test/section_00_0000.wav",
    ):
        wav(raw / name)
    out = tmp_path / "out"
    args = ("build", "siren", "--component", "dcase2026", "--data-dir", raw, "--output", out)
    rel.assert_error_line(cli(*args), "Sander/section_00_0000.wav", "libtrad ships none for DCASE 2026", "--eval-list")
    result = cli(*args, "--allow-unlabelled")
    assert result.exit_code == 0, result.output
    rows = pq.read_table(next((out / "data/dcase2026").glob("test-*.parquet")), columns=["file", "label"]).to_pylist()
    assert {r["file"]: r["label"] for r in rows}["section_00_0000.wav"] == -1
    assert "libtrad ships no DCASE 2026 evaluation ground truth" in (out / "README.md").read_text()

    # The organisers' own list form (test_file,labelled reference; their baseline's eval_data_list_YYYY.csv).
    listed = tmp_path / "eval_data_list_2026.csv"
    listed.write_bytes(b"Sander\r\nsection_00_0000.wav,section_00_target_test_anomaly_0007_noAttribute.wav\r\n")
    result = cli(*args[:-2], "--output", tmp_path / "labelled", "--eval-list", listed)
    assert result.exit_code == 0, result.output
    # ... and under that name in the evaluation folder, as their download puts it.
    listed.rename(raw / "evaluation" / listed.name)
    result = cli(*args[:-2], "--output", tmp_path / "in-folder")
    assert result.exit_code == 0, result.output
    for name in ("labelled", "in-folder"):
        table = pq.read_table(next((tmp_path / name / "data/dcase2026").glob("test-*.parquet")))
        row = next(r for r in table.to_pylist() if r["file"] == "section_00_0000.wav")
        assert (row["label"], row["domain"], row["attributes"]) == (1, "target", "noAttribute")


# ----------------------------------------------------------------------------- the stand-in, end to end
@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """The stand-in at the default difficulty, built (its folder's own ground-truth list labels the
    evaluation test clips)."""
    from libtrad.builders.registry import dataset

    work = tmp_path_factory.mktemp("dcase2026")
    entry = dataset("siren")
    entry.synthesize(work / "raw", component="dcase2026", progress=False)
    entry.build(work / "raw", work / "ds", component="dcase2026", progress=False)
    return work


def test_the_stand_in_loads_with_two_named_channels_that_differ_as_near_and_far(stand_in):
    import datasets
    import yaml

    ds = datasets.load_dataset(str(stand_in / "ds"), "dcase2026", split="test", cache_dir=str(stand_in / "cache"))
    assert sorted(set(ds["machine"])) == ["ToothBrush", "ToyCar", "ToyDrone", "fan"]
    assert set(ds["label"]) == {0, 1}  # evaluation clips labelled from the folder's list
    data = ds[0]["audio"].get_all_samples().data.numpy()
    assert data.shape == (2, 24_000) and ds[0]["channels"] == ["near", "far"]
    near, far = data
    assert np.sqrt(np.mean(far**2)) < 0.6 * np.sqrt(np.mean(near**2))  # the far microphone: weaker
    assert abs(np.corrcoef(near, far)[0, 1]) < 0.9  # and not a scaled copy (delay, reverberation, noise)
    card = (stand_in / "ds" / "README.md").read_text()
    policy = yaml.safe_load(card.split("---")[1])["channel_policy"]["dcase2026"]
    assert policy["default"] == ["near"] and policy["names"] == ["near", "far"]
    assert policy["sets"] == {"both": ["near", "far"]}
    assert "2606.01578" in card and "libtrad did not read the 2026 Zenodo records' licence" in card


@pytest.mark.parametrize("difficulty", ["easy", "paper", "hard"])
def test_every_difficulty_writes_two_channel_clips(tmp_path, difficulty):
    from libtrad.builders.dcase.synth import synthesize_dcase

    summary = synthesize_dcase(tmp_path / "raw", year=2026, scale=0.3, difficulty=difficulty, progress=False)
    clips = sorted((tmp_path / "raw").rglob("*.wav"))
    assert len(clips) == summary.files and all(sf.info(p).channels == 2 for p in clips)
    assert summary.difficulty == difficulty


def test_embed_near_far_and_both_then_siren_dcase(stand_in, tmp_path, cli, embed_in_process):
    """``--channels`` near (the default), far and both, as ``embed`` resolves them; both is near then far
    (channel-major); siren-dcase scores each, through the CLI for the default."""
    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions
    from libtrad.ray_jobs.evaluation.suites import siren_dcase

    policy = resolve_dataset(str(stand_in / "ds"), None).channel_policy
    assert policy == NEAR_FAR_POLICY  # read back from the card, as embed reads it
    frames = {}
    for text in (None, "far", "both"):
        selection = select_channels(text, policy)
        options = EmbedOptions(channels=selection.names, channels_origin=selection.origin)
        frames[text or "near"] = embed_in_process(stand_in / "ds", tmp_path / (text or "near"), options)
    near, far, both = (np.stack(frames[k]["embedding"].to_list()) for k in ("near", "far", "both"))
    assert near.shape[1] == far.shape[1] == 128 and both.shape[1] == 256
    assert np.array_equal(both, np.concatenate([near, far], axis=1)) and not np.allclose(near, far)
    assert [list(c) for c in frames["both"]["embedded_channels"].iloc[:1]] == [["near", "far"]]

    scores = {k: siren_dcase.SUITE.evaluate_local(frame) for k, frame in frames.items()}
    for res in scores.values():
        assert res["year"] == 2026 and sorted(res["sets"]) == ["dev", "eval"]
        assert list(res["sets"]["dev"]["auc"]) == [
            "ToyCar/00/source",
            "ToyCar/00/target",
            "fan/00/source",
            "fan/00/target",
        ]
        assert 0.0 <= res["score"] <= 1.0
    assert scores["near"]["file_scores"] != scores["far"]["file_scores"]

    sub = tmp_path / "submission"
    args = ("--embeddings", tmp_path / "near", "--output", tmp_path / "res", "--submission", sub, "--local")
    result = cli("evaluate", "siren-dcase", *args)
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "res" / "results.json").read_text())
    assert written["year"] == 2026 and written["score"] == pytest.approx(scores["near"]["score"])
    # The challenge's side on 2026 too: the official score (the 2022+ rule) and one file pair per evaluation
    # machine × section, which `libtrad verify` accepts.
    assert 0.0 <= written["official"]["score"] <= 1.0
    machines = ("ToothBrush", "ToyDrone")
    expected = {f"{kind}_{m}_section_00_test.csv" for m in machines for kind in ("anomaly_score", "decision_result")}
    assert {p.name for p in sub.glob("*.csv")} == expected
    assert cli("verify", sub).exit_code == 0
