"""Reading embeddings folders: recursive Parquet discovery, concatenation, and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix, load_embeddings

FLOAT32 = pa.float32()


def write(path, files, embeddings, labels=None, *, value_type=FLOAT32, metadata=None, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {
        "file": pa.array(files),
        "embedding": pa.array(embeddings, type=pa.list_(value_type)),
        "label": pa.array(labels if labels is not None else [0] * len(files), type=pa.int64()),
        **{k: pa.array(v) for k, v in extra.items()},
    }
    table = pa.table(columns)
    if metadata:
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path)
    return path


def test_reads_every_parquet_recursively_and_concatenates_folders(tmp_path):
    write(tmp_path / "a" / "data" / "train" / "0.parquet", ["x", "y"], [[1, 2], [3, 4]], split=["train"] * 2)
    write(tmp_path / "a" / "data" / "test" / "0.parquet", ["z"], [[5, 6]], split=["test"])
    write(tmp_path / "a" / ".staging" / "0.parquet", ["hidden"], [[0, 0]], split=["test"])  # skipped
    (tmp_path / "a" / "embeddings.json").write_text("{}")
    write(tmp_path / "b.parquet", ["w"], [[7, 8]], split=["test"])
    df = load_embeddings([tmp_path / "a", tmp_path / "b.parquet"], ["file", "split"])
    assert df["file"].tolist() == ["z", "x", "y", "w"]  # sorted paths: data/test before data/train
    m = embedding_matrix(df)
    assert m.dtype == np.float32 and m.shape == (4, 2) and m.flags.c_contiguous
    np.testing.assert_array_equal(m[0], [5, 6])
    assert embedding_matrix(df[df.split == "train"]).tolist() == [[1, 2], [3, 4]]  # a filtered frame works too


def test_optional_columns_and_huggingface_label_names(tmp_path):
    features = {"info": {"features": {"label": {"_type": "ClassLabel", "names": ["normal", "fault"]}}}}
    write(
        tmp_path / "e" / "0.parquet",
        ["x"],
        [[1.0]],
        audio_path=["skip me"],
        fold=[3],
        metadata={b"huggingface": json.dumps(features).encode()},
    )
    df = load_embeddings(tmp_path / "e", ["file", "label"], optional=["fold", "label_name"])
    assert list(df.columns) == ["file", "label", "fold", "embedding"]
    assert df.attrs["label_names"] == ["normal", "fault"]
    assert "audio_path" in load_embeddings(tmp_path / "e", ["file"]).columns  # optional=None: every column


def test_float64_and_fixed_size_lists_become_float32(tmp_path):
    write(tmp_path / "d.parquet", ["x"], [[0.1, 0.2]], value_type=pa.float64())
    fixed = pa.table({"file": ["y"], "embedding": pa.array([[1.0, 2.0]], type=pa.list_(pa.float32(), 2))})
    pq.write_table(fixed, tmp_path / "f.parquet")
    m = embedding_matrix(load_embeddings(tmp_path, ["file"]))
    assert m.dtype == np.float32 and m.shape == (2, 2)


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("missing", "no such file or folder"),
        ("empty_folder", "no .parquet files"),
        ("no_column", "no column 'split' (required); columns present: file, embedding, label"),
        ("ragged", "embeddings of unequal length (row file='y' has 3, the first row 2)"),
        ("ragged_files", "embeddings of unequal length (3 values per row; earlier files have 2)"),
        ("nan", "row file='y' has a NaN or infinite embedding value"),
        ("inf", "row file='x' has a NaN or infinite embedding value"),
        ("null", "row file='y' has no embedding (null)"),
        ("not_parquet", "not a readable Parquet file"),
        ("wrong_type", "column 'embedding' is string"),
    ],
)
def test_input_errors_name_the_file_and_the_problem(tmp_path, case, fragment):
    target = tmp_path / "emb"
    target.mkdir()
    bad = target / "data" / "0.parquet"
    if case == "no_column":
        write(bad, ["x"], [[1, 2]])
    elif case == "ragged":
        write(bad, ["x", "y"], [[1, 2], [1, 2, 3]], split=["a", "a"])
    elif case == "ragged_files":
        write(target / "data" / "00.parquet", ["x"], [[1, 2]], split=["a"])
        bad = write(target / "data" / "01.parquet", ["y"], [[1, 2, 3]], split=["a"])
    elif case == "nan":
        write(bad, ["x", "y"], [[1, 2], [np.nan, 2]], split=["a", "a"])
    elif case == "inf":
        write(bad, ["x"], [[1e300, 2]], value_type=pa.float64(), split=["a"])  # overflows float32
    elif case == "null":
        write(bad, ["x", "y"], [[1, 2], None], split=["a", "a"])
    elif case == "not_parquet":
        bad.parent.mkdir()
        bad.write_bytes(b"not parquet at all")
    elif case == "wrong_type":
        bad.parent.mkdir()
        pq.write_table(pa.table({"file": ["x"], "split": ["a"], "embedding": ["1,2"]}), bad)
    if case == "missing":
        target, bad = tmp_path / "nope", tmp_path / "nope"
    with pytest.raises(LibtradError) as info:
        load_embeddings([target], ["file", "split"])
    message = str(info.value)
    assert "\n" not in message and fragment in message
    assert str(bad if case != "empty_folder" else target) in message


def test_no_paths_and_no_rows(tmp_path):
    with pytest.raises(LibtradError, match="embeddings=\\[\\]"):
        load_embeddings([], ["file"])
    write(tmp_path / "e.parquet", [], [])
    with pytest.raises(LibtradError, match="hold no rows"):
        load_embeddings(tmp_path / "e.parquet", ["file"])


# ------------------------------------------------------------------------- from test_reliability_evaluation_inputs.py
# ----------------------------------------------------------------------------- rows as data
def test_a_label_beyond_its_classlabel_names_is_refused(tmp_path, cli, rel, embeddings_folder):
    labels = np.arange(40) % 3
    labels[17] = 5
    bad = embeddings_folder(tmp_path / "emb", labels=labels)
    result = cli("evaluate", "xares-knn", "--embeddings", bad, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, "train-00000.parquet", "rec_017.mat", "label 5", "3 names")


def test_duplicated_rows_are_refused_and_allow_duplicates_keeps_every_row(emb, tmp_path, cli, rel):
    result = cli(
        "evaluate", "xares-knn", "--embeddings", emb, "--embeddings", emb, "--output", tmp_path / "res", "--local"
    )
    line = rel.assert_error_line(result, "40 row(s) repeat the key (file)", "rec_000.mat", "--allow-duplicates")
    assert "train-00000.parquet row 0" in line
    kept = cli(
        "evaluate",
        "xares-knn",
        "--embeddings",
        emb,
        "--embeddings",
        emb,
        "--output",
        tmp_path / "res",
        "--local",
        "--allow-duplicates",
    )
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
    pq.write_table(
        pa.table({"label": [0, 1, 0, 1], "embedding": pa.array(list(x), type=pa.list_(pa.float32()))}),
        folder / "a.parquet",
    )
    with pytest.raises(LibtradError, match=r"1 row\(s\) repeat the key \(embedding"):
        load_embeddings(folder, ["label"])
    assert load_embeddings(folder, ["label"], allow_duplicates=True).attrs["duplicate_rows"] == 1


def test_list_valued_key_columns_are_compared_by_value(tmp_path):
    from libtrad.core.errors import LibtradError
    from libtrad.ray_jobs.embedding.embeddings_input import load_embeddings

    folder = tmp_path / "segments"
    folder.mkdir()
    x = np.arange(9, dtype=np.float32).reshape(3, 3)
    table = pa.table(
        {
            "label": [0, 1, 0],
            "experiment": ["tr1"] * 3,
            "segment": [0, 1, 0],
            "source_file": [["a", "b"], ["a", "b"], ["a", "b"]],
            "embedding": pa.array(list(x), type=pa.list_(pa.float32())),
        }
    )
    pq.write_table(table, folder / "a.parquet")
    with pytest.raises(
        LibtradError,
        match=r"experiment='tr1', source_file=\['a', 'b'\], segment=0 \(.*a.parquet row 0 and .*a.parquet row 2\)",
    ):
        load_embeddings(folder, ["label"])
