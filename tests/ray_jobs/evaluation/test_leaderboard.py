"""libtrad leaderboard: headline values of every suite, the two summaries by hand, clash refusals, outputs."""

from __future__ import annotations

import csv
import json

import pytest

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.evaluation import leaderboard as B


def inputs(encoder="enc-a", dataset="owner/ds", config="cfg", shards=("s1",)):
    return [
        {
            "path": f"/emb/{encoder}",
            "encoder": encoder,
            "dataset": dataset,
            "config": config,
            "dataset_shards": list(shards),
            "cache_key": "k",
        }
    ]


def write(folder, **results):
    folder.mkdir(parents=True)
    results.setdefault("protocol_version", 1)
    results.setdefault("options", {})
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def knn(folder, value, size, encoder="enc-a", **kw):
    return write(
        folder,
        suite="xares-knn",
        task=kw.pop("task", "ds/cfg"),
        metric="accuracy",
        value=value,
        test_size=size,
        inputs=inputs(encoder, **kw),
    )


def dcase(folder, year, score, encoder="enc-a", **extra):
    counts = {"dev": {"fan/00": {"train": 9, "normal": 3, "anomaly": 2, "unlabelled": 0}}}
    return write(
        folder,
        suite="siren-dcase",
        year=year,
        score=score,
        counts=counts,
        inputs=inputs(encoder, dataset=f"owner/dcase{year}", config=None),
        **extra,
    )


def test_weighted_average_by_hand():
    # 0.8 on 100 test rows and 0.4 on 300: (80 + 120) / 400
    assert B.weighted_average([("accuracy", 0.8, 100), ("auc", 0.4, 300)]) == pytest.approx(0.5)
    assert B.weighted_average([("accuracy", None, 100)]) is None
    assert B.normalised("accuracy", 0.25) == 0.25  # metrics in [0, 1] keep their value


def test_table_summaries_and_ranking(tmp_path):
    three = {f"tr{i}": {"train": 5, "normal": 4, "abnormal": 1} for i in (1, 2, 3)}
    folders = [
        knn(tmp_path / "a-knn", 0.8, 100),
        knn(tmp_path / "b-knn", 0.9, 100, encoder="enc-b"),
        write(
            tmp_path / "a-lp",
            suite="linear-probe",
            task="other/x",
            metric="accuracy",
            mean=0.4,
            std=0.01,
            test_size=300,
            inputs=inputs("enc-a", dataset="owner/other", config="x"),
        ),
        dcase(tmp_path / "a-2021", 2021, 0.6),
        dcase(tmp_path / "a-2022", 2022, 0.7),
        write(
            tmp_path / "a-lib",
            suite="lib-trad",
            inputs=inputs("enc-a", dataset="owner/lib", config="all"),
            scorers={
                "knn": {"harmonic_mean": 0.9},
                "mahalanobis": {"auc": {"tr1": 0.5, "tr2": 0.5, "tr3": 0.5}, "harmonic_mean": 0.5},
            },
            counts=three,
        ),
    ]
    board = B.write_leaderboard([tmp_path], tmp_path / "board")
    assert board.encoders == ["enc-b", "enc-a"]  # 0.9 ranks above enc-a's average
    a = board.summary["enc-a"]
    # enc-a's headlines: 0.8×100 + 0.4×300 + 0.6×5 + 0.7×5 + 0.9×15 + 0.5×15 over 440 rows (the AUC per TR are extras)
    assert a["xares_weighted_average"] == pytest.approx((80 + 120 + 3 + 3.5 + 13.5 + 7.5) / 440)
    assert a["tasks"] == 6
    # the paper's DCASE mean needs all six years: blank, and the note says which are missing
    assert board.means[("enc-a", "DCASE mean")] is None and "DCASE mean" in board.columns
    assert "`enc-a` lacks DCASE 2020, DCASE 2023, DCASE 2024, DCASE 2025" in board.blanks["DCASE mean"]
    assert board.columns[:8] == [
        "siren-dcase · DCASE 2021",
        "siren-dcase · DCASE 2022",
        "DCASE mean",
        "overall mean",
        "lib-trad · TR1",
        "lib-trad · TR2",
        "lib-trad · TR3",
        "lib-trad · harmonic mean",
    ]
    assert "lib-trad knn · harmonic mean" in board.columns  # the 1-NN scorer keeps a column of its own
    out = tmp_path / "board"
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert rows[1]["encoder"] == "enc-a" and float(rows[1]["xares-knn · ds/cfg"]) == 0.8
    assert rows[1]["DCASE mean"] == "" and float(rows[1]["lib-trad · TR2"]) == 0.5
    assert "enc-b" in (out / "leaderboard.md").read_text() and (out / "leaderboard.png").stat().st_size > 0
    assert len(folders) == 6


