"""libtrad.folders.lock: one job per output; a user's file named like the lock is refused, never touched."""

from __future__ import annotations


def test_embed_refuses_a_users_file_named_like_its_lock(cli, rel, lib_trad_export, tmp_path):
    lock = tmp_path / ".emb.lock"
    lock.write_text("my notes, not a lock")
    before = rel.snapshot(tmp_path)
    result = cli(
        "embed",
        "--dataset",
        lib_trad_export,
        "--config",
        "tr1",
        "--split",
        "test",
        "--encoder",
        "logmel-stats",
        "--output",
        tmp_path / "emb",
    )
    rel.assert_error_line(result, str(lock), "not written by libtrad")
    assert rel.snapshot(tmp_path) == before
