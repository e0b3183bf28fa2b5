"""Fixtures shared by the tests in this folder: embeddings folders as ``libtrad embed`` lays them out (evaluation
and embedding tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from libtrad.folders.outputs import write_marker


# ------------------------------------------------------------------ embeddings folders as embed writes them, to break
def classlabel_meta(names) -> dict:
    features = {"label": {"_type": "ClassLabel", "names": list(names)}}
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}


@pytest.fixture(name="classlabel_meta")
def _classlabel_meta_fixture():
    return classlabel_meta


def embeddings_folder(
    folder: Path,
    *,
    rows: int = 40,
    names=("inner", "outer", "ball"),
    labels=None,
    mark: bool = True,
    seed: int = 0,
    extra: dict | None = None,
    encoder: str = "logmel-stats",
    shards: int = 2,
    dataset: dict | None = None,
) -> Path:
    """An embeddings folder as ``libtrad embed`` lays it out (data/*.parquet, embeddings.json, marker);
    ``dataset``: embeddings.json's record of the dataset embedded (default: a CWRU folder without a component)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % len(names) if labels is None else np.asarray(labels)
    x = rng.normal(size=(rows, 6)).astype(np.float32) + labels[:, None].astype(np.float32) * 3
    columns = {
        "file": [f"rec_{i:03d}.mat" for i in range(rows)],
        "label": pa.array(labels, type=pa.int64()),
        **(extra or {}),
    }
    (folder / "data").mkdir(parents=True)
    bounds = np.linspace(0, rows, shards + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        part = {k: (v[a:b] if not isinstance(v, pa.Array) else v.slice(a, b - a)) for k, v in columns.items()}
        part["embedding"] = pa.array(list(x[a:b]), type=pa.list_(pa.float32()))
        table = pa.table(part).replace_schema_metadata(classlabel_meta(names))
        pq.write_table(table, folder / "data" / f"train-{i:05d}.parquet")
    info = {
        "cache_key": "k" * 64,
        "encoder": {"spec": encoder},
        "dataset": dataset
        or {"source": "/data/cwru", "hub_id": None, "config": "de_12k", "shards": [{"sha256": "s1"}]},
    }
    (folder / "embeddings.json").write_text(json.dumps(info, indent=2) + "\n")
    if mark:
        write_marker(folder, "embeddings")
    return folder


@pytest.fixture(name="embeddings_folder")
def _embeddings_folder_fixture():
    return embeddings_folder


@pytest.fixture
def emb(tmp_path) -> Path:
    return embeddings_folder(tmp_path / "emb")


# ----------------------------------------------------------------------------- leaderboard inputs
def evaluated(emb: Path, out: Path, cli) -> Path:
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", out, "--local")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(name="evaluated")
def _evaluated_fixture():
    return evaluated
