"""Published reference rows in the leaderboard, and the saturation / SYNTHETIC warnings of results and leaderboard.

Results folders are written by hand (no embedding run); the driver test runs a toy suite in-process. The
package data is held to the papers' transcription in ../shared/reference (skipped where it is absent).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from libtrad.ray_jobs.evaluation import flags
from libtrad.ray_jobs.evaluation import leaderboard as B
from libtrad.ray_jobs.evaluation import paper_columns as P
from libtrad.ray_jobs.evaluation import reference_rows as R

from .test_leaderboard import dcase  # results folders written by hand, as the leaderboard tests do

# ----------------------------------------------------------------------------- the data files
SHAPES = {"echo-table2": (9, 14), "lib-trad-table3": (5, 5), "lib-trad-table2": (1, 3)}  # rows × columns printed


@pytest.mark.parametrize("name", R.TABLES)
def test_every_published_cell_is_stored_with_its_source(name):
    data, table = R.raw_table(name), R.load_table(name)
    for key in ("paper", "table", "metric", "split", "data"):
        assert data["source"][key], key
    assert "real" in data["source"]["data"] and not table.missing and not table.empty
    rows, columns = SHAPES[name]
    assert len(table.rows) == rows and len(table.columns) == columns
    for row in table.rows:
        assert list(row.cells) == table.columns, row.model  # every model, every column
        printed_row = " · ".join(row.printed.values())
        arxiv = "arXiv 2508.14689" if name == "echo-table2" else "no arXiv id"
        for column, cell in row.cells.items():
            assert cell.checked and float(cell.printed) == cell.value
            assert cell.cite == (
                f"{data['source']['paper']} ({arxiv}), {data['source']['table']}, row "
                f"'{printed_row}', column '{table.paper_headers[column]}'"
            )
    for source in data["value_sources"].values():
        assert source["what"] and isinstance(source["checked_against_paper"], bool)


def test_the_paper_columns_are_the_measured_ones():
    """ECHO's cells sit in the columns a measured result of the same component and metric fills."""
    echo = R.load_table("echo-table2")
    assert echo.paper_headers["siren-fault · CWRU"] == "CWRU"
    assert echo.paper_headers["siren-dcase · DCASE 2021"] == "2021"
    assert {P.BY_NAME[c].metric for c in P.FAULT} == {"accuracy"}
    lib = R.load_table("lib-trad-table3")
    assert lib.columns == [*P.TR, P.LIB_TRAD_HMEAN, "lib-trad · inference ms"]
    assert R.load_table("lib-trad-table2").columns == [f"lib-trad CNN (supervised) · TR{i}" for i in (1, 2, 3)]
    assert R.parse_names(["all"]) == list(R.TABLES) and R.parse_names("echo-table2,echo-table2") == ["echo-table2"]


def published_tables() -> dict[str, list[list[str]]]:
    """The three tables of issue 26's transcription (../shared/reference/published-tables.md) as rows of cells."""
    path = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "published-tables.md"
    if not path.is_file():
        pytest.skip(f"the papers' transcription is not at {path} (../shared/reference beside the checkout)")
    tables, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= {"-"}:
            continue
        if current is None:
            current = []
            tables.append(current)
        current.append(cells)
    assert len(tables) == 3, "published-tables.md: expected LiB-TRAD Tables 2 and 3 and ECHO Table 2"
    return dict(zip(("lib-trad-table2", "lib-trad-table3", "echo-table2"), tables))


def test_the_package_data_is_the_transcription():
    """Every printed cell, row and header of the data files equals published-tables.md (no drift either way)."""
    md = published_tables()
    head, *rows = md["lib-trad-table2"]
    stored = R.raw_table("lib-trad-table2")
    assert [c["paper"] for c in stored["columns"]] == [f"{head[0]} {r[0]}" for r in rows]
    assert [v["printed"] for v in stored["rows"][0]["values"].values()] == [r[1] for r in rows]
    for name in ("lib-trad-table3", "echo-table2"):
        head, *rows = md[name]
        stored = R.raw_table(name)
        fields = len(stored["rows"][0]["printed"])  # model (and pretraining data, scale)
        assert [c["paper"] for c in stored["columns"]] == head[fields:], name
        assert [
            [*r["printed"].values(), *(v["printed"] for v in r["values"].values())] for r in stored["rows"]
        ] == rows, name


