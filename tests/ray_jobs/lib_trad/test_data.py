"""libtrad.ray_jobs.lib_trad.data (through ``libtrad train``): a dataset's shards checked before they are read,
each bad one named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TRAIN_SHARD = "data/tr1_cls/train-00000-of-00001.parquet"


VALID_SHARD = "data/tr1_cls/validation-00000-of-00001.parquet"


# ----------------------------------------------------------------------------- train: bad data
@pytest.mark.parametrize("shard", [TRAIN_SHARD, VALID_SHARD])
def test_a_truncated_shard_is_named(shard, lib_trad_copy, tmp_path, cli, rel, train_args):
    path = lib_trad_copy / shard
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = rel.snapshot(lib_trad_copy)
    rel.assert_error_line(cli(*train_args(lib_trad_copy, tmp_path / "out")), Path(shard).name)
    assert rel.snapshot(lib_trad_copy) == before and not (tmp_path / "out").exists()


def test_a_bit_flipped_shard_is_named(lib_trad_copy, tmp_path, cli, rel, train_args):
    path = lib_trad_copy / TRAIN_SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    rel.assert_error_line(cli(*train_args(lib_trad_copy, tmp_path / "out")), Path(TRAIN_SHARD).name)
    assert not (tmp_path / "out").exists()


def test_an_unknown_config_lists_the_available_ones(lib_trad_export, tmp_path, cli, rel, train_args):
    line = rel.assert_error_line(
        cli(*train_args(lib_trad_export, tmp_path / "out", "--config", "tr9")), "cannot load config 'tr9'", "available:"
    )
    assert "tr1_cls" in line and "tr2" in line
    assert not (tmp_path / "out").exists()


def test_a_manifest_that_is_not_utf8(lib_trad_copy, tmp_path, cli, rel, train_args):
    (lib_trad_copy / "manifest.json").write_bytes(b'{"synthetic": \xff\xfe}')
    rel.assert_error_line(cli(*train_args(lib_trad_copy, tmp_path / "out")), "manifest.json", "UTF-8")


def test_a_row_that_is_not_audio(tmp_path, cli, rel, plain_dataset, train_args):
    folder = plain_dataset(tmp_path / "plain", [b"this is not a WAV file"], [0])
    rel.assert_error_line(
        cli(*train_args(folder, tmp_path / "out", "--config", "default", family="ae")),
        "row 0",
        "undecodable audio (Format not recognised.)",
    )


def test_a_fifo_in_place_of_a_shard_is_named_not_read(lib_trad_copy, tmp_path, rel, train_args):
    """A named pipe where a shard should be would block any reader: refused by name, in bounded time."""
    shard = lib_trad_copy / TRAIN_SHARD
    shard.unlink()
    os.mkfifo(shard)
    done = rel.subprocess_cli(*train_args(lib_trad_copy, tmp_path / "out", "--config", "tr1_cls"), timeout=120)
    rel.assert_error_line(done, TRAIN_SHARD, "FIFO")
    assert not (tmp_path / "out").exists()
