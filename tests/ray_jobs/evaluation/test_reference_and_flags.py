"""Published reference rows in the leaderboard, and the saturation / SYNTHETIC warnings of results and leaderboard.

Results folders are written by hand (no embedding run); the driver test runs a toy suite in-process.
"""

from __future__ import annotations

import csv
import json

import pytest

from libtrad.ray_jobs.evaluation import flags
from libtrad.ray_jobs.evaluation import leaderboard as B
from libtrad.ray_jobs.evaluation import reference_rows as R

from .test_leaderboard import dcase, write  # results folders written by hand, as the leaderboard tests do


# ----------------------------------------------------------------------------- the data files
@pytest.mark.parametrize("name", R.TABLES)
def test_every_published_value_carries_its_source_and_every_cell_is_stored_or_listed_missing(name):
    data = R.raw_table(name)
    for key in ("paper", "table", "metric", "split", "data"):
        assert data["source"][key], key
    assert "real" in data["source"]["data"]
    columns = [c["key"] for c in data["columns"]]
    for row in data["rows"]:
        for key, cell in row["values"].items():
            assert key in columns and cell["source"] in data["value_sources"], (row["model"], key)
            assert isinstance(cell["value"], float) and 0 <= cell["value"] <= 1
        gone = row.get("missing") or {"columns": []}
        listed = columns if gone["columns"] == "all" else gone["columns"]
        assert sorted([*row["values"], *listed]) == sorted(columns), row["model"]  # nothing dropped silently
        assert not gone["columns"] or gone["why"]
    for source in data["value_sources"].values():
        assert source["what"] and isinstance(source["checked_against_paper"], bool)


def test_the_quoted_anchor_numbers_are_the_stored_ones():
    echo = {r["model"]: r["values"] for r in R.raw_table("echo-table2")["rows"]}
    assert {k: v["value"] for k, v in echo["ECHO-Small"].items()} == {"dcase_mean": 0.621, "fault_mean": 0.954,
                                                                       "overall": 0.772}
    lib = {r["model"]: r["values"] for r in R.raw_table("lib-trad-table3")["rows"]}
    assert lib["AE"]["hmean"]["value"] == 0.5012 and lib["proposed AE"]["hmean"]["value"] == 0.6291
    assert R.parse_names(["all"]) == list(R.TABLES) and R.parse_names("echo-table2,echo-table2") == ["echo-table2"]