def test_the_papers_means_of_a_measured_row_when_every_column_is_there(tmp_path):
    """DCASE mean = mean of the six years; LiB-TRAD's harmonic mean only over all three experiments."""
    folders = [dcase(tmp_path / f"d{year}", year, 0.5 + (year - 2020) / 100) for year in range(2020, 2026)]
    folders.append(
        write(
            tmp_path / "lib",
            suite="lib-trad",
            inputs=inputs("enc-a", dataset="owner/lib", config="tr1"),
            scorers={"mahalanobis": {"auc": {"tr1": 0.7}, "harmonic_mean": 0.7}},
            counts={"tr1": {"train": 5, "normal": 4, "abnormal": 1}},
        )
    )
    entries = [e for f in folders for e in B.entries_of(f, json.loads((f / "results.json").read_text()))]
    board = B.build(entries)
    assert board.means[("enc-a", "DCASE mean")] == pytest.approx(0.525)  # (0.50 + … + 0.55) / 6
    assert board.value("measured", "enc-a", "lib-trad · TR1") == 0.7
    assert board.value("measured", "enc-a", "lib-trad · harmonic mean") is None  # TR2, TR3 missing
    assert board.blanks["lib-trad · harmonic mean"] == [
        "`enc-a` has no AUC for TR2, TR3 (the paper's harmonic mean is over all three)"
    ]
    assert "fault mean" not in board.columns  # no fault column shown: no fault mean either


@pytest.mark.parametrize(
    "change, clash",
    [
        ({"shards": ("s2",)}, "different shards"),
        ({"dataset": "owner/else", "shards": ("s2",)}, "different datasets"),
        ({"dataset": "owner/else"}, None),  # the same shards under another name: the same data
    ],
)
def test_different_embeddings_in_one_column_are_refused(tmp_path, change, clash):
    knn(tmp_path / "one", 0.8, 100)
    knn(tmp_path / "two", 0.7, 100, encoder="enc-b", **change)
    if clash is None:
        board = B.write_leaderboard([tmp_path / "one", tmp_path / "two"], tmp_path / "board")
        assert board.columns == ["xares-knn · ds/cfg"]
        return
    with pytest.raises(LibtradError, match=clash) as info:
        B.write_leaderboard([tmp_path / "one", tmp_path / "two"], tmp_path / "board")
    assert str(tmp_path / "one") in str(info.value) and str(tmp_path / "two") in str(info.value)
    assert not (tmp_path / "board").exists()


def test_protocol_versions_options_and_duplicates_are_refused(tmp_path):
    knn(tmp_path / "one", 0.8, 100)
    newer = knn(tmp_path / "two", 0.7, 100, encoder="enc-b")
    data = json.loads((newer / "results.json").read_text())
    (newer / "results.json").write_text(json.dumps({**data, "protocol_version": 2}))
    with pytest.raises(LibtradError, match="protocol version 1 vs 2"):
        B.write_leaderboard([tmp_path / "one", newer], tmp_path / "board")
    (newer / "results.json").write_text(json.dumps({**data, "options": {"k": 5}}))
    with pytest.raises(LibtradError, match="different options: k"):
        B.write_leaderboard([tmp_path / "one", newer], tmp_path / "board")
    knn(tmp_path / "again", 0.9, 100)
    with pytest.raises(LibtradError, match="enc-a appears twice"):
        B.write_leaderboard([tmp_path / "one", tmp_path / "again"], tmp_path / "board")


def test_cli_leaderboard_and_a_clash_as_one_line(tmp_path, cli, rel):
    knn(tmp_path / "r" / "one", 0.8, 100)
    done = cli("leaderboard", tmp_path / "r" / "one", "--output", tmp_path / "board")
    assert done.exit_code == 0, done.output
    assert "X-ARES weighted average" in done.output and (tmp_path / "board" / "leaderboard.csv").is_file()
    knn(tmp_path / "r" / "two", 0.7, 100, encoder="enc-b", shards=("other",))
    line = rel.assert_error_line(cli("leaderboard", tmp_path / "r", "--output", tmp_path / "board2"), "not comparable")
    assert "one" in line and "two" in line
    missing = cli("leaderboard", tmp_path / "missing", "--output", tmp_path / "b3")
    rel.assert_error_line(missing, "no such results folder")


def test_normalising_over_the_encoders_in_the_table(tmp_path):
    """--normalise encoders: each column stretched to [0, 1] over the encoders (best 1, worst 0)."""
    knn(tmp_path / "a1", 0.6, 100, encoder="enc-a", dataset="owner/one")
    knn(tmp_path / "b1", 0.8, 100, encoder="enc-b", dataset="owner/one")
    knn(tmp_path / "c1", 0.7, 100, encoder="enc-c", dataset="owner/one")
    knn(tmp_path / "a2", 0.9, 300, encoder="enc-a", dataset="owner/two", task="two")
    knn(tmp_path / "b2", 0.5, 300, encoder="enc-b", dataset="owner/two", task="two")
    knn(tmp_path / "c2", 0.7, 300, encoder="enc-c", dataset="owner/two", task="two")
    board = B.write_leaderboard([tmp_path], tmp_path / "board", normalise="encoders")
    # enc-a: 0 on column one (worst) and 1 on column two (best): (0×100 + 1×300) / 400
    assert board.summary["enc-a"]["xares_weighted_average"] == pytest.approx(0.75)
    assert board.summary["enc-b"]["xares_weighted_average"] == pytest.approx(0.25)
    assert board.summary["enc-c"]["xares_weighted_average"] == pytest.approx(0.5)
    assert "over the encoders in this table" in (tmp_path / "board" / "leaderboard.md").read_text()
    with pytest.raises(Exception, match="normalise"):
        B.build([], normalise="z-score")


