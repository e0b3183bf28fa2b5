"""Long records in bounded memory (``encoders/chunking``): a frame-local encoder's chunks stitch back into
exactly the whole-clip frames and clip embedding; a batch of long clips is split by its sample budget; a
context stated too small is caught (too few frames: an error; wrong values: ``check-encoder``'s ``chunks``)."""

from __future__ import annotations

import textwrap
import uuid

import numpy as np
import pytest

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.embedding.encoders import load_encoder
from libtrad.ray_jobs.embedding.encoders.chunking import budget_batches, plan_pieces

# Frame-local encoders at 1 kHz, hop 10 samples: a centred 40-sample window (frame k reads 10k-20 .. 10k+20,
# 20 ms beyond its hop) or a full 40-sample window (10k .. 10k+40: 30 ms beyond it); CONTEXT is what they state.
MODULE = textwrap.dedent("""
    import torch


    class Local(torch.nn.Module):
        sampling_rate, hop_size_in_ms, output_dim = 1000, 10.0, 4

        def __init__(self, centred=True, context=None):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv1d(1, 4, 40, stride=10, padding=20 if centred else 0)
            self.context_in_ms = context if context is not None else (20.0 if centred else 30.0)

        def forward(self, audio):
            return torch.tanh(self.conv(audio[:, None])).transpose(1, 2)
""")


@pytest.fixture
def local(tmp_path, monkeypatch):
    name = f"local_encoder_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda query="": load_encoder(f"py:{name}:Local{query}", device="cpu")
    import sys

    sys.modules.pop(name, None)


def test_pieces_tile_the_clip_and_short_clips_run_whole():
    pieces = plan_pieces([2500, 1999, 300], hop=10, context=20, chunk_samples=1000)
    assert [(p.clip, p.start, p.end, p.keep_from, p.keep_to) for p in pieces] == [
        (0, 0, 1020, 0, 100),
        (0, 980, 2500, 2, None),
        (1, 0, 1999, 0, None),
        (2, 0, 300, 0, None),
    ]
    assert plan_pieces([2500], hop=None, context=20, chunk_samples=1000)[0].whole  # hop not whole samples
    assert plan_pieces([2500], hop=10, context=None, chunk_samples=1000)[0].whole  # not frame-local
    assert budget_batches([0, 1, 2, 3, 4], 1000, 2500) == [[0, 1], [2, 3], [4]]
    assert budget_batches([0, 1], 5000, 2500) == [[0], [1]] and budget_batches([0, 1], 5000, None) == [[0, 1]]


@pytest.mark.parametrize("query", ["", "?centred=false"])
def test_stitched_chunks_equal_the_whole_clip(local, query):
    encoder = local(query)
    rng = np.random.default_rng(0)
    clips = [rng.normal(0, 0.3, n).astype(np.float32) for n in (5437, 5000, 800, 5437)]
    whole_pooled, whole_frames = encoder.embed(clips)
    pooled, frames = encoder.embed(clips, chunk_samples=1000, batch_samples=2000)
    for got, want in zip(frames, whole_frames):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(pooled, whole_pooled, atol=1e-6)


def test_a_context_stated_too_small_is_caught(local):
    with pytest.raises(LibtradError, match="its context_in_ms is too small to cut long clips into chunks"):
        local("?centred=false&context=5").embed([np.zeros(5000, np.float32)], chunk_samples=1000)
    centred = local("?context=5")  # frames are counted right but read padding at the cuts: values differ
    from libtrad.ray_jobs.embedding.check_encoder import check_encoder

    results = {r.name: r for r in check_encoder(centred, quick=True)}
    assert not results["chunks"].passed and "is the context stated too small?" in results["chunks"].message
    assert {r.name: r.passed for r in check_encoder(local(), quick=True)}["chunks"]


def test_long_rows_through_the_unit_embedder_are_chunked_and_bounded(local, tmp_path):
    """A 3-channel row of 12 s at 2 kHz (resampled to 1 kHz) with 2-s chunks: the same embeddings as whole."""
    import datasets

    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

    features = datasets.Features(
        {
            "signals": datasets.List(datasets.List(datasets.Value("float32"))),
            "channels": datasets.List(datasets.Value("string")),
            "sampling_rate": datasets.Value("int32"),
        }
    )
    rng = np.random.default_rng(1)
    rows = {
        "signals": [rng.normal(0, 0.2, (3, 24_000)).astype(np.float32) for _ in range(2)],
        "channels": [["DE", "FE", "BA"]] * 2,
        "sampling_rate": [2000, 2000],
    }
    (tmp_path / "ds").mkdir()
    datasets.Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "ds" / "train-00000.parquet")
    source = resolve_dataset(str(tmp_path / "ds"))
    spec = local().spec
    unit = plan_units(source, 8)[0]
    chunked, _ = UnitEmbedder(spec, EmbedOptions(chunk_seconds=2.0, batch_size=2, frames=True), source).run(unit)
    whole, _ = UnitEmbedder(spec, EmbedOptions(chunk_seconds=3600, frames=True), source).run(unit)
    for column in ("embedding", "frames"):
        np.testing.assert_allclose(
            np.array(chunked.column(column).to_pylist()), np.array(whole.column(column).to_pylist()), atol=1e-6
        )
    assert chunked.column("embedded_channels").to_pylist() == [["DE", "FE", "BA"]] * 2
