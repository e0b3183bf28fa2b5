"""libtrad.folders.file_outputs: a single file libtrad writes is its own to replace only while its record
says so and its bytes are the ones recorded — never because of what its first line says."""

from __future__ import annotations

import errno
import json
import re

import pytest

from libtrad.core.errors import LibtradError
from libtrad.folders.file_outputs import check_file_output, record_path, write_file_output


def test_a_written_file_is_recognised_replaced_and_recorded(tmp_path):
    path = tmp_path / "enc.py"
    write_file_output(check_file_output(path, "xares-encoder"), "xares-encoder", b"# one\n")
    record = json.loads(record_path(path).read_text())
    assert record["libtrad_file"] == "xares-encoder" and "replacing" not in record
    assert record_path(path).name == ".enc.py.libtrad.json"
    write_file_output(check_file_output(path, "xares-encoder"), "xares-encoder", b"# two\n")
    assert path.read_bytes() == b"# two\n"


@pytest.mark.parametrize(
    "change, fragment",
    [
        ("edit", "was changed since libtrad wrote it"),
        ("no-record", "was not written by libtrad (no record .enc.py.libtrad.json beside it)"),
        ("other-kind", "its record .enc.py.libtrad.json is of a submission file, not a xares-encoder file"),
        ("bad-record", "its record .enc.py.libtrad.json cannot be read (JSONDecodeError)"),
    ],
)
def test_anything_else_is_refused_and_left_as_it_is(change, fragment, tmp_path):
    path = tmp_path / "enc.py"
    write_file_output(path, "xares-encoder", b"# libtrad's\n")
    if change == "edit":
        path.write_bytes(b"# libtrad's\n# and mine\n")
    elif change == "no-record":
        record_path(path).unlink()
    elif change == "other-kind":
        write_file_output(path, "submission", b"# libtrad's\n")
    else:
        record_path(path).write_text("{")
    before = path.read_bytes()
    with pytest.raises(LibtradError, match="^" + re.escape(f"--output {path}: exists and {fragment}")):
        check_file_output(path, "xares-encoder")
    assert path.read_bytes() == before


def test_a_url_a_folder_and_a_missing_folder_are_refused(tmp_path):
    with pytest.raises(LibtradError, match=r"^--output s3://b/enc.py: is a URL; this command writes a local file"):
        check_file_output("s3://b/enc.py", "xares-encoder")
    with pytest.raises(LibtradError, match="exists and is not a regular file"):
        check_file_output(tmp_path, "xares-encoder")
    with pytest.raises(LibtradError, match="does not exist"):
        check_file_output(tmp_path / "no" / "enc.py", "xares-encoder")


def test_a_full_disk_names_the_file_and_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "enc.py"
    write_file_output(path, "xares-encoder", b"# v1\n")

    def full(fd, *args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr("libtrad.folders.file_outputs.os.fdopen", full)
    with pytest.raises(LibtradError, match=rf"^{path}: cannot write it \(File too large\)$"):
        write_file_output(path, "xares-encoder", b"# v2\n")
    monkeypatch.undo()
    assert path.read_bytes() == b"# v1\n" and check_file_output(path, "xares-encoder") == path
    assert sorted(p.name for p in tmp_path.iterdir()) == [".enc.py.libtrad.json", "enc.py"]