# ------------------------------------------------------------------------- from test_reliability_evaluation_inputs.py
def test_leaderboard_refuses_an_edited_results_json_and_no_verify_lists_it(emb, tmp_path, cli, rel, evaluated):
    res = evaluated(emb, tmp_path / "res", cli)
    data = json.loads((res / "results.json").read_text())
    data["f1_weighted"] = 0.987
    (res / "results.json").write_text(json.dumps(data))
    before = rel.snapshot(res)
    result = cli("leaderboard", res, "--output", tmp_path / "board")
    rel.assert_error_line(result, str(res / "results.json"), "corrupted")
    assert not (tmp_path / "board").exists() and rel.snapshot(res) == before
    used = cli("leaderboard", res, "--output", tmp_path / "board", "--no-verify")
    assert used.exit_code == 0, used.output
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "## Inputs not verified" in text and "corrupted" in text and "98.70" in text


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("f1_weighted", 7.5, "weighted F1 7.5 lies outside [0, 1]"),
        ("f1_weighted", "0.9", 'f1_weighted is "0.9" (str), expected'),
        ("f1_weighted", True, "f1_weighted is true (bool)"),
        ("inputs", "emb", 'inputs is "emb" (str), expected a list'),
        ("options", [1], "options is [1] (list), expected an object"),
        ("protocol_version", 1, None),
    ],
)
def test_leaderboard_checks_the_fields_it_reads(tmp_path, cli, rel, field, value, fragment):
    res = tmp_path / "res"
    res.mkdir()
    data = {
        "suite": "siren-fault",
        "f1_weighted": 0.5,
        "predictions": [],
        "protocol_version": 1,
        "options": {},
        "inputs": [{"path": "/emb", "encoder": "enc", "dataset": "d", "config": "c", "dataset_shards": ["s"]}],
    }
    data[field] = value
    (res / "results.json").write_text(json.dumps(data))
    result = cli("leaderboard", res, "--output", tmp_path / "board")
    if fragment is None:
        assert result.exit_code == 0, result.output
    else:
        rel.assert_error_line(result, str(res / "results.json"), fragment)


# ------------------------------------------------------------------------- DCASE: SIREN's score or the official one
def test_dcase_results_rank_by_siren_or_the_official_score_and_say_which(tmp_path, cli):
    official = lambda v: {"set": "dev", "rule": "section", "score": v, "ci95": 0.01}  # noqa: E731
    dcase(tmp_path / "a", 2023, 0.8, "enc-a", official=official(0.6))
    dcase(tmp_path / "b", 2023, 0.7, "enc-b", official=official(0.75))
    siren = B.write_leaderboard([tmp_path / "a", tmp_path / "b"], tmp_path / "s", no_verify=True)
    assert siren.encoders == ["enc-a", "enc-b"] and "DCASE 2023 official" not in " ".join(siren.columns)
    assert "rank by **SIREN's year score**" in (tmp_path / "s" / "leaderboard.md").read_text()
    board = B.write_leaderboard([tmp_path / "a", tmp_path / "b"], tmp_path / "o", no_verify=True, rank_by="official")
    assert board.encoders == ["enc-b", "enc-a"]
    column = "siren-dcase · DCASE 2023 official"
    assert board.cells[("enc-b", column)].value == 0.75 and board.cells[("enc-b", column)].headline
    assert not board.cells[("enc-b", "siren-dcase · DCASE 2023")].headline  # SIREN's shown, not ranked
    assert "rank by the **official DCASE score**" in (tmp_path / "o" / "leaderboard.md").read_text()
    dcase(tmp_path / "old", 2023, 0.9, "enc-c")  # written before the official score existed
    older = B.write_leaderboard([tmp_path / "a", tmp_path / "old"], tmp_path / "c", no_verify=True, rank_by="official")
    assert older.encoders == ["enc-a", "enc-c"] and older.cells[("enc-c", column)].value is None
    assert any("has no official DCASE score" in note for note in older.blanks[column])
    result = cli("leaderboard", tmp_path / "a", "--output", tmp_path / "x", "--no-verify", "--rank-by", "dcase")
    assert result.exit_code == 2 and "'dcase' is not one of 'siren', 'official'" in result.output
