"""libtrad.ray_jobs.embedding.source: a dataset's shards are checked against its marker before embed reads them."""

from __future__ import annotations

from pathlib import Path


# ----------------------------------------------------------------------------- embed's dataset
def test_embed_refuses_a_dataset_whose_shard_changed_after_export(lib_trad_export, tmp_path, cli, rel, flip_byte):
    import shutil

    from libtrad.ray_jobs.embedding.source import resolve_dataset

    intact = resolve_dataset(str(lib_trad_export), "tr1")
    assert intact.verification == {"verified": True}
    copy = tmp_path / "ds"
    shutil.copytree(lib_trad_export, copy)
    shard = copy / Path(intact.shards[0].path).relative_to(lib_trad_export.resolve())
    flip_byte(shard)
    before = rel.snapshot(copy)
    result = cli(
        "embed", "--dataset", copy, "--config", "tr1", "--encoder", "logmel-stats", "--output", tmp_path / "emb"
    )
    rel.assert_error_line(result, str(shard.resolve()), "corrupted", "--dataset", "--no-verify")
    assert rel.snapshot(copy) == before and not (tmp_path / "emb").exists()
    source = resolve_dataset(str(copy), "tr1", no_verify=True)
    assert source.verification["verified"] is False and source.verification["reason"] == "--no-verify"
