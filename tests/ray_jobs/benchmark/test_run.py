"""``libtrad benchmark`` end to end on small stand-ins of every component of ECHO Table 2 and LiB-TRAD Table 3.

One data root holds a stand-in of each component but DCASE 2025 (its gap); the first run builds, embeds,
evaluates and reports everything; adding DCASE 2025 and running again computes only DCASE 2025; a third
run computes nothing (and starts no Ray). A run killed mid-embed finishes the rest. The in-process runs share
one local Ray held by the module (a benchmark keeps a session its caller started, as it does a cluster's): three
Ray starts fewer took the file from 65 to 54 s here (75 to 70 CPU-s); the killed run is a child interpreter with
its own. The stand-ins are tiny, so the numbers mean nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from libtrad.builders.registry import LIB_TRAD, SIREN
from libtrad.folders.marker import marker_kind
from libtrad.folders.publish import plan_upload
from libtrad.ray_jobs import cluster
from libtrad.ray_jobs.benchmark.run import run_benchmark
from libtrad.ray_jobs.evaluation import paper_columns as P

PAPER = [c.name for c in P.COLUMNS if c.tables in (P.ECHO, P.LIB3) and c.name != "lib-trad · inference ms"]


def synth(root: Path, component: str) -> None:
    if component == "lib-trad":
        LIB_TRAD.synthesize(root / component, scale=0.02, seed=0, progress=False)
    else:  # IICA's 5 folds need 5 files of a class: its tiny scale
        SIREN.synthesize(
            root / component, component=component, scale=1.0 if component == "iica" else 0.5, progress=False
        )


@pytest.fixture(scope="module")
def ray_local():
    with cluster.ray_session(num_cpus=2) as ray:
        yield ray


@pytest.fixture(scope="module")
def runs(ray_local, tmp_path_factory):
    """The data root and the first two runs: everything but DCASE 2025, then with it."""
    root = tmp_path_factory.mktemp("bench") / "data"
    for component in ("dcase2020", "dcase2021", "dcase2022", "dcase2023", "dcase2024", "iiee", "iica", "cwru",
                      "mafaulda", "lib-trad"):  # fmt: skip
        synth(root, component)
    out = root.parent / "out"
    first = run_benchmark(["logmel-stats"], out, suite="all", data_root=root, progress=False)
    first.record = json.loads((out / "benchmark.json").read_text())
    first_board = (out / "leaderboard" / "leaderboard.md").read_text()
    synth(root, "dcase2025")
    second = run_benchmark(["logmel-stats"], out, suite="all", data_root=root, progress=False)
    return root, out, first, first_board, second


def test_first_run_fills_the_papers_columns_with_a_gap_for_the_missing_component(runs):
    root, out, first, board_md, _ = runs
    assert first.missing == ["dcase2025"] and not first.failed
    assert first.actor_loads == 1  # one local node: one actor, loaded once, reused for all 12 embeddings
    record = first.record
    assert record["last_run"]["counts"]["build done"] == 10 and record["last_run"]["counts"]["evaluate done"] == 11
    assert "| siren-dcase · DCASE 2025 |" not in board_md.split("\n")[0]
    # the measured row: every paper column of the components present, DCASE 2025 (and the means needing it) blank
    header = next(line for line in board_md.splitlines() if line.startswith("| encoder |"))
    names = [c.strip() for c in header.strip("|").split("|")]
    row = next(line for line in board_md.splitlines() if line.startswith("| `logmel-stats` |"))
    cells = dict(zip(names, (c.strip() for c in row.strip("|").split("|"))))
    assert [c for c in PAPER if c not in names] == []  # the papers' columns, all of them
    blank = {c for c in PAPER if cells[c] == "–"}
    assert blank == {"siren-dcase · DCASE 2025", "DCASE mean", "overall mean"}, cells
    assert "| `ECHO Small` — published (real data), ECHO Table 2 |" in board_md
    assert "## Difference from `ECHO Small`" in board_md


def test_second_run_computes_only_the_new_component(runs):
    _, out, _, _, second = runs
    record = json.loads((out / "benchmark.json").read_text())
    counts = record["last_run"]["counts"]
    assert counts == {
        "build done": 1,
        "build skipped": 10,
        "embed done": 1,
        "embed skipped": 11,
        "evaluate done": 1,
        "evaluate skipped": 11,
    }, counts
    assert not second.missing and record["components"]["dcase2025"]["status"] == "ok"
    board = second.board
    assert board.value("measured", "logmel-stats", "siren-dcase · DCASE 2025") is not None
    assert board.value("measured", "logmel-stats", "overall mean") is not None  # all eleven columns now
    diffs = board.differences()["logmel-stats"]
    echo = board.diff_against.cells["siren-fault · CWRU"].value
    assert diffs["siren-fault · CWRU"] == pytest.approx(
        board.value("measured", "logmel-stats", "siren-fault · CWRU") - echo
    )


def test_provenance_card_and_publication(runs):
    root, out, *_ = runs
    record = json.loads((out / "benchmark.json").read_text())
    assert record["suite"] == "all" and record["encoders"][0]["fingerprint"]["kind"] == "logmel-stats"
    cwru = record["components"]["cwru"]
    assert cwru["kind"] == "raw" and cwru["location"] == str((root / "cwru").resolve()) and len(cwru["identity"]) == 64
    assert record["device"]["requested"] == "auto" and record["libtrad_version"]
    assert set(record["stages"]) == {"build", "embed", "evaluate", "report"}
    card = (out / "README.md").read_text()
    assert "SYNTHETIC STAND-INS" in card and "libtrad benchmark" in card and "| cwru | raw |" in card
    assert marker_kind(out) == "benchmark"
    plan = plan_upload(out, "org/bench", "dataset", False, ("README.md", "benchmark.json"))
    sent = [name for name, _ in plan.files]
    assert "benchmark.json" in sent and "leaderboard/leaderboard.md" in sent
    assert any(n.startswith("results/logmel-stats/cwru/") for n in sent)
    assert not any(n.startswith(("datasets/", "embeddings/")) for n in sent)


def test_an_unchanged_rerun_computes_nothing_and_starts_no_ray(runs, monkeypatch):
    root, out, *_ = runs

    def no_ray(*args, **kwargs):
        raise AssertionError("an unchanged re-run started Ray")

    monkeypatch.setattr(cluster, "ray_session", no_ray)
    again = run_benchmark(["logmel-stats"], out, suite="all", data_root=root, progress=False)
    counts = json.loads((out / "benchmark.json").read_text())["last_run"]["counts"]
    assert set(counts) == {"build skipped", "embed skipped", "evaluate skipped"} and again.actor_loads == 0


def test_stages_and_hub_folders(runs, tmp_path):
    """--hub DIR reads built datasets as they are; --to-stage build stops there."""
    _, out, *_ = runs
    done = run_benchmark(
        ["logmel-stats"],
        tmp_path / "hub-run",
        suite="siren",
        hub=str(out / "datasets"),
        components=("cwru", "iica"),
        to_stage="build",
        progress=False,
    )
    record = json.loads((tmp_path / "hub-run" / "benchmark.json").read_text())
    assert record["components"]["cwru"]["kind"] == "built" and not done.failed
    assert not (tmp_path / "hub-run" / "datasets").exists() and not (tmp_path / "hub-run" / "leaderboard").exists()


def test_killed_mid_embed_the_same_command_finishes_the_rest(runs, tmp_path, driver):
    root, *_ = runs
    out = tmp_path / "killed"
    args = ["benchmark", "--encoder", "logmel-stats", "--suite", "siren", "--components", "cwru,iica"]
    args += ["--data-root", str(root), "--output", str(out), "--actors", "1", "--no-progress"]
    driver.killed_driver(["-m", "libtrad.cli", *args], 1)
    record = json.loads((out / "benchmark.json").read_text())
    assert set(record["stages"]["build"]) == {"cwru", "iica"} and not record["stages"]["embed"]
    finished = run_benchmark(
        ["logmel-stats"], out, suite="siren", data_root=root, components=("cwru", "iica"), progress=False
    )
    record = json.loads((out / "benchmark.json").read_text())
    assert record["last_run"]["counts"]["build skipped"] == 2 and not finished.failed
    assert sum(r["units_reused"] for r in record["stages"]["embed"].values()) == 1
    assert finished.board.value("measured", "logmel-stats", "siren-fault · CWRU") is not None


def test_embeddings_through_the_shared_pool_equal_embed_alone(runs, tmp_path):
    import pyarrow.parquet as pq

    from libtrad.ray_jobs.embedding.embed import embed_dataset

    _, out, *_ = runs
    shared = out / "embeddings" / "logmel-stats" / "mafaulda-vibration"
    alone = embed_dataset(
        str(out / "datasets" / "mafaulda"),
        "logmel-stats",
        tmp_path / "alone",
        channels=",".join(P.ACCELEROMETERS),
        progress=False,
    )
    assert alone.cache_key == json.loads((shared / "embeddings.json").read_text())["cache_key"]
    files = sorted(p.relative_to(shared) for p in shared.glob("data/**/*.parquet"))
    assert files == sorted(p.relative_to(tmp_path / "alone") for p in (tmp_path / "alone").glob("data/**/*.parquet"))
    for rel in files:
        assert pq.read_table(shared / rel).equals(pq.read_table(tmp_path / "alone" / rel)), rel
