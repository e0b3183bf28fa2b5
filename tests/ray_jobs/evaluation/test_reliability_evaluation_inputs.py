"""What ``evaluate``, ``leaderboard`` and ``embed`` refuse to trust: folders that differ from their own
checksums, rows that are not data a metric can use, parts that cannot give a metric.

Each refusal is one ``error:`` line naming the file/option (exit 2) and leaves the user's files
byte-identical; ``--no-verify`` / ``--allow-duplicates`` are recorded in what is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from libtrad.folders.outputs import write_marker


def classlabel_meta(names) -> dict:
    features = {"label": {"_type": "ClassLabel", "names": list(names)}}
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}


def embeddings_folder(folder: Path, *, rows: int = 40, names=("inner", "outer", "ball"), labels=None,
                      mark: bool = True, seed: int = 0, extra: dict | None = None, encoder: str = "logmel-stats",
                      shards: int = 2, dataset: dict | None = None) -> Path:
    """An embeddings folder as ``libtrad embed`` lays it out (data/*.parquet, embeddings.json, marker);
    ``dataset``: embeddings.json's record of the dataset embedded (default: a CWRU folder without a component)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % len(names) if labels is None else np.asarray(labels)
    x = rng.normal(size=(rows, 6)).astype(np.float32) + labels[:, None].astype(np.float32) * 3
    columns = {"file": [f"rec_{i:03d}.mat" for i in range(rows)], "label": pa.array(labels, type=pa.int64()),
               **(extra or {})}
    (folder / "data").mkdir(parents=True)
    bounds = np.linspace(0, rows, shards + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        part = {k: (v[a:b] if not isinstance(v, pa.Array) else v.slice(a, b - a)) for k, v in columns.items()}
        part["embedding"] = pa.array(list(x[a:b]), type=pa.list_(pa.float32()))
        table = pa.table(part).replace_schema_metadata(classlabel_meta(names))
        pq.write_table(table, folder / "data" / f"train-{i:05d}.parquet")
    info = {"cache_key": "k" * 64, "encoder": {"spec": encoder},
            "dataset": dataset or {"source": "/data/cwru", "hub_id": None, "config": "de_12k",
                                   "shards": [{"sha256": "s1"}]}}
    (folder / "embeddings.json").write_text(json.dumps(info, indent=2) + "\n")
    if mark:
        write_marker(folder, "embeddings")
    return folder


def flip_a_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def emb(tmp_path) -> Path:
    return embeddings_folder(tmp_path / "emb")


# ----------------------------------------------------------------------------- the folder's own checksums
def test_a_bit_flipped_shard_is_refused_naming_it_and_no_verify_records_it(emb, tmp_path, cli, rel):
    shard = emb / "data" / "train-00001.parquet"
    flip_a_byte(shard, at=40)
    before = rel.snapshot(emb)
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    line = rel.assert_error_line(result, str(shard), "corrupted", "--no-verify")
    assert "SHA-256" in line
    assert rel.snapshot(emb) == before and not (tmp_path / "res").exists()

    used = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local", "--no-verify")
    if used.exit_code == 0:  # the flipped byte may leave the Parquet readable: then it is used, and recorded
        record = json.loads((tmp_path / "res" / "results.json").read_text())["inputs"][0]
        assert record["verified"] is False and record["reason"] == "--no-verify"
        assert any(str(shard) in p for p in record["problems"])
        assert "WITHOUT verification" in used.output
    else:  # or it no longer parses: still one line naming the file
        rel.assert_error_line(used, str(shard))
    assert rel.snapshot(emb) == before


@pytest.mark.parametrize("suite", ["siren-dcase", "siren-fault", "lib-trad", "linear-probe", "xares-mlp", "xares-knn"])
def test_every_suite_checks_the_folder_before_reading_it(emb, tmp_path, cli, rel, suite):
    flip_a_byte(emb / "data" / "train-00000.parquet", at=40)
    args = ["evaluate", suite, "--embeddings", emb, "--output", tmp_path / "res", "--local"]
    rel.assert_error_line(cli(*args), "train-00000.parquet: corrupted")
    assert not (tmp_path / "res").exists()


def test_an_edited_embeddings_json_crediting_another_encoder_is_refused(emb, tmp_path, cli, rel):
    info = json.loads((emb / "embeddings.json").read_text())
    info["encoder"]["spec"] = "echo:/models/better"
    (emb / "embeddings.json").write_text(json.dumps(info, indent=2) + "\n")
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, str(emb / "embeddings.json"), "corrupted")


def test_a_shard_added_to_a_libtrad_folder_is_refused(emb, tmp_path, cli, rel):
    extra = emb / "data" / "train-00002.parquet"
    extra.write_bytes((emb / "data" / "train-00000.parquet").read_bytes())
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, str(extra), "not listed")


def test_a_plain_folder_is_used_with_a_note_and_recorded_unverified(tmp_path, cli):
    plain = embeddings_folder(tmp_path / "plain", mark=False)
    result = cli("evaluate", "siren-fault", "--embeddings", plain, "--output", tmp_path / "res", "--local")
    assert result.exit_code == 0, result.output
    assert "could not be verified" in result.output
    record = json.loads((tmp_path / "res" / "results.json").read_text())["inputs"][0]
    assert record["verified"] is False and record["encoder"] == "logmel-stats"


def test_an_intact_folder_is_recorded_verified(emb, tmp_path, cli):
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    assert result.exit_code == 0, result.output
    assert "note:" not in result.output
    assert json.loads((tmp_path / "res" / "results.json").read_text())["inputs"][0]["verified"] is True


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "not a JSON object"),
    ('{"encoder": {"spec": 7}}', "encoder.spec is int"),
])
def test_a_corrupt_embeddings_json_without_a_marker_is_refused(tmp_path, cli, rel, text, fragment):
    plain = embeddings_folder(tmp_path / "plain", mark=False)
    (plain / "embeddings.json").write_text(text)
    result = cli("evaluate", "siren-fault", "--embeddings", plain, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, str(plain / "embeddings.json"), fragment)


def test_a_results_folder_given_as_embeddings_is_refused_by_kind(emb, tmp_path, cli, rel):
    assert cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local").exit_code == 0
    result = cli("evaluate", "siren-fault", "--embeddings", tmp_path / "res", "--output", tmp_path / "r2", "--local")
    rel.assert_error_line(result, "--embeddings", "libtrad results folder, not embeddings")


# ----------------------------------------------------------------------------- rows as data
def test_a_label_beyond_its_classlabel_names_is_refused(tmp_path, cli, rel):
    labels = np.arange(40) % 3
    labels[17] = 5
    bad = embeddings_folder(tmp_path / "emb", labels=labels)
    result = cli("evaluate", "xares-knn", "--embeddings", bad, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, "train-00000.parquet", "rec_017.mat", "label 5", "3 names")


def test_duplicated_rows_are_refused_and_allow_duplicates_keeps_every_row(emb, tmp_path, cli, rel):
    result = cli("evaluate", "xares-knn", "--embeddings", emb, "--embeddings", emb, "--output", tmp_path / "res",
                 "--local")
    line = rel.assert_error_line(result, "40 row(s) repeat the key (file)", "rec_000.mat", "--allow-duplicates")
    assert "train-00000.parquet row 0" in line
    kept = cli("evaluate", "xares-knn", "--embeddings", emb, "--embeddings", emb, "--output", tmp_path / "res",
               "--local", "--allow-duplicates")
    assert kept.exit_code == 0, kept.output
    assert "all kept (--allow-duplicates)" in kept.output
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert results["duplicate_rows"] == 40 and results["test_size"] == 80  # nothing dropped


def test_duplicates_without_a_key_column_are_found_by_their_embedding(tmp_path):
    from libtrad.core.errors import LibtradError
    from libtrad.ray_jobs.embedding.embeddings_input import load_embeddings

    folder = tmp_path / "nokey"
    folder.mkdir()
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[3] = x[1]
    pq.write_table(pa.table({"label": [0, 1, 0, 1], "embedding": pa.array(list(x), type=pa.list_(pa.float32()))}),
                   folder / "a.parquet")
    with pytest.raises(LibtradError, match=r"1 row\(s\) repeat the key \(embedding"):
        load_embeddings(folder, ["label"])
    assert load_embeddings(folder, ["label"], allow_duplicates=True).attrs["duplicate_rows"] == 1


def test_list_valued_key_columns_are_compared_by_value(tmp_path):
    from libtrad.core.errors import LibtradError
    from libtrad.ray_jobs.embedding.embeddings_input import load_embeddings

    folder = tmp_path / "segments"
    folder.mkdir()
    x = np.arange(9, dtype=np.float32).reshape(3, 3)
    table = pa.table({"label": [0, 1, 0], "experiment": ["tr1"] * 3, "segment": [0, 1, 0],
                      "source_file": [["a", "b"], ["a", "b"], ["a", "b"]],
                      "embedding": pa.array(list(x), type=pa.list_(pa.float32()))})
    pq.write_table(table, folder / "a.parquet")
    with pytest.raises(LibtradError, match=r"experiment='tr1', source_file=\['a', 'b'\], segment=0 \(.*a.parquet row 0 and .*a.parquet row 2\)"):
        load_embeddings(folder, ["label"])


# ----------------------------------------------------------------------------- parts without a metric
def test_lib_trad_refuses_a_test_part_without_anomalies(tmp_path, cli, rel):
    rows = 30
    split = ["train"] * 20 + ["test"] * 10
    labels = [0] * rows  # no abnormal row in the test part
    folder = embeddings_folder(tmp_path / "lt", rows=rows, names=("normal", "abnormal"), labels=labels,
                               extra={"experiment": ["tr1"] * rows, "split": split})
    result = cli("evaluate", "lib-trad", "--embeddings", folder, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, "experiment tr1", "10 normal and 0 abnormal", "needs both")
    assert not (tmp_path / "res").exists()


def test_a_probe_refuses_an_anomaly_test_part_of_one_class(tmp_path, cli, rel):
    rows = 30
    split = ["train"] * 20 + ["test"] * 10
    labels = [0, 1] * 10 + [0] * 10
    folder = embeddings_folder(tmp_path / "p", rows=rows, names=("normal", "anomaly"), labels=labels,
                               extra={"split": split})
    result = cli("evaluate", "xares-knn", "--embeddings", folder, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, "xares-knn: the test part holds 10 normal, 0 anomaly rows", "AUC needs")


def test_a_seed_error_names_the_option_typed(emb, tmp_path, cli, rel):
    result = cli("evaluate", "xares-knn", "--embeddings", emb, "--output", tmp_path / "res", "--split-seed", "-1")
    rel.assert_error_line(result, "--split-seed -1")


# ----------------------------------------------------------------------------- leaderboard inputs
def evaluated(emb: Path, out: Path, cli) -> Path:
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", out, "--local")
    assert result.exit_code == 0, result.output
    return out


def test_leaderboard_refuses_an_edited_results_json_and_no_verify_lists_it(emb, tmp_path, cli, rel):
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


@pytest.mark.parametrize("field, value, fragment", [
    ("f1_weighted", 7.5, "weighted F1 7.5 lies outside [0, 1]"),
    ("f1_weighted", "0.9", "f1_weighted is \"0.9\" (str), expected"),
    ("f1_weighted", True, "f1_weighted is true (bool)"),
    ("inputs", "emb", "inputs is \"emb\" (str), expected a list"),
    ("options", [1], "options is [1] (list), expected an object"),
    ("protocol_version", 1, None),
])
def test_leaderboard_checks_the_fields_it_reads(tmp_path, cli, rel, field, value, fragment):
    res = tmp_path / "res"
    res.mkdir()
    data = {"suite": "siren-fault", "f1_weighted": 0.5, "predictions": [], "protocol_version": 1, "options": {},
            "inputs": [{"path": "/emb", "encoder": "enc", "dataset": "d", "config": "c", "dataset_shards": ["s"]}]}
    data[field] = value
    (res / "results.json").write_text(json.dumps(data))
    result = cli("leaderboard", res, "--output", tmp_path / "board")
    if fragment is None:
        assert result.exit_code == 0, result.output
    else:
        rel.assert_error_line(result, str(res / "results.json"), fragment)


# ----------------------------------------------------------------------------- embed's dataset
def test_embed_refuses_a_dataset_whose_shard_changed_after_export(lib_trad_export, tmp_path, cli, rel):
    import shutil

    from libtrad.ray_jobs.embedding.source import resolve_dataset

    intact = resolve_dataset(str(lib_trad_export), "tr1")
    assert intact.verification == {"verified": True}
    copy = tmp_path / "ds"
    shutil.copytree(lib_trad_export, copy)
    shard = copy / Path(intact.shards[0].path).relative_to(lib_trad_export.resolve())
    flip_a_byte(shard)
    before = rel.snapshot(copy)
    result = cli("embed", "--dataset", copy, "--config", "tr1", "--encoder", "logmel-stats",
                 "--output", tmp_path / "emb")
    rel.assert_error_line(result, str(shard.resolve()), "corrupted", "--dataset", "--no-verify")
    assert rel.snapshot(copy) == before and not (tmp_path / "emb").exists()
    source = resolve_dataset(str(copy), "tr1", no_verify=True)
    assert source.verification["verified"] is False and source.verification["reason"] == "--no-verify"
