"""What libtrad writes follows the user's umask (``outputs.follow_umask``), whatever the library that wrote it.

safetensors writes ``model.safetensors`` 0600 through a temporary file renamed into place, and ``tempfile`` makes
0600 files and 0700 folders: left as they were, a model folder shared by a group (``umask 002``) or readable by
all (``umask 022``) would be readable by its owner alone.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from libtrad.folders.lock import output_lock
from libtrad.folders.marker import MARKER
from libtrad.folders.outputs import atomic_output, current_umask, follow_umask


def _modes(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix() or ".": stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]
    }


def _expected(folder: Path, mask: int) -> dict[str, int]:
    return {rel: (0o777 if (folder / rel).is_dir() else 0o666) & ~mask for rel in _modes(folder)}


@pytest.fixture
def umask():
    """Set the process's umask for one test, and put the previous one back."""
    before = os.umask(0o022)
    os.umask(before)

    def set_to(mask: int) -> None:
        os.umask(mask)

    yield set_to
    os.umask(before)


def test_current_umask_reads_the_mask_without_changing_it(umask):
    umask(0o027)
    assert current_umask() == 0o027 and current_umask() == 0o027


@pytest.mark.parametrize("mask", [0o002, 0o022], ids=["umask-002", "umask-022"])
def test_an_output_folder_follows_the_umask_whatever_wrote_its_files(tmp_path, umask, mask):
    from safetensors.numpy import save_file

    umask(mask)
    out = tmp_path / "model"
    with atomic_output(out, "model") as staging:
        save_file({"w": __import__("numpy").zeros(3, dtype="float32")}, str(staging / "model.safetensors"))
        fd, private = tempfile.mkstemp(dir=staging)  # 0600, as any library's temporary file renamed into place
        os.close(fd)
        os.replace(private, staging / "config.json")
        sub = Path(tempfile.mkdtemp(dir=staging))  # 0700
        (sub / "part.parquet").write_bytes(b"x")
        (staging / "README.md").write_text("# a card\n")
    modes = _modes(out)
    assert set(modes) >= {".", "model.safetensors", "config.json", "README.md", MARKER}
    assert modes == _expected(out, mask)


def test_follow_umask_leaves_links_and_what_they_point_at_alone(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "elsewhere.txt"
    target.write_text("not libtrad's")
    target.chmod(0o600)
    folder = tmp_path / "out"
    folder.mkdir(mode=0o700)
    (folder / "link").symlink_to(target)
    follow_umask(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755 and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_the_lock_file_follows_the_umask(tmp_path, umask):
    umask(0o002)
    out = tmp_path / "out"
    with output_lock(out):
        lock = tmp_path / ".out.lock"
        assert stat.S_IMODE(lock.stat().st_mode) == 0o664  # a group member's job can open it to wait its turn


def test_a_converted_model_from_python_m_libtrad_is_readable_by_the_group(shared_fixtures, tmp_path):
    """The reported case end to end: ``model.safetensors`` of a converted ECHO, written under ``umask 002``."""
    out = tmp_path / "echo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "libtrad",
            "convert",
            "echo",
            str(shared_fixtures / "echo_reference" / "echo_reference.safetensors"),
            str(out),
            "--heads",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o002),
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modes = _modes(out)
    assert modes["model.safetensors"] == 0o664 and modes == _expected(out, 0o002)
