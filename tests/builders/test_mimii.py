"""``libtrad build mimii``: the publisher's files build in place with their 8 channels, every bad entry is
named, the MIMII protocol's split, and the stand-in through build → load → embed → evaluate → leaderboard."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real"
REAL_MIMII = REAL / "mimii"
RATE, SECONDS = 16_000, 10.0


def _real_or_skip() -> Path:
    if not (REAL_MIMII / "0_dB_fan").is_dir():
        pytest.skip(f"the real MIMII clips are not here ({REAL_MIMII}): nothing to build them from")
    return REAL_MIMII


def _published_sums() -> dict[str, str]:
    sums = {}
    for line in (REAL / "SHA256SUMS").read_text().splitlines():
        sha, _, path = line.partition("  ")
        if path.startswith("./mimii/"):
            sums[path[len("./mimii/") :]] = sha
    return sums


def _load(folder: Path, config: str, split: str):
    import datasets

    return datasets.load_dataset(str(folder), config, split=split)


def test_the_real_clips_build_in_place_with_eight_channels(tmp_path, rel, embed_in_process):
    from libtrad.builders.registry import dataset
    from libtrad.folders.verify import verify_folder
    from libtrad.ray_jobs.embedding.units import EmbedOptions

    real = _real_or_skip()
    before = rel.snapshot(real)
    summary = dataset("mimii").build(real, tmp_path / "mimii", progress=False)
    assert rel.snapshot(real) == before  # read in place, nothing written there
    assert not summary.synthetic and not summary.rejected, summary.describe()
    assert verify_folder(tmp_path / "mimii").ok
    manifest = json.loads((tmp_path / "mimii" / "manifest.json").read_text())
    assert list(manifest["configs"]) == ["0dB", "all"]  # the SNR the folder has, and the union
    assert manifest["split"] == {"strategy": "baseline", "seed": 0}
    assert {s["path"]: s["sha256"] for s in manifest["sources"]} == _published_sums()
    assert all(s["channels"] == 8 and s["sample_rate"] == RATE and s["frames"] == 160_000 for s in manifest["sources"])

    rows = {}
    for split in ("train", "test"):
        ds = _load(tmp_path / "mimii", "all", split)
        assert list(ds.features) == ["audio", "file", "snr_db", "machine", "machine_id", "label", "channels", "sha256"]
        assert ds.features["label"].names == ["normal", "abnormal"]
        for row in ds:
            samples = row["audio"].get_all_samples()
            assert tuple(samples.data.shape) == (8, 160_000) and samples.sample_rate == RATE
            rows[split] = row
    # One normal and one abnormal clip of fan ID 00: the protocol keeps the normal one for training.
    assert rows["train"]["file"] == "0_dB_fan/fan/id_00/normal/00000000.wav" and rows["train"]["label"] == 0
    assert rows["test"]["file"] == "0_dB_fan/fan/id_00/abnormal/00000000.wav" and rows["test"]["label"] == 1
    for row in rows.values():
        assert (row["snr_db"], row["machine"], row["machine_id"]) == (0, "fan", 0)
        assert row["channels"] == [f"ch{i}" for i in range(1, 9)]
        assert row["sha256"] == _published_sums()[row["file"]]

    import pyarrow.parquet as pq  # the published bytes, WAVE_FORMAT_EXTENSIBLE header included, unchanged

    table = pq.read_table(next((tmp_path / "mimii" / "data" / "0dB").glob("test-*.parquet")))
    audio = table.column("audio").to_pylist()[0]
    assert audio["bytes"] == (real / "0_dB_fan/fan/id_00/abnormal/00000000.wav").read_bytes()
    assert audio["bytes"][20:22] == b"\xfe\xff"  # format tag 0xFFFE: WAVE_FORMAT_EXTENSIBLE

    # embed's defaults (every channel, concatenated) and the mimii suite run on them.
    frame = embed_in_process(tmp_path / "mimii", tmp_path / "emb", EmbedOptions())
    assert len(frame["embedding"].iloc[0]) == 8 * 128  # logmel-stats: 128 per channel
    from libtrad.ray_jobs.evaluation.suites import mimii

    res = mimii.SUITE.evaluate_local(frame)
    assert res["counts"] == {"0dB": {"fan/id_00": {"train": 1, "normal": 0, "abnormal": 1}}}
    assert res["sets"]["0dB"]["auc"] == {"fan/id_00": 0.0}  # one class in the test part: 0 by convention


def _wav(path: Path, channels: int = 8, seconds: float = SECONDS, rate: int = RATE, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.random.default_rng(seed).normal(0, 0.05, (int(seconds * rate), channels)).astype(np.float32)
    sf.write(path, samples, rate, subtype="PCM_16", format="WAVEX" if channels > 2 else "WAV")
    return path


def _bad_tree(root: Path) -> dict[str, str]:
    """A folder with three good clips and one of every mistake: {rejected path: what its reason says}."""
    clips = root / "0_dB_fan" / "fan" / "id_00"
    _wav(clips / "normal" / "00000000.wav", seed=1)
    _wav(clips / "normal" / "00000001.wav", seed=2)
    _wav(clips / "abnormal" / "00000000.wav", seed=3)
    _wav(clips / "normal" / "00000002.wav", channels=1, seed=4)
    _wav(clips / "normal" / "00000003.wav", channels=4, seed=5)
    _wav(clips / "normal" / "00000004.wav", rate=44_100, seconds=1.0, seed=6)
    _wav(clips / "normal" / "00000005.wav", seconds=5.0, seed=7)
    _wav(clips / "normal" / "0000006.wav", seed=8)
    (clips / "abnormal" / "00000001.wav").write_bytes((clips / "normal" / "00000001.wav").read_bytes())
    (clips / "notes.txt").write_text("mine")
    _wav(root / "0_dB_fan" / "fan" / "id_01" / "normal" / "00000000.wav", seed=9)
    _wav(root / "0_dB_fan" / "pump" / "id_00" / "normal" / "00000000.wav", seed=10)
    (root / "3_dB_fan").mkdir()
    (root / "6_dB_fan.zip").write_bytes(b"PK\x03\x04")
    baseline = root / "0dB" / "fan" / "id_00" / "abnormal" / "00000000.wav"  # the same clip, the baseline's form
    baseline.parent.mkdir(parents=True)
    baseline.write_bytes((clips / "abnormal" / "00000000.wav").read_bytes())
    (root / "README.md").write_text("notes")
    n = "0_dB_fan/fan/id_00/normal/"
    return {
        f"{n}00000002.wav": "has 1 channel(s), expected 8",
        f"{n}00000003.wav": "has 4 channel(s), expected 8",
        f"{n}00000004.wav": "sample rate 44100 Hz, expected 16000 Hz",
        f"{n}00000005.wav": "duration 5.000 s, expected 10",
        f"{n}0000006.wav": "file name is not NNNNNNNN.wav",
        f"{n}00000001.wav": "the same bytes",
        "0_dB_fan/fan/id_00/abnormal/00000001.wav": "the same bytes",
        "0_dB_fan/fan/id_00/notes.txt": "unexpected file in 0_dB_fan/fan/id_00/ (expected normal/ and abnormal/)",
        "0_dB_fan/fan/id_01/": "id_01 is not a published MIMII fan ID",
        "0_dB_fan/pump/": "a pump folder inside 0_dB_fan/, which is the fan archive",
        "3_dB_fan/": "3 dB is not a MIMII SNR",
        "6_dB_fan.zip": "unpack it into a folder of its name (6_dB_fan/)",
        "0dB/fan/id_00/abnormal/00000000.wav": "the same clip (0_dB_fan/fan/id_00/abnormal/00000000.wav) as",
    }


def test_bad_names_and_wrong_channel_counts_are_named_rejections(tmp_path, cli, rel):
    raw = tmp_path / "raw"
    expected = _bad_tree(raw)
    before = rel.snapshot(raw)
    line = rel.assert_error_line(
        cli("build", "mimii", "--data-dir", raw, "--output", tmp_path / "out"),
        "invalid input in",
        "--on-error skip",
        f"(and {len(expected) - 5} more)",
    )
    assert sum(path in line for path in expected) == 5 and not (tmp_path / "out").exists()

    result = cli("build", "mimii", "--data-dir", raw, "--output", tmp_path / "out", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert rel.snapshot(raw) == before
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rejected = {r["path"]: r["reason"] for r in manifest["rejected"]}
    assert set(rejected) == set(expected), rejected
    for path, fragment in expected.items():
        assert fragment in rejected[path], (path, rejected[path])
    assert manifest["not_read"] == [{"path": "README.md", "reason": "documentation"}]
    assert [s["path"] for s in manifest["sources"]] == [
        "0_dB_fan/fan/id_00/abnormal/00000000.wav",
        "0_dB_fan/fan/id_00/normal/00000000.wav",
    ]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "3 dB is not a MIMII SNR" in card and "CC BY-SA 4.0" in card and "1909.09347" in card


def test_a_folder_that_is_not_mimii_is_one_line(tmp_path, cli, rel):
    data = tmp_path / "data"
    _wav(data / "0_dB_fan" / "fan" / "id_00" / "normal" / "00000000.wav", seconds=0.1)
    rel.assert_error_line(
        cli("build", "mimii", "--data-dir", data / "0_dB_fan", "--output", tmp_path / "out"),
        "no MIMII layout found",
        "fan look like folders inside an archive",
        "-6_dB_fan/",
    )
    rel.assert_error_line(
        cli("build", "mimii", "--data-dir", data, "--output", tmp_path / "o2", "--configs", "6dB"),
        "no valid MIMII clip for --configs 6dB (6 dB)",
    )
    rel.assert_error_line(
        cli("build", "mimii", "--data-dir", data, "--output", tmp_path / "o3", "--seed", "3"),
        "--seed",
        "--split-strategy random",
    )
    (tmp_path / "other" / "3_dB_fan").mkdir(parents=True)
    rel.assert_error_line(
        cli("build", "mimii", "--data-dir", tmp_path / "other", "--output", tmp_path / "o4"),
        "no MIMII layout found (3_dB_fan/: 3 dB is not a MIMII SNR",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "other"]


def _clips(snr: int, normals: int, anomalies: int):
    from libtrad.builders.mimii.layout import Clip

    return [
        Clip(snr, "fan", 0, label, f"{i:08d}.wav", Path("x"), "x")
        for label, n in (("normal", normals), ("abnormal", anomalies))
        for i in range(n)
    ]


def test_the_protocol_tests_every_anomaly_and_as_many_normal_clips():
    from libtrad.builders.mimii.protocol import assign_splits

    clips = _clips(0, 10, 3)
    baseline = assign_splits(clips)
    tested = sorted(f.rsplit("/", 2)[1] + "/" + f.rsplit("/", 1)[1] for f, s in baseline.items() if s == "test")
    assert tested == [
        "abnormal/00000000.wav",
        "abnormal/00000001.wav",
        "abnormal/00000002.wav",
        "normal/00000000.wav",
        "normal/00000001.wav",
        "normal/00000002.wav",
    ]  # the baseline's first N
    draws = {seed: assign_splits(clips, "random", seed) for seed in (0, 1)}
    for sides in draws.values():
        assert sum(s == "test" for s in sides.values()) == 6 and all(
            sides[c.file] == "test" for c in clips if c.label == "abnormal"
        )
    assert draws[0] != draws[1] and draws[0] == assign_splits(clips, "random", 0)
    # The same recording number lands on the same side at every SNR (one recording, three noise mixes).
    at_six = assign_splits(_clips(6, 10, 3), "random", 0)
    assert [s for _, s in sorted(draws[0].items())] == [s for _, s in sorted(at_six.items())]
    # A cut-down folder keeps one normal clip for training.
    assert sorted(assign_splits(_clips(0, 1, 1)).values()) == ["test", "train"]
    assert sorted(assign_splits(_clips(0, 2, 5)).values()) == ["test"] * 6 + ["train"]


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory, embed_in_process):
    """The stand-in at the default difficulty, built, and embedded in this process with logmel-stats, channels averaged
    (what ``libtrad embed --multichannel mean`` computes per unit)."""
    from libtrad.builders.registry import dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions

    work = tmp_path_factory.mktemp("mimii")
    entry = dataset("mimii")
    entry.synthesize(work / "raw", scale=0.5, progress=False)  # per machine and SNR: 3 normal, 1 abnormal
    entry.build(work / "raw", work / "ds", progress=False)
    embed_in_process(work / "ds", work / "emb", EmbedOptions(multichannel="mean"))
    return work


def test_the_stand_in_round_trips_build_load_embed_evaluate(stand_in, tmp_path, cli):
    import pyarrow.parquet as pq

    ds = _load(stand_in / "ds", "all", "test")
    assert tuple(ds[0]["audio"].get_all_samples().data.shape) == (8, 24_000)  # 8 channels, 1.5 s
    assert sorted(set(ds["snr_db"])) == [-6, 0, 6] and sorted(set(ds["machine"])) == ["fan", "pump"]
    emb = pq.read_table(next((stand_in / "emb").rglob("*.parquet")))
    assert json.loads(emb.schema.metadata[b"libtrad_embed"])["multichannel_rows"] == emb.num_rows

    result = cli("evaluate", "mimii", "--embeddings", stand_in / "emb", "--output", tmp_path / "res", "--local")
    assert result.exit_code == 0, result.output
    res = json.loads((tmp_path / "res" / "results.json").read_text())
    assert res["suite"] == "mimii" and sorted(res["sets"]) == ["0dB", "6dB", "min6dB"]
    groups = ["fan/id_00", "fan/id_02", "pump/id_00", "pump/id_02"]
    assert all(list(s["auc"]) == groups and list(s["pauc"]) == groups for s in res["sets"].values())
    assert res["counts"]["0dB"]["fan/id_00"] == {"train": 2, "normal": 1, "abnormal": 1}
    assert res["options"] == {"max_fpr": 0.1} and res["protocol_version"] == 1
    assert len(res["file_scores"]) == ds.num_rows
    for name in ("results.md", "auc_min6dB.png", "roc_6dB.png"):
        assert (tmp_path / "res" / name).is_file(), name
    assert "| fan | id_00 |" in (tmp_path / "res" / "results.md").read_text()

    board = cli("leaderboard", str(tmp_path / "res"), "--output", tmp_path / "board")
    assert board.exit_code == 0, board.output
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    assert all(f"mimii {snr} · " in text for snr in ("min6dB", "0dB", "6dB")), text


def test_all_reuses_the_snr_shards_only_when_every_snr_is_built(stand_in, tmp_path):
    from libtrad.builders.registry import dataset

    assert not (stand_in / "ds" / "data" / "all").exists()  # the default build: all = min6dB + 0dB + 6dB, listed
    card = (stand_in / "ds" / "README.md").read_text()
    assert "data/min6dB/test-" in card.split("config_name: all", 1)[1].split("config_name:", 1)[0]
    summary = dataset("mimii").build(stand_in / "raw", tmp_path / "part", configs=("0dB", "all"), progress=False)
    assert (tmp_path / "part" / "data" / "all").is_dir()  # 6 dB and -6 dB are not built: all is written itself
    assert summary.configs["all"]["test"]["rows"] == 3 * summary.configs["0dB"]["test"]["rows"]


def test_the_suite_scores_as_siren_dcase_does_and_the_gpu_path_agrees(stand_in):
    import pandas as pd
    import pyarrow.parquet as pq
    import torch

    from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix
    from libtrad.ray_jobs.evaluation import metrics
    from libtrad.ray_jobs.evaluation.suites import mimii, similarity

    df = pd.concat(
        [pq.read_table(p).to_pandas() for p in sorted((stand_in / "emb").rglob("*.parquet"))], ignore_index=True
    )
    units, columns, matrix = mimii.SUITE.plan(df), mimii.SUITE.columns_for(df), embedding_matrix(df)
    options = mimii.MimiiOptions()
    for unit in units:
        numpy_path = mimii.score_unit(unit, matrix, columns, options)
        screened = mimii.score_unit(unit, matrix, columns, options, torch.device("cpu"))
        bound = similarity.cosine_score_bound(matrix.shape[1])  # the screen's float64 sums differ in the last bits
        assert {k: v for k, v in screened.items() if k != "file_scores"} == {
            k: v for k, v in numpy_path.items() if k != "file_scores"
        }
        assert list(screened["file_scores"].values()) == pytest.approx(
            list(numpy_path["file_scores"].values()), abs=bound, rel=0
        )
        # By hand: 1 - the largest cosine similarity to the machine's train rows, AUC over its test rows.
        unit_rows = matrix.astype(np.float64) / np.linalg.norm(matrix.astype(np.float64), axis=1, keepdims=True)
        scores = 1 - (unit_rows[unit.test] @ unit_rows[unit.train].T).max(axis=1)
        assert list(numpy_path["file_scores"].values()) == pytest.approx(scores.tolist(), abs=1e-12)
        assert numpy_path["auc"] == metrics.roc_auc(columns["label"][unit.test], scores)


def test_the_suite_refuses_what_it_cannot_score(stand_in, tmp_path, cli, rel):
    import pandas as pd
    import pyarrow.parquet as pq

    from libtrad.core.errors import LibtradError
    from libtrad.ray_jobs.evaluation.suites import mimii

    df = pd.concat(
        [pq.read_table(p).to_pandas() for p in sorted((stand_in / "emb").rglob("*.parquet"))], ignore_index=True
    )
    no_bank = df[~((df["split"] == "train") & (df["machine"] == "pump") & (df["snr_db"] == 6))]
    with pytest.raises(LibtradError, match=r"6dB pump id_00: 2 test rows but no train rows \(the memory bank"):
        mimii.SUITE.plan(no_bank)
    with pytest.raises(LibtradError, match=r"'label': 2 in the row"):
        mimii.SUITE.plan(df.assign(label=2))
    rel.assert_error_line(
        cli(
            "evaluate",
            "mimii",
            "--embeddings",
            stand_in / "emb",
            "--output",
            tmp_path / "o",
            "--local",
            "--aggregation",
            "median",
        ),
        "--aggregation",
        "'median'",
        "max, mean",
    )


def test_each_difficulty_is_as_hard_as_the_card_says():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import calibrate_difficulty as C

    easy, paper = (C.mimii_scores(1.0, 0, d) for d in ("easy", "paper"))
    assert easy["score"] == 1.0 and set(easy["snr"].values()) == {1.0}
    assert 0.5 < paper["score"] < 0.97 and abs(paper["score"] - 0.708) < 0.08, paper
    assert paper["snr"]["min6dB"] < paper["snr"]["6dB"], paper  # more factory noise, harder
