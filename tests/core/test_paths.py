"""libtrad.core.paths: a name the file system cannot even look up is "not there", never an OSError."""

from __future__ import annotations

from libtrad.core import paths


def test_a_name_too_long_to_look_up_is_not_there(tmp_path):
    long = tmp_path / ("a" * 5000)
    assert not paths.exists(long) and not paths.is_dir(long) and not paths.is_file(long)
    assert not paths.exists("org/" + "b" * 5000) and not paths.exists("nul\x00byte")


def test_what_is_there_is_there(tmp_path):
    (tmp_path / "f").write_text("x")
    assert paths.exists(tmp_path) and paths.is_dir(tmp_path) and not paths.is_file(tmp_path)
    assert paths.exists(tmp_path / "f") and paths.is_file(tmp_path / "f") and not paths.is_dir(tmp_path / "f")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert not paths.exists(loop)
