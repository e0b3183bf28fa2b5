"""A measured result lands in the papers' column of its component and metric, whatever its folders are called.

The siren-fault results here are computed by ``libtrad evaluate`` (in-process) on embeddings folders laid out as
``libtrad embed`` writes them (the reliability tests' helper); the others are written by hand, as the
leaderboard tests write them.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from libtrad.ray_jobs.evaluation import leaderboard as B
from libtrad.ray_jobs.evaluation import paper_columns as P

from .test_leaderboard import write

CWRU = "siren-fault · CWRU"


def cwru_embeddings(embeddings_folder, folder, source="/data/cwru-b", encoder="logmel-stats"):
    """Embeddings of a CWRU export's ``faults`` config as embed records them (the component from its manifest)."""
    record = {
        "source": source,
        "hub_id": None,
        "component": "cwru",
        "config": "faults",
        "shards": [{"sha256": "a" * 64}],
    }
    return embeddings_folder(folder, rows=30, dataset=record, encoder=encoder)


def evaluated(cli, emb, out):
    done = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", out, "--local")
    assert done.exit_code == 0, done.output
    return out


def board_rows(folder) -> dict[str, dict[str, str]]:
    return {r["encoder"]: r for r in csv.DictReader((folder / "leaderboard.csv").open())}


def test_a_measured_cwru_accuracy_stands_beside_echos_cwru_cell(tmp_path, cli, embeddings_folder):
    res = evaluated(
        cli, cwru_embeddings(embeddings_folder, tmp_path / "cwru-b-emb"), tmp_path / "results" / "siren-fault-cwru-b"
    )
    results = json.loads((res / "results.json").read_text())
    assert results["inputs"][0]["component"] == "cwru" and results["inputs"][0]["config"] == "faults"
    accuracy = results["accuracy"]
    assert 0 < accuracy <= 1 and results["protocol"] == "loocv"
    done = cli(
        "leaderboard",
        tmp_path / "results",
        "--output",
        tmp_path / "board",
        "--reference",
        "echo-table2",
        "--diff-against",
        "ECHO Small",
    )
    assert done.exit_code == 0, done.output
    rows = board_rows(tmp_path / "board")
    assert float(rows["logmel-stats"][CWRU]) == accuracy and float(rows["ECHO Small"][CWRU]) == 0.905
    assert float(rows["logmel-stats"][f"{CWRU} (weighted F1)"]) == results["f1_weighted"]  # kept, as an extra
    assert not [c for c in rows["logmel-stats"] if "cwru-b" in c]  # no column named after a folder
    diff = next(csv.DictReader((tmp_path / "board" / "leaderboard_diff.csv").open()))
    assert float(diff[CWRU]) == pytest.approx(accuracy - 0.905)
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    assert f"- **{CWRU}**: accuracy, test size 30" in text and "`logmel-stats` lacks IIEE, IICA" in text

    # A renamed results folder, and the same data (the same shards) embedded from a dataset folder of another
    # name by another encoder: one column, no clash.
    shutil.move(tmp_path / "results" / "siren-fault-cwru-b", tmp_path / "results" / "my-run")
    moved = {
        **results,
        "accuracy": 0.5,
        "inputs": [{**results["inputs"][0], "encoder": "other-encoder", "dataset": "/mnt/elsewhere/case-western"}],
    }
    write(tmp_path / "results" / "second", **moved)
    board = B.build(entries([tmp_path / "results" / name for name in ("my-run", "second")]))
    assert [c for c in board.columns if c.startswith("siren-fault")] == [CWRU, f"{CWRU} (weighted F1)"]
    assert board.value("measured", "logmel-stats", CWRU) == accuracy
    assert board.value("measured", "other-encoder", CWRU) == 0.5


def fault(folder, component, *, config="default", protocol="loocv", channels=None, encoder="enc-a", options=None):
    record = {
        "path": "/emb",
        "encoder": encoder,
        "dataset": "/data/whatever",
        "config": config,
        "dataset_shards": ["s1"],
        **({"component": component} if component else {}),
        **({"channels": channels} if channels is not None else {}),
    }
    return write(
        folder,
        suite="siren-fault",
        protocol=protocol,
        accuracy=0.8,
        f1_weighted=0.75,
        predictions=["a"] * 20,
        inputs=[record],
        options=options or {"protocol": "auto", "k": 5},
    )


