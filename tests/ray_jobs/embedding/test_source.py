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


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed again)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dataset_that_is_no_folder_nor_hub_id_or_a_url_nothing_answers_at_is_named(tmp_path, cli, rel):
    """A 5,000-character id: shortened, "not a Hub id" (it is not tried as a folder name too long to look up,
    nor sent to the Hub); a URL on a closed port: the URL named with the cause."""
    from libtrad.core.errors import LINE_LIMIT

    def embed(dataset):
        return cli("embed", "--dataset", dataset, "--encoder", "logmel-stats", "--output", tmp_path / "emb")

    line = rel.assert_error_line(
        embed("org/" + "a" * 5000), "--dataset 'org/aaa", "…[5006 characters]…", "not a Hub id user/name"
    )
    assert len(line) <= LINE_LIMIT + len("error: ") and "File name too long" not in line
    url = f"http://127.0.0.1:{_closed_port()}/data"
    rel.assert_error_line(embed(url), f"--dataset {url!r}", "cannot be reached")
    assert not (tmp_path / "emb").exists()