# ----------------------------------------------------------------------------- reference rows in the leaderboard
def test_reference_rows_render_marked_published_and_are_not_ranked(tmp_path, cli):
    dcase(tmp_path / "r" / "a", 2021, 0.6, "enc-a")
    dcase(tmp_path / "r" / "b", 2021, 0.7, "enc-b")
    done = cli("leaderboard", tmp_path / "r", "--output", tmp_path / "board", "--reference", "all")
    assert done.exit_code == 0, done.output
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| `")]
    assert [line.split("|")[1].strip() for line in table[:2]] == ["`enc-b`", "`enc-a`"]  # measured first, ranked
    published = table[2:]
    assert len(published) == 3 and all("published (real data)" in line for line in published)
    assert any("`ECHO-Small`" in line and "62.10†" in line and "77.20†" in line for line in published)
    assert any("`proposed AE`" in line and "62.91†" in line for line in published)
    assert "not comparable with them" in text and "arXiv 2508.14689" in text and "not checked against" in text
    assert "BEATs, CED Base" in text  # rows without any stored value are named, not dropped
    rows = list(csv.DictReader((tmp_path / "board" / "leaderboard.csv").open()))
    assert [r["row"] for r in rows[:2]] == ["measured", "measured"]
    assert {r["encoder"]: r["row"] for r in rows[2:]}["ECHO-Small"] == "published (real data): ECHO Table 2"
    assert float(next(r for r in rows if r["encoder"] == "ECHO-Small")["siren_dcase_mean"]) == 0.621


def test_rank_with_reference_ranks_a_published_row_among_the_measured_ones(tmp_path, monkeypatch):
    """A published cell in a measured column (a data file with ECHO-Small's DCASE 2021, made up for this test
    only) ranks by the X-ARES average only with rank_with_reference."""
    data = R.raw_table("echo-table2")
    data["rows"][0]["values"]["dcase2021"] = {"value": 0.65, "source": "issue-20"}
    data["rows"][0]["missing"]["columns"].remove("dcase2021")
    monkeypatch.setattr(R, "_raw", lambda name: data)
    dcase(tmp_path / "a", 2021, 0.6, "enc-a")
    dcase(tmp_path / "b", 2021, 0.7, "enc-b")
    apart = B.write_leaderboard([tmp_path / "a", tmp_path / "b"], tmp_path / "board", reference=["echo-table2"])
    order = [row if kind == "measured" else row.model for kind, row in apart.rows()]
    assert order == ["enc-b", "enc-a", "ECHO-Small"]
    ranked = B.write_leaderboard([tmp_path / "a", tmp_path / "b"], tmp_path / "board2", reference=["echo-table2"],
                                 rank_with_reference=True)
    assert [row if kind == "measured" else row.model for kind, row in ranked.rows()] == ["enc-b", "ECHO-Small", "enc-a"]
    assert ranked.published_summary[ranked.reference[0].rows[0].name]["xares_weighted_average"] == pytest.approx(0.65)
    assert ranked.encoders == ["enc-b", "enc-a"]  # the measured ranking itself is unchanged


@pytest.mark.parametrize("args, fragments", [
    (("--reference", "table9"), ("--reference 'table9'", "lib-trad-table3", "echo-table2", "all")),
    (("--reference", "echo-table2,nope"), ("--reference 'nope'",)),
    (("--rank-with-reference",), ("--rank-with-reference", "needs --reference")),
])
def test_bad_reference_is_one_error_line_and_nothing_written(tmp_path, cli, rel, args, fragments):
    dcase(tmp_path / "r", 2021, 0.6, "enc-a")
    before = rel.snapshot(tmp_path / "r")
    rel.assert_error_line(cli("leaderboard", tmp_path / "r", "--output", tmp_path / "board", *args), *fragments)
    assert not (tmp_path / "board").exists() and rel.snapshot(tmp_path / "r") == before


# ----------------------------------------------------------------------------- saturation
@pytest.mark.parametrize("scores, flagged", [
    ((1.0, 0.995), "every encoder ≥ 99.00 %"),
    ((0.7, 0.7), "all 2 encoders score 70.00 %"),
    ((0.7, 0.8), None),
    ((0.995,), "every encoder ≥ 99.00 %"),
])
def test_leaderboard_flags_a_column_that_does_not_separate_its_encoders(tmp_path, scores, flagged):
    folders = [dcase(tmp_path / f"e{i}", 2021, s, f"enc-{i}") for i, s in enumerate(scores)]
    entries = [e for f in folders for e in B.entries_of(f, json.loads((f / "results.json").read_text()))]
    board = B.build(entries, reference=[R.load_table("echo-table2")])  # the table without its PNG (faster)
    text = B.markdown(board)
    if flagged:
        assert board.saturated == {"siren-dcase · DCASE 2021": flagged}
        assert f"saturated: this task does not separate these encoders ({flagged}" in text
    else:
        assert board.saturated == {} and "saturated" not in text


def test_saturation_of_one_result_every_score_or_a_tie_between_methods():
    groups = {"fan/00/source": 1.0, "fan/00/target": 0.995}
    high = {"suite": "siren-dcase", "sets": {"dev": {"auc": groups, "pauc": {"fan/00": 0.99}}}}
    assert flags.saturation(high)["saturated"] and flags.saturation(high)["scores"] == 3
    low = {"suite": "siren-dcase", "sets": {"dev": {"auc": {**groups, "fan/01/source": 0.9}, "pauc": {}}}}
    assert not flags.saturation(low)["saturated"] and flags.banner_lines(low) == []
    lib = {"suite": "lib-trad", "scorers": {"knn": {"auc": {"tr1": 0.7, "tr2": 0.8}},
                                            "mahalanobis": {"auc": {"tr1": 0.75, "tr2": 0.8}}},
           "model": {"family": "attention_ae", "rows": [{"experiment": "TR1", "auc": None}]}}
    sat = flags.saturation(lib)
    assert not sat["saturated"] and sat["tasks"] == [{"task": "TR2", "why": "all 2 methods score 80.00 %"}]
    assert any("(TR2)" in line for line in flags.banner_lines({**lib, "saturation": sat}))
    assert not flags.saturation({"suite": "toy", "value": 1.0})["saturated"]  # unknown suites are never flagged
    fault = {"suite": "siren-fault", "f1_weighted": 1.0, "per_class": {"a": {"f1": 1.0}, "b": {"f1": 0.98}}}
    assert not flags.saturation(fault)["saturated"]


# ----------------------------------------------------------------------------- synthetic, through the driver
SUITE = '''from dataclasses import dataclass
from pathlib import Path

SUITE = "flag-toy"
REQUIRED_COLUMNS = ("label",)


@dataclass(frozen=True)
class Options:
    value: float = 0.5


@dataclass(frozen=True)
class Unit:
    key: str


def columns_for(df):
    return {}


def plan(df, options=None):
    return [Unit("all")]


def run_unit(unit, embeddings, columns, options):
    return {"value": options.value}


def combine(unit_results, df, options=None):
    return {"suite": "xares-knn", "metric": "accuracy", "value": unit_results["all"]["value"], "test_size": 3}


def write_report(results, folder, df=None, options=None):
    (Path(folder) / "results.md").write_text("# toy report\\n")
    return [Path(folder) / "results.md"]
'''


@pytest.fixture()
def toy_suite(tmp_path, monkeypatch):
    from libtrad.ray_jobs.evaluation.evaluate import SUITES, SuiteEntry

    (tmp_path / "flag_toy_suite.py").write_text(SUITE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(SUITES, "flag-toy", SuiteEntry("flag_toy_suite", "Options"))


def embeddings(folder, *, synthetic: bool | None, card: str | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    vectors = pa.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], type=pa.list_(pa.float32()))
    pq.write_table(pa.table({"label": [0, 1, 0], "embedding": vectors}), folder / "data" / "part-0.parquet")
    dataset = {"source": "ds", "config": "default", "shards": []}
    if synthetic is not None:
        dataset["synthetic"] = synthetic
    (folder / "embeddings.json").write_text(json.dumps({"encoder": {"spec": "logmel-stats"}, "dataset": dataset}))
    if card:
        (folder / "README.md").write_text(card)
    return folder


@pytest.mark.parametrize("synthetic, card, expected", [
    (True, None, True),
    (False, None, False),
    (None, "# Embeddings\n> **⚠️ Embeddings of a SYNTHETIC STAND-IN** (ds): no real recording\n", True),  # older folder
    (None, "# Embeddings of a real dataset\n", False),
])
def test_results_on_a_synthetic_source_say_so_in_their_first_line(tmp_path, toy_suite, synthetic, card, expected):
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

    emb = embeddings(tmp_path / "emb", synthetic=synthetic, card=card)
    results = evaluate_embeddings("flag-toy", [emb], tmp_path / "out", local=True, progress=False, value=1.0)
    stored = json.loads((tmp_path / "out" / "results.json").read_text())
    first = (tmp_path / "out" / "results.md").read_text().splitlines()[0]
    assert stored["synthetic"] is expected and results["inputs"][0]["synthetic"] is expected
    assert first.startswith("**SYNTHETIC STAND-IN DATA**") is expected
    assert stored["saturation"]["saturated"] is True  # accuracy 1.0: nothing left to separate
    assert f"**{flags.SATURATED}**" in (tmp_path / "out" / "results.md").read_text()


def test_unsaturated_real_results_keep_their_own_first_line(tmp_path, toy_suite):
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

    emb = embeddings(tmp_path / "emb", synthetic=False)
    evaluate_embeddings("flag-toy", [emb], tmp_path / "out", local=True, progress=False, value=0.6)
    assert (tmp_path / "out" / "results.md").read_text() == "# toy report\n"
    stored = json.loads((tmp_path / "out" / "results.json").read_text())
    assert stored["synthetic"] is False and stored["saturation"]["saturated"] is False
    synthetic = dcase(tmp_path / "board-in", 2021, 0.6, "enc-a", synthetic=True)
    B.write_leaderboard([synthetic], tmp_path / "board")
    assert (tmp_path / "board" / "leaderboard.md").read_text().startswith("**SYNTHETIC STAND-IN DATA**")