@pytest.mark.parametrize(
    "component, kwargs, column",
    [
        ("mafaulda", {"channels": ["microphone"]}, P.MAFAULDA_SOUND),
        ("mafaulda", {"channels": ["overhang-radial", "underhang-radial"]}, P.MAFAULDA_VIBRATION),
        (
            "mafaulda",
            {"channels": ["tachometer", "overhang-radial"]},
            "siren-fault · mafaulda/default (loocv, tachometer+overhang-radial)",
        ),
        ("mafaulda", {}, "siren-fault · mafaulda/default (loocv, channels not recorded)"),
        ("iiee", {}, "siren-fault · IIEE"),
        ("iiee", {"protocol": "external"}, "siren-fault · iiee/default (external)"),  # ECHO Table 1: LOOCV
        ("iica", {"protocol": "kfold"}, "siren-fault · IICA"),
        ("cwru", {"config": "faults", "protocol": "kfold"}, "siren-fault · cwru/faults (kfold)"),
        ("cwru", {"config": "faults", "options": {"k": 1}}, "siren-fault · cwru/faults (loocv, k=1)"),  # SIREN: k=5
        (
            "cwru",
            {"config": "faults", "options": {"k": 5, "metric": "cosine"}},
            "siren-fault · cwru/faults (loocv, k=5, cosine)",
        ),
        ("cwru", {"config": "faults"}, "siren-fault · CWRU"),
        ("paderborn", {}, "siren-fault · paderborn/default (loocv)"),
        (None, {}, "siren-fault · whatever/default"),  # written before the component was recorded: as before
    ],
)
def test_the_column_comes_from_what_the_results_say_about_the_data(tmp_path, component, kwargs, column):
    folder = fault(tmp_path / "a-folder-name", component, **kwargs)
    entries = B.entries_of(folder, json.loads((folder / "results.json").read_text()))
    assert [(e.column, e.metric, e.headline) for e in entries] == [
        (column, "accuracy", True),
        (f"{column} (weighted F1)", "f1_weighted", False),
    ]


def entries(folders) -> list:
    return [e for f in folders for e in B.entries_of(f, json.loads((f / "results.json").read_text()))]


def test_the_fault_mean_of_a_measured_row_needs_all_five_fault_columns(tmp_path):
    cases = [
        ("iiee", {}),
        ("iica", {"protocol": "kfold"}),
        ("cwru", {"config": "faults"}),
        ("mafaulda", {"channels": ["microphone"]}),
    ]
    folders = [fault(tmp_path / str(i), component, **kw) for i, (component, kw) in enumerate(cases)]
    board = B.build(entries(folders))
    assert board.means[("enc-a", "fault mean")] is None
    assert board.blanks["fault mean"] == ["`enc-a` lacks MAFAULDA vibration"]
    folders.append(fault(tmp_path / "5", "mafaulda", channels=["overhang-axial"]))
    board = B.build(entries(folders))
    assert board.means[("enc-a", "fault mean")] == pytest.approx(0.8)
    assert board.means[("enc-a", "overall mean")] is None  # the DCASE years are missing


def test_the_component_an_export_declares_is_read_from_its_manifest(tmp_path):
    from libtrad.ray_jobs.embedding.dataset_files import LocalFiles
    from libtrad.ray_jobs.embedding.source import _component

    (tmp_path / "manifest.json").write_text(json.dumps({"dataset": "cwru", "configs": {}}))
    assert _component(LocalFiles(tmp_path)) == "cwru"
    for foreign in ("[1, 2]", "{not json", json.dumps({"dataset": 7})):
        (tmp_path / "manifest.json").write_text(foreign)
        assert _component(LocalFiles(tmp_path)) is None  # not libtrad's manifest: no component, no guess
    (tmp_path / "manifest.json").unlink()
    assert _component(LocalFiles(tmp_path)) is None


def test_the_channels_embeddings_json_records_reach_the_results_and_pick_mafaulda_sound(
    tmp_path, cli, rel, embeddings_folder
):
    """What ``embed`` writes: the selection (names, or ``all``) and the rows of each embedded set."""
    from libtrad.folders.outputs import write_marker

    record = {
        "source": "/data/mafaulda",
        "hub_id": None,
        "component": "mafaulda",
        "config": "default",
        "shards": [{"sha256": "b" * 64}],
    }
    emb = embeddings_folder(tmp_path / "emb", rows=30, dataset=record, mark=False)
    info = json.loads((emb / "embeddings.json").read_text())
    for channels, used in (
        ({"selection": ["microphone"], "rows_per_set": {"microphone": 30}}, ["microphone"]),
        ({"selection": "all", "rows_per_set": {"microphone": 30}}, ["microphone"]),
        ({"selection": "all", "rows_per_set": {"ax,microphone": 10, "microphone": 20}}, None),
    ):
        (emb / "embeddings.json").write_text(json.dumps({**info, "channels": channels}))
        write_marker(emb, "embeddings")
        res = evaluated(cli, emb, tmp_path / "res")
        assert json.loads((res / "results.json").read_text())["inputs"][0]["channels"] == used, channels
    (emb / "embeddings.json").write_text(
        json.dumps({**info, "channels": {"selection": ["microphone"], "rows_per_set": {"microphone": 30}}})
    )
    write_marker(emb, "embeddings")
    res = evaluated(cli, emb, tmp_path / "res")
    assert B.write_leaderboard([res], tmp_path / "board").columns[0] == P.MAFAULDA_SOUND

    (emb / "embeddings.json").write_text(json.dumps({**info, "channels": {"selection": "microphone"}}))
    write_marker(emb, "embeddings")
    rel.assert_error_line(
        cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res2", "--local"),
        str(emb / "embeddings.json"),
        "channels must hold a selection",
    )
