"""Fixtures shared by the tests in this folder: embeddings folders as ``libtrad embed`` lays them out (evaluation
and embedding tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

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


def killed_driver(argv: list[str], kill_after: int, *, timeout: float = 300, drop: tuple[str, ...] = ()) -> str:
    """Run ``python ARGV`` with ``LIBTRAD_TEST_KILL_DRIVER_AFTER`` set, so the driver SIGKILLs itself after
    ``kill_after`` written units (``drop``: variables to remove from its environment); then kill what is left of
    its process group (the local Ray it started). Asserts it died of the kill; returns its standard error."""
    env = {**os.environ, "LIBTRAD_TEST_KILL_DRIVER_AFTER": str(kill_after), "HF_HUB_OFFLINE": "1"}
    for name in drop:
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, *map(str, argv)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the local Ray processes the killed driver started
        except ProcessLookupError:
            pass
    assert proc.returncode == -9, stderr[-2000:]
    return stderr


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
        killed_driver=killed_driver,
        staged_units=staged_units,
        when_staged=when_staged,
        finish=finish,
        assert_no_ray_noise=assert_no_ray_noise,
        one_error_line=one_error_line,
    )


# ----------------------------------------------------------------------------- a DCASE 2020 tree from the real clip
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real"
REAL_CLIP = REAL / "dcase2020" / "normal_id_00_00000000.wav"
DCASE2020_NAME = "normal_id_00_00000000.wav"


def real_dcase2020_samples() -> np.ndarray:
    if not REAL_CLIP.is_file():
        pytest.skip(f"the real DCASE 2020 clip is not at {REAL_CLIP} (../shared/real beside the checkout)")
    samples, rate = sf.read(REAL_CLIP, dtype="float32")
    assert rate == 16_000 and samples.ndim == 1  # as published: 16 kHz mono
    return samples


def made_recording(samples: np.ndarray, shift_s: float, tilt: float = 0.0, clicks: int = 0) -> np.ndarray:
    """Another recording made from the real one: shifted in time, its spectrum tilted towards the high
    frequencies by ``tilt`` (first-order pre-emphasis), with ``clicks`` loud ticks."""
    x = np.roll(samples, int(shift_s * 16_000)).astype(np.float64)
    x[1:] -= tilt * x[:-1].copy()
    rng = np.random.default_rng(clicks)
    for start in rng.integers(0, x.size - 400, size=clicks):
        x[start : start + 200] += 0.5 * rng.normal(0.0, 1.0, 200) * np.exp(-np.arange(200) / 40.0)
    return np.clip(x, -1.0, 1.0)


def dcase2020_tree(root: Path, *, leak: bool) -> Path:
    """``development/fan/{train,test}/`` of DCASE 2020 (fan ID 00): the real clip is train's
    ``normal_id_00_00000000.wav``; test's clip of that name is another recording, or (``leak``) a
    byte copy of the real one."""
    samples = real_dcase2020_samples()
    train, test = root / "development" / "fan" / "train", root / "development" / "fan" / "test"
    train.mkdir(parents=True)
    test.mkdir(parents=True)
    (train / DCASE2020_NAME).write_bytes(REAL_CLIP.read_bytes())
    for i, shift in ((1, 1.0), (2, 4.0)):
        sf.write(train / f"normal_id_00_{i:08d}.wav", made_recording(samples, shift), 16_000, subtype="PCM_16")
    if leak:
        (test / DCASE2020_NAME).write_bytes(REAL_CLIP.read_bytes())
    else:
        sf.write(test / DCASE2020_NAME, made_recording(samples, 2.5, tilt=0.5), 16_000, subtype="PCM_16")
    sf.write(test / "normal_id_00_00000001.wav", made_recording(samples, 6.0), 16_000, subtype="PCM_16")
    for i in range(2):
        sf.write(
            test / f"anomaly_id_00_{i:08d}.wav",
            made_recording(samples, 3.0 + i, clicks=40 + i),
            16_000,
            subtype="PCM_16",
        )
    return root


@pytest.fixture(scope="session", name="dcase2020_tree")
def _dcase2020_tree_fixture():
    """``dcase2020_tree(root, leak=False)``: a DCASE 2020 tree around the real clip (skips where it is absent)."""
    real_dcase2020_samples()
    return dcase2020_tree