def test_printed_means_that_disagree_with_their_columns_are_flagged_and_kept_as_printed():
    flagged = {(t.name, row.model, column): cell for t in map(R.load_table, R.TABLES) for row, column, cell in t.flags}
    assert set(flagged) == {
        ("echo-table2", "BEATs Base", "overall mean"),
        ("echo-table2", "CED Small", "fault mean"),
        ("echo-table2", "CED Small", "overall mean"),
        ("lib-trad-table3", "Dasheng", P.LIB_TRAD_HMEAN),
    }
    beats = flagged[("echo-table2", "BEATs Base", "overall mean")]
    assert beats.value == 0.740 and beats.printed == "0.740"
    assert beats.flag.startswith("printed 0.740; the mean of its 11 columns is 0.7295 (0.730); stored as printed")
    assert "mean of its DCASE mean and fault mean (0.7405)" in beats.flag
    # the rule itself: rounding of the printed cells is allowed for, a last-digit slip beyond it is not
    cell = lambda text: R.ReferenceCell(float(text), text, "paper", True, "")  # noqa: E731
    mean = P.BY_NAME["fault mean"]
    parts = {c: cell(v) for c, v in zip(P.FAULT, ("0.975", "0.945", "0.905", "0.951", "1.000"))}  # FISHER Small: 0.9552
    assert R.check_mean(mean, cell("0.955"), parts, {}) is None and R.check_mean(mean, cell("0.956"), parts, {}) is None
    assert R.check_mean(mean, cell("0.957"), parts, {}).startswith("printed 0.957; the mean of its 5 columns is 0.9552")


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
    assert len(published) == 15 and all("published (real data)" in line for line in published)
    header = next(line for line in text.splitlines() if line.startswith("| encoder"))
    beats = next(line for line in published if line.startswith("| `BEATs Base`"))
    cells = dict(zip([h.strip() for h in header.split("|")[1:-1]], [c.strip() for c in beats.split("|")[1:-1]]))
    assert cells["siren-dcase · DCASE 2021"] == "61.30" and cells["siren-fault · CWRU"] == "88.60"
    assert cells["overall mean"] == "74.00‡" and cells["DCASE mean"] == "61.90"
    assert "`‡` **BEATs Base**, overall mean: printed 0.740; the mean of its 11 columns is 0.7295" in text
    assert "| `Proposed` — published (real data), LiB-TRAD Table 3 |" in text and "0.17 ms" in text
    assert "not comparable with them" in text and "arXiv 2508.14689" in text and "†" not in text
    rows = list(csv.DictReader((tmp_path / "board" / "leaderboard.csv").open()))
    assert [r["row"] for r in rows[:2]] == ["measured", "measured"]
    echo = next(r for r in rows if r["encoder"] == "ECHO Small")
    assert echo["row"] == "published (real data): ECHO Table 2" and float(echo["DCASE mean"]) == 0.621
    sources = list(csv.DictReader((tmp_path / "board" / "leaderboard_published.csv").open()))
    assert len(sources) == 9 * 14 + 5 * 5 + 3  # every published cell, one a line, with its source
    flag = next(r for r in sources if r["model"] == "BEATs Base" and r["column"] == "overall mean")
    assert (
        flag["printed"] == "0.740"
        and flag["flag"].startswith("printed 0.740")
        and "Table 2, row 'BEATs" in flag["source"]
    )


def test_rank_with_reference_ranks_the_published_rows_among_the_measured_ones(tmp_path):
    """Published DCASE 2021 cells rank by the X-ARES average only with rank_with_reference."""
    dcase(tmp_path / "a", 2021, 0.6, "enc-a")
    dcase(tmp_path / "b", 2021, 0.7, "enc-b")
    apart = B.write_leaderboard([tmp_path / "a", tmp_path / "b"], tmp_path / "board", reference=["echo-table2"])
    order = [row if kind == "measured" else row.model for kind, row in apart.rows()]
    assert order[:3] == ["enc-b", "enc-a", "BEATs Base"]
    ranked = B.write_leaderboard(
        [tmp_path / "a", tmp_path / "b"], tmp_path / "board2", reference=["echo-table2"], rank_with_reference=True
    )
    order = [row if kind == "measured" else row.model for kind, row in ranked.rows()]
    # 2021: enc-b 0.700, BEATs 0.613, ECHO Small 0.602, enc-a 0.600, FISHER Small 0.595, …
    assert order[:5] == ["enc-b", "BEATs Base", "ECHO Small", "enc-a", "FISHER Small"]
    echo = next(r for r in ranked.reference[0].rows if r.model == "ECHO Small")
    assert ranked.published_summary[echo.name]["xares_weighted_average"] == pytest.approx(0.602)
    assert ranked.encoders == ["enc-b", "enc-a"]  # the measured ranking itself is unchanged


