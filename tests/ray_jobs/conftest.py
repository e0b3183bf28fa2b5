"""Fixtures shared by the tests in this folder: embeddings folders as ``libtrad embed`` lays them out (evaluation
and embedding tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


# ----------------------------------------------------------------------------- a libtrad embed driver against a cluster
# The child driver: `libtrad embed` with units of a few rows (the CLI has no option for it).
DRIVER = (
    "import sys, libtrad.ray_jobs.embedding.embed as e; "
    "e.default_rows_per_unit = lambda n: {rows}; "
    "from libtrad.cli import main; main(sys.argv[1:])"
)


def start_embed(cluster, dataset: Path, out: Path, *extra: str, rows_per_unit: int = 2, **env) -> subprocess.Popen:
    """``libtrad embed --address CLUSTER`` of ``dataset``'s tr1 into ``out``; ``env``: variables to set for it
    (an empty value removes one)."""
    args = ["embed", "--dataset", dataset, "--config", "tr1", "--encoder", "logmel-stats", "--output", out, *extra]
    merged = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(rows=rows_per_unit), *map(str, args), "--address", cluster.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in merged.items() if v != ""},
    )


def staged_units(out: Path) -> list[Path]:
    return [p for p in out.parent.glob(f".{out.name}.resume-*/**/*.parquet") if not p.name.startswith(".")]


def when_staged(out: Path, n: int, proc: subprocess.Popen, limit: float = 60) -> None:
    """Wait until ``n`` units are staged (the job is under way, units in flight on every actor)."""
    end = time.monotonic() + limit
    while len(staged_units(out)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the job staged nothing in time"
        time.sleep(0.1)


def finish(proc: subprocess.Popen, limit: float) -> tuple[int, str, float]:
    began = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the driver still ran {limit} s after the fault: {proc.communicate()}")
    return proc.returncode, stdout + stderr, time.monotonic() - began


def assert_no_ray_noise(text: str) -> None:
    for noise in ("(raylet)", "state-dump", "core_worker.cc", "will be retried", "Traceback"):
        assert noise not in text, text


def one_error_line(text: str) -> str:
    errors = [line for line in text.replace("\r", "\n").splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    assert len(errors[0]) < 420, errors[0]
    return errors[0]


@pytest.fixture(name="driver")
def _driver_fixture():
    """``libtrad embed --address`` in a child interpreter, and what a test of a cluster fault checks of it
    (Ray may end a driver whose cluster is gone: only a child shows what the user sees)."""
    import types

    return types.SimpleNamespace(
        start_embed=start_embed,
        staged_units=staged_units,
        when_staged=when_staged,
        finish=finish,
        assert_no_ray_noise=assert_no_ray_noise,
        one_error_line=one_error_line,
    )
