"""``--device`` of the trained probes and of every ``evaluate`` suite: the refusals, the device recorded in
results.json, and the Ray tasks asking for one GPU each only when the device may use one and the cluster
has GPUs (a local Ray with fake GPUs); the numbers are the same either way. On a real GPU (``gpu``) the
probe agrees with the CPU's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from libtrad.core.devices import node_name
from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.evaluation.suites import linear_probe as L
from libtrad.ray_jobs.evaluation.suites import xares_mlp as M


def _embeddings(folder, n=90, dim=4, seed=0):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, dim)) + 3 * rng.normal(size=(3, dim))[y]).astype(np.float32)
    (folder / "data").mkdir(parents=True)
    split = np.where(np.arange(n) < 2 * n // 3, "train", "test")
    pq.write_table(
        pa.table({"label": y, "split": split, "embedding": pa.array(list(x), type=pa.list_(pa.float32()))}),
        folder / "data" / "part-0.parquet",
    )
    return folder


def _frame(n=90, dim=4):
    import pandas as pd

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, dim)) + 3 * rng.normal(size=(3, dim))[y]
    return pd.DataFrame(
        {"label": y, "split": np.where(np.arange(n) < 60, "train", "test"), "embedding": list(x.astype(np.float32))}
    )


def test_cuda_without_a_gpu_is_one_line_naming_the_node(tmp_path, gpus, cli, rel):
    gpus(0)
    emb = _embeddings(tmp_path / "emb")
    before = {p: p.read_bytes() for p in emb.rglob("*") if p.is_file()}
    line = rel.assert_error_line(
        cli(
            "evaluate",
            "linear-probe",
            "--embeddings",
            emb,
            "--output",
            tmp_path / "out",
            "--local",
            "--device",
            "cuda",
            "--epochs",
            1,
        ),
        "--device",
        node_name(),
        "no CUDA GPU",
    )
    assert "'cuda'" in line
    assert not (tmp_path / "out").exists()
    assert before == {p: p.read_bytes() for p in emb.rglob("*") if p.is_file()}


def test_an_unknown_device_is_refused_by_every_suite_command(tmp_path, cli, rel):
    emb = _embeddings(tmp_path / "emb")
    for suite in ("xares-mlp", "siren-fault"):
        rel.assert_error_line(
            cli("evaluate", suite, "--embeddings", emb, "--output", tmp_path / "o", "--device", "gpu"),
            "--device",
            "gpu",
            "auto, cpu, cuda, cuda:N",
        )
    assert not (tmp_path / "o").exists()
    with pytest.raises(ParameterError, match="device='gpu'"):
        L.LinearProbeOptions(device="gpu")


def test_results_record_the_device_apart_from_the_options(tmp_path, cli):
    emb = _embeddings(tmp_path / "emb")
    done = cli(
        "evaluate",
        "xares-mlp",
        "--embeddings",
        emb,
        "--output",
        tmp_path / "out",
        "--local",
        "--device",
        "cpu",
        "--epochs",
        2,
        "--seeds",
        1,
    )
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["device"]["requested"] == "cpu"
    assert [d["device"] for d in results["device"]["units"]] == ["cpu"]
    assert results["device"]["units"][0]["torch"] == torch.__version__
    assert "device" not in results["options"]  # where it ran does not change what the number means


def test_a_generated_suite_command_has_one_device_flag(monkeypatch):
    """An options dataclass with a ``device`` field gets no second ``--device`` from the generator."""
    import dataclasses

    from libtrad.ray_jobs.evaluation.cli import generated_suite_command
    from libtrad.ray_jobs.evaluation.evaluate import SUITES

    assert "device" in {f.name for f in dataclasses.fields(M.XaresMlpOptions)}
    monkeypatch.setitem(SUITES, "mlp-generated", f"{M.__name__}:SUITE")
    command = generated_suite_command("mlp-generated")
    flags = [opt for p in command.params for opt in getattr(p, "opts", [])]
    assert flags.count("--device") == 1 and "--epochs" in flags


@pytest.fixture
def fake_gpu_ray():
    """A local Ray with 2 CPUs and 2 (fake) GPUs; a session already up in this worker (the package's
    ``ray_local``) is stopped first and started again afterwards, as it was."""
    import ray

    from libtrad.ray_jobs.cluster import loopback_only

    had_one = ray.is_initialized()
    if had_one:
        ray.shutdown()
    loopback_only()
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        yield ray
    finally:
        ray.shutdown()
        if had_one:
            ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")


def test_units_ask_for_a_gpu_only_when_the_device_may_use_one(fake_gpu_ray):
    from libtrad.ray_jobs.evaluation.runner import run_suite

    df = _frame()
    runs = {
        device: run_suite(L.SUITE, df, L.LinearProbeOptions(seeds=1, epochs=1, device=device), progress=False)
        for device in ("auto", "cpu")
    }
    local = run_suite(L.SUITE, df, L.LinearProbeOptions(seeds=1, epochs=1, device="cpu"), local=True, progress=False)
    # auto + a cluster with GPUs: every task held one of the two (Ray's get_gpu_ids inside the task)
    assert runs["auto"].gpu_ids and {g for _, g in runs["auto"].gpu_ids} <= {"0", "1"}
    assert runs["cpu"].gpu_ids == set() and local.gpu_ids == set()
    # torch sees no real CUDA behind the fake GPUs, so auto resolved to the CPU in each task: same numbers
    assert [d["device"] for d in runs["auto"].devices] == ["cpu"]
    assert json.dumps(runs["auto"].results) == json.dumps(runs["cpu"].results) == json.dumps(local.results)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("module", [L, M], ids=["linear-probe", "xares-mlp"])
def test_probe_on_cuda_agrees_with_the_cpu(module):
    df = _frame(300, 16)
    options = {"seeds": 2, "epochs": 5}
    name = "LinearProbeOptions" if module is L else "XaresMlpOptions"
    cpu = module.evaluate_local(df, getattr(module, name)(**options, device="cpu"))
    gpu = module.evaluate_local(df, getattr(module, name)(**options, device="cuda"))
    again = module.evaluate_local(df, getattr(module, name)(**options, device="cuda"))
    assert json.dumps(gpu) == json.dumps(again)  # the same GPU, the same seed: the same numbers
    for c, g in zip(cpu["per_seed"], gpu["per_seed"]):
        for fc, fg in zip(c["folds"], g["folds"]):
            assert fc["best_epoch"] == fg["best_epoch"]
            assert np.allclose(fc["train_loss"], fg["train_loss"], atol=1e-4)
            assert np.allclose(fc["val_curve"], fg["val_curve"], atol=1e-4)
    assert abs(cpu["mean"] - gpu["mean"]) <= 1e-4
