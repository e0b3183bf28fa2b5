"""Helpers the builders' tests share: embedding a built stand-in in this process."""

from __future__ import annotations

from pathlib import Path

import pytest


def embed_in_process(dataset: Path, out: Path, options, config: str | None = None):
    """logmel-stats embeddings of ``dataset`` (its default config, or ``config``), unit by unit in this
    process (what ``libtrad embed`` computes on its actors), written to ``out`` and returned as one frame."""
    import pandas as pd
    import pyarrow.parquet as pq

    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import UnitEmbedder, plan_units

    source = resolve_dataset(str(dataset), config)
    embedder = UnitEmbedder("logmel-stats", options, source, threads=1)
    for unit in plan_units(source, 48):
        table, _ = embedder.run(unit)
        (out / unit.name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / unit.name)
    return pd.concat([pq.read_table(p).to_pandas() for p in sorted(out.rglob("*.parquet"))], ignore_index=True)


@pytest.fixture(name="embed_in_process", scope="session")
def _embed_in_process_fixture():
    return embed_in_process
