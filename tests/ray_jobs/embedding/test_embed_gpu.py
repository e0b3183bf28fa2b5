"""``embed`` / ``check-encoder`` on GPUs, tested without one: the device/precision/GPU-share errors
with torch's CUDA patched, and the GPU actor layout on a local Ray told it has 2 GPUs (Ray hands
each actor its own GPU id; torch still finds no CUDA, so ``auto`` runs on the CPU inside them).
The tests marked ``gpu`` need real CUDA and are skipped without it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from libtrad.core.devices import node_name
from libtrad.core.errors import LibtradError, ParameterError

HAS_CUDA = torch.cuda.is_available()
GPUS = torch.cuda.device_count() if HAS_CUDA else 2  # the real ones where there are, else 2 Ray is told of
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")


def embed_args(dataset: Path, output: Path, *extra) -> tuple:
    return ("embed", "--dataset", dataset, "--config", "tr1", "--encoder", "logmel-stats", "--output", output, *extra)


# ----------------------------------------------------------------------------- driver errors (no Ray)
ERRORS = [
    (("--device", "gpu"), None, ("--device", "expected one of auto, cpu, cuda, cuda:N")),
    (("--device", "cuda"), 0, ("--device 'cuda'", f"node {node_name()} has no CUDA GPU")),
    (("--device", "cuda:7"), 1, ("--device 'cuda:7'", "has 1 CUDA GPU(s) visible")),
    (("--gpus-per-actor", "0.3", "--device", "cpu"), None, ("--gpus-per-actor", "--device cpu")),
    (("--gpus-per-actor", "-1"), None, ("--gpus-per-actor", "within [0, 8]")),
    (("--gpus-per-actor", "nan"), None, ("--gpus-per-actor", "finite")),
    (("--gpus-per-actor", "1.5"), None, ("--gpus-per-actor", "whole number")),
    (("--precision", "fp16", "--device", "cpu"), None, ("--precision", "CUDA only")),
    (("--precision", "fp16"), 0, ("--precision", f"--device auto resolved to cpu on node {node_name()}")),
]


@pytest.mark.parametrize("extra, cuda, fragments", ERRORS, ids=[" ".join(e[0]) for e in ERRORS])
def test_embed_refuses_in_one_line_and_writes_nothing(
    extra, cuda, fragments, cli, rel, gpus, lib_trad_export, tmp_path
):
    if cuda is not None:
        gpus(cuda)
    before = rel.snapshot(tmp_path, lib_trad_export)
    rel.assert_error_line(cli(*embed_args(lib_trad_export, tmp_path / "emb", *extra)), *fragments)
    assert rel.snapshot(tmp_path, lib_trad_export) == before


@pytest.mark.parametrize(
    "extra, cuda, fragments",
    [
        (("--device", "cuda"), 0, ("--device 'cuda'", f"node {node_name()} has no CUDA GPU")),
        (("--device", "cuda:1"), 1, ("--device 'cuda:1'", "has 1 CUDA GPU(s)")),
        (("--precision", "fp16", "--device", "cpu"), None, ("--precision", "CUDA only")),
        (("--precision", "fp16"), 0, ("--precision", "auto resolved to cpu")),
    ],
    ids=["cuda-none", "cuda:1-of-1", "fp16-cpu", "fp16-auto"],
)
def test_check_encoder_refuses_in_one_line(extra, cuda, fragments, cli, rel, gpus):
    if cuda is not None:
        gpus(cuda)
    rel.assert_error_line(cli("check-encoder", "logmel-stats", "--quick", *extra), *fragments)


def test_preflight_loads_on_the_cpu_whatever_the_precision(echo_dir):
    """The driver's load is a cheap fp32 CPU load: fp16 (CUDA only) is not refused there."""
    from libtrad.ray_jobs.embedding.encoders import preflight

    assert preflight(f"echo:{echo_dir}", precision="fp16")["output_dim"] > 0
    with pytest.raises(ParameterError, match="expected one of fp32, bf16, fp16"):
        preflight(f"echo:{echo_dir}", precision="fp8")


