"""``train cnn|ae --device``: CUDA asked for where there is none is one line naming the node; a CPU run
records where it ran and keeps its bits; on a real GPU the same seed gives the same weights (``gpu``)."""

from __future__ import annotations

import json

import pytest
import torch

from libtrad.core.devices import node_name
from libtrad.ray_jobs.lib_trad.training import Recipe, train_cnn


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    from libtrad.builders.lib_trad.export import export_lib_trad
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    root = tmp_path_factory.mktemp("lib-trad")
    synthesize_lib_trad(root / "raw", scale=0.02, seed=0, progress=False)
    export_lib_trad(root / "raw", root / "hub", configs=("tr1_cls",), progress=False)
    return str(root / "hub")


def _weights(folder) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("family", ["cnn", "ae"])
def test_cuda_without_a_gpu_is_one_line_naming_the_node(family, gpus, tmp_path, cli, rel):
    gpus(0)
    out = tmp_path / "model"
    line = rel.assert_error_line(
        cli("train", family, "--dataset", tmp_path / "not-read", "--output", out, "--device", "cuda:1"),
        "--device",
        "cuda:1",
        node_name(),
        "no CUDA GPU",
    )
    assert "use --device cpu or auto" in line
    assert not out.exists()  # refused before any clip is read or a file written


def test_an_unknown_device_is_refused_by_the_flag(tmp_path, cli, rel):
    rel.assert_error_line(
        cli("train", "cnn", "--dataset", tmp_path / "d", "--output", tmp_path / "m", "--device", "gpu"),
        "--device",
        "gpu",
        "auto, cpu, cuda, cuda:N",
    )
    assert not (tmp_path / "m").exists()


def test_evaluate_lib_trad_models_on_cuda_without_a_gpu_is_one_line(monkeypatch, tmp_path, cli, rel):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = tmp_path / "model"
    model.mkdir()
    rel.assert_error_line(
        cli(
            "evaluate",
            "lib-trad",
            "--model",
            model,
            "--dataset",
            tmp_path / "d",
            "--experiments",
            "tr1",
            "--output",
            tmp_path / "out",
            "--device",
            "cuda",
        ),
        "--device",
        node_name(),
    )
    assert not (tmp_path / "out").exists() and list(model.iterdir()) == []


def test_cpu_run_records_its_device_and_keeps_the_cpu_bits(dataset, tmp_path, monkeypatch):
    """``auto`` on a machine without CUDA is the CPU: the very same weights as ``cpu``, and the history
    and the card say where they were trained."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    recipe = Recipe(epochs=1, batch_size=8)
    cpu = train_cnn(dataset, tmp_path / "cpu", config="tr1_cls", recipe=recipe, progress=False, device="cpu")
    auto = train_cnn(dataset, tmp_path / "auto", config="tr1_cls", recipe=recipe, progress=False)
    a, b = _weights(cpu.output_dir), _weights(auto.output_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = json.loads((cpu.output_dir / "training_history.json").read_text())
    assert history["device"]["device"] == "cpu" and history["device"]["torch"] == torch.__version__
    assert history["device"]["precision"] == "fp32"
    assert "trained on" in (cpu.output_dir / "README.md").read_text()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_is_repeatable_and_close_to_the_cpu(dataset, tmp_path):
    """Same GPU + same seed -> the same weights (deterministic mode); the CPU's first-epoch loss agrees
    to float32 rounding (not bit-identical: other kernels; Adam then amplifies the differences)."""
    recipe = Recipe(epochs=1, batch_size=4)
    runs = {
        name: train_cnn(dataset, tmp_path / name, config="tr1_cls", recipe=recipe, progress=False, device=device)
        for name, device in (("gpu1", "cuda"), ("gpu2", "cuda"), ("cpu", "cpu"))
    }
    g1, g2 = (_weights(runs[n].output_dir) for n in ("gpu1", "gpu2"))
    assert g1.keys() == g2.keys() and all(torch.equal(g1[k], g2[k]) for k in g1)
    assert runs["gpu1"].history[0]["loss"] == pytest.approx(runs["cpu"].history[0]["loss"], rel=1e-3)
    history = json.loads((runs["gpu1"].output_dir / "training_history.json").read_text())
    assert history["device"]["device"] == "cuda:0" and history["device"]["cuda"] == torch.version.cuda