def test_diff_against_a_published_row_cell_by_cell(tmp_path, cli):
    dcase(tmp_path / "r" / "a", 2021, 0.6, "enc-a")
    done = cli(
        "leaderboard",
        tmp_path / "r",
        "--output",
        tmp_path / "board",
        "--reference",
        "all",
        "--diff-against",
        "echo-table2:BEATs Base",
    )
    assert done.exit_code == 0, done.output
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "## Difference from `BEATs Base` (ECHO Table 2)" in text and "| `enc-a` | -1.30 |" in text
    diff = list(csv.DictReader((tmp_path / "board" / "leaderboard_diff.csv").open()))
    assert diff == [
        {"encoder": "enc-a", "siren-dcase · DCASE 2021": repr(0.6 - 0.613), "against": "echo-table2:BEATs Base"}
    ]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            ("--reference", "table9"),
            ("--reference 'table9'", "lib-trad-table3", "echo-table2", "lib-trad-table2", "all"),
        ),
        (("--reference", "echo-table2,nope"), ("--reference 'nope'",)),
        (("--rank-with-reference",), ("--rank-with-reference", "needs --reference")),
        (("--diff-against", "ECHO Small"), ("--diff-against 'ECHO Small'", "needs --reference")),
        (
            ("--reference", "lib-trad-table3", "--diff-against", "BEATs Base"),
            ("--diff-against 'BEATs Base'", "lib-trad-table3:BEATs"),
        ),
        (
            ("--reference", "echo-table2", "--diff-against", "GPT"),
            ("--diff-against 'GPT'", "no such published row", "echo-table2:ECHO Small"),
        ),
    ],
)
def test_bad_reference_is_one_error_line_and_nothing_written(tmp_path, cli, rel, args, fragments):
    dcase(tmp_path / "r", 2021, 0.6, "enc-a")
    before = rel.snapshot(tmp_path / "r")
    rel.assert_error_line(cli("leaderboard", tmp_path / "r", "--output", tmp_path / "board", *args), *fragments)
    assert not (tmp_path / "board").exists() and rel.snapshot(tmp_path / "r") == before


# ----------------------------------------------------------------------------- saturation
@pytest.mark.parametrize(
    "scores, flagged",
    [
        ((1.0, 0.995), "every encoder ≥ 99.00 %"),
        ((0.7, 0.7), "all 2 encoders score 70.00 %"),
        ((0.7, 0.8), None),
        ((0.995,), "every encoder ≥ 99.00 %"),
    ],
)
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
    lib = {
        "suite": "lib-trad",
        "scorers": {"knn": {"auc": {"tr1": 0.7, "tr2": 0.8}}, "mahalanobis": {"auc": {"tr1": 0.75, "tr2": 0.8}}},
        "model": {"family": "attention_ae", "rows": [{"experiment": "TR1", "auc": None}]},
    }
    sat = flags.saturation(lib)
    assert not sat["saturated"] and sat["tasks"] == [{"task": "TR2", "why": "all 2 methods score 80.00 %"}]
    assert any("(TR2)" in line for line in flags.banner_lines({**lib, "saturation": sat}))
    assert not flags.saturation({"suite": "toy", "value": 1.0})["saturated"]  # unknown suites are never flagged
    fault = {"suite": "siren-fault", "f1_weighted": 1.0, "per_class": {"a": {"f1": 1.0}, "b": {"f1": 0.98}}}
    assert not flags.saturation(fault)["saturated"]


# ----------------------------------------------------------------------------- synthetic, through the driver
SUITE = """from dataclasses import dataclass
from pathlib import Path

from libtrad.ray_jobs.evaluation.suites.base import Suite


@dataclass(frozen=True)
class Options:
    value: float = 0.5


@dataclass(frozen=True)
class Unit:
    key: str


class FlagToySuite(Suite):
    name = "flag-toy"
    options = Options
    required_columns = ("label",)

    def columns_for(self, df):
        return {}

    def plan(self, df, options=None):
        return [Unit("all")]

    def run_unit(self, unit, embeddings, columns, options):
        return {"value": options.value}

    def combine(self, unit_results, df, options=None):
        return {"suite": "xares-knn", "metric": "accuracy", "value": unit_results["all"]["value"], "test_size": 3}

    def write_report(self, results, folder, df=None, options=None):
        (Path(folder) / "results.md").write_text("# toy report\\n")
        return [Path(folder) / "results.md"]


SUITE = FlagToySuite()
"""


@pytest.fixture()
def toy_suite(tmp_path, monkeypatch):
    from libtrad.ray_jobs.evaluation.evaluate import SUITES

    (tmp_path / "flag_toy_suite.py").write_text(SUITE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(SUITES, "flag-toy", "flag_toy_suite:SUITE")


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


@pytest.mark.parametrize(
    "synthetic, card, expected",
    [
        (True, None, True),
        (False, None, False),
        (
            None,
            "# Embeddings\n> **⚠️ Embeddings of a SYNTHETIC STAND-IN** (ds): no real recording\n",
            True,
        ),  # older folder
        (None, "# Embeddings of a real dataset\n", False),
    ],
)
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