# ----------------------------------------------------------------------------- prefetching
def test_prefetched_decoding_gives_the_same_bytes(lib_trad_export, echo_dir):
    """Decoding ahead in a thread (the GPU default) cuts the same batches: identical tables."""
    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

    source = resolve_dataset(str(lib_trad_export), "tr1", ["test"])
    unit = plan_units(source, 10)[0]
    tables = []
    for prefetch in (False, True):
        options = EmbedOptions(frames=True, batch_size=3, device="cpu", prefetch=prefetch)
        embedder = UnitEmbedder(f"echo:{echo_dir}", options, source, threads=1)
        assert embedder.prefetch is prefetch and embedder.batch_size == 3
        tables.append(embedder.run(unit)[0])
    assert tables[0].equals(tables[1]) and tables[0].schema.metadata == tables[1].schema.metadata


def test_a_decoding_error_ahead_reaches_the_caller(lib_trad_export):
    from libtrad.ray_jobs.embedding.units import _prefetched

    def rows():
        yield 1
        raise LibtradError("shard.parquet row 1: audio cannot be decoded")

    got = _prefetched(rows(), depth=1)
    assert next(got) == 1
    with pytest.raises(LibtradError, match="row 1: audio cannot be decoded"):
        next(got)


# ----------------------------------------------------------------------------- a local Ray with 2 GPUs
@pytest.fixture(scope="module")
def gpu_ray():
    """A private local Ray with GPUS GPUs (2 told of, none found, without CUDA; the real ones with it)."""
    import ray

    from libtrad.ray_jobs.cluster import loopback_only

    assert not ray.is_initialized()
    loopback_only()
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=GPUS,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
    )
    yield ray
    ray.shutdown()


def unit_records(folder: Path) -> list[dict]:
    return [
        json.loads(pq.read_schema(f).metadata[b"libtrad_embed"])["compute"]
        for f in sorted(folder.glob("data/**/*.parquet"))
    ]


def embeddings(folder: Path) -> np.ndarray:
    return np.concatenate(
        [
            np.stack(pq.read_table(f).column("embedding").to_numpy(zero_copy_only=False))
            for f in sorted(folder.glob("data/**/*.parquet"))
        ]
    )


def test_actor_layout_follows_the_gpus(gpu_ray):
    from libtrad.ray_jobs.embedding.actors import actor_resources

    gpus = GPUS
    # 2 CPUs: torch threads = cores ÷ actors (at least 1), each actor's CPU share fractional so all fit
    assert actor_resources(gpu_ray, "auto", None, None, None) == (
        gpus,
        max(1, 2 // gpus),
        round(min(max(1, 2 // gpus), 2 / gpus), 4),
        1.0,
    )
    assert actor_resources(gpu_ray, "cpu", None, None, None) == (1, 2, 2, 0.0)  # one per node, as without GPUs
    assert actor_resources(gpu_ray, "auto", 0.5, None, None) == (2 * gpus, 1, round(2 / (2 * gpus), 4), 0.5)
    assert actor_resources(gpu_ray, "cuda", 1, 1, None) == (1, 2, 2.0, 1.0)
    with pytest.raises(ParameterError, match="has at most .* GPU"):
        actor_resources(gpu_ray, "auto", 8 if gpus < 8 else 16, None, None)


def test_gpu_actors_get_distinct_gpus_and_the_cpu_run_none(gpu_ray, lib_trad_export, tmp_path):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    run = dict(config="tr1", rows_per_unit=4, progress=False)
    on_gpus = embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "gpu", **run)
    assert on_gpus.gpus_per_actor == 1.0 and on_gpus.units >= 4
    records = unit_records(tmp_path / "gpu")
    ids = {tuple(r["gpu_ids"]) for r in records}
    assert all(len(i) == 1 for i in ids) and len(ids) == min(GPUS, on_gpus.units), ids  # one actor per GPU
    on_cpu = embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "cpu", device="cpu", **run)
    assert on_cpu.gpus_per_actor == 0.0
    assert {tuple(r["gpu_ids"]) for r in unit_records(tmp_path / "cpu")} == {()}
    assert on_cpu.cache_key == on_gpus.cache_key  # the device is not in the key
    if HAS_CUDA:
        np.testing.assert_allclose(embeddings(tmp_path / "gpu"), embeddings(tmp_path / "cpu"), atol=1e-4)
    else:  # auto resolved to the CPU inside the GPU actors
        assert embeddings(tmp_path / "gpu").tobytes() == embeddings(tmp_path / "cpu").tobytes()
    info = json.loads((tmp_path / "gpu" / "embeddings.json").read_text())
    assert info["compute"]["gpus_per_actor"] == [1.0]
    device = "cuda:0" if HAS_CUDA else "cpu"
    assert [(d["device"], d["precision"], d["node"], d["batch_size"]) for d in info["compute"]["devices"]] == [
        (device, "fp32", node_name(), 64 if HAS_CUDA else 8)
    ]
    assert {"device_name", "torch", "cuda"} <= set(info["compute"]["devices"][0])


@pytest.mark.skipif(HAS_CUDA, reason="the actors would find a GPU")
@pytest.mark.parametrize(
    "extra, fragments",
    [
        (("--device", "cuda"), ("--device 'cuda'", f"node {node_name()} has no CUDA GPU")),
        (("--precision", "fp16"), ("--precision", "auto resolved to cpu")),
    ],
    ids=["cuda", "fp16-auto"],
)
def test_an_actors_device_error_is_one_line(extra, fragments, gpu_ray, cli, rel, lib_trad_export, tmp_path):
    """With --address the driver does not check its own node: each actor resolves on its node, and
    the first one's refusal ends the job in one line."""
    result = cli(*embed_args(lib_trad_export, tmp_path / "emb", "--address", "auto", *extra))
    rel.assert_error_line(result, *fragments)
    assert not (tmp_path / "emb").exists()


# ----------------------------------------------------------------------------- real CUDA only
@pytest.mark.gpu
@needs_cuda
def test_fp32_on_the_gpu_matches_the_cpu(echo_dir):
    from libtrad.ray_jobs.embedding.encoders import load_encoder

    clips = [np.random.default_rng(i).standard_normal(16000 + 800 * i).astype(np.float32) for i in range(4)]
    cpu = load_encoder(f"echo:{echo_dir}", device="cpu").embed(clips)
    gpu_encoder = load_encoder(f"echo:{echo_dir}", device="cuda")
    assert gpu_encoder.device.type == "cuda"
    gpu = gpu_encoder.embed(clips)
    assert gpu[0].dtype == np.float32 and np.abs(gpu[0] - cpu[0]).max() <= 1e-4
    assert max(np.abs(g - c).max() for g, c in zip(gpu[1], cpu[1])) <= 1e-4


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("kind", ["echo", "attention-ae", "logmel-stats"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_on_the_gpu_stays_close(kind, precision, echo_dir, ae_dir):
    from libtrad.ray_jobs.embedding.encoders import load_encoder

    spec = {"echo": f"echo:{echo_dir}", "attention-ae": f"attention-ae:{ae_dir}", "logmel-stats": "logmel-stats"}[kind]
    clips = [np.random.default_rng(i).standard_normal(16000).astype(np.float32) for i in range(3)]
    exact = load_encoder(spec, device="cuda").embed(clips)[0]
    fast = load_encoder(spec, device="cuda", precision=precision).embed(clips)[0]
    assert fast.dtype == np.float32 and np.isfinite(fast).all()
    cosine = (fast * exact).sum(1) / (np.linalg.norm(fast, axis=1) * np.linalg.norm(exact, axis=1))
    assert cosine.min() > 0.99, cosine


@pytest.mark.gpu
@needs_cuda
def test_check_encoder_passes_on_the_gpu(cli):
    result = cli("check-encoder", "logmel-stats", "--quick", "--device", "cuda")
    assert result.exit_code == 0, result.output
