"""Staging folders and lock files beside an output are libtrad's only when they carry libtrad's mark.

A user's dot-folder or file that merely has such a name (``.OUT.resume-…``, ``.OUT.partial-<pid>-…``,
``.OUT.old-<pid>``, ``.OUT.lock``) stays byte-identical; where it blocks libtrad, one line names it.
libtrad's own staging folders of dead runs are still cleaned and give carried user files back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from libtrad.folders import outputs
from libtrad.core.errors import LibtradError
from libtrad.folders.lock import output_lock
from libtrad.folders.marker import MARKER, STAGING_MARKER, marker_kind, read_marker
from libtrad.folders.outputs import atomic_output, resumable_staging

DEAD_PID = 2**22 + 12345  # above the default pid_max: no such process


def _users_lookalikes(parent: Path, name: str) -> list[Path]:
    """A user's folders and files named like every kind of libtrad staging folder and lock file."""
    made = []
    for entry in (f".{name}.resume-mine", f".{name}.resume-{'0' * 24}", f".{name}.partial-{DEAD_PID}-x",
                  f".{name}.partial-1-y", f".{name}.old-{DEAD_PID}", f".{name}.old-{DEAD_PID}-z"):
        folder = parent / entry
        (folder / "sub").mkdir(parents=True)
        (folder / "thesis.tex").write_text("irreplaceable")
        (folder / "sub" / "data.bin").write_bytes(os.urandom(64))
        made.append(folder)
    return made


def _write(out: Path, text: str = "v1", **kwargs) -> None:
    with atomic_output(out, "results", **kwargs) as tmp:
        (tmp / "results.json").write_text(json.dumps({"v": text}))


def test_lookalike_folders_survive_every_write_path(rel, tmp_path, monkeypatch):
    """Fresh write, rebuild by exchange, rebuild by the rename fallback, resumable staging of another key."""
    out = tmp_path / "out"
    users = _users_lookalikes(tmp_path, "out")
    # A user's folder that also holds a file named like libtrad's output marker is still not a staging folder.
    (users[2] / MARKER).write_text(json.dumps({"kind": "results", "files": {}}))
    before = rel.snapshot(*users)
    _write(out, "v1")
    _write(out, "v2")
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)  # no renameat2: the .old- path
    _write(out, "v3")
    staging = resumable_staging(out, "k" * 24)
    (staging / "part.txt").write_text("a finished part")
    resumable_staging(out, "other-key")  # drops libtrad's staging of key k…, never the user's
    assert not (tmp_path / f".out.resume-{'k' * 24}").exists()
    assert rel.snapshot(*users) == before
    assert json.loads((out / "results.json").read_text()) == {"v": "v3"}


def test_a_dead_runs_staging_folder_is_cleaned_and_gives_user_files_back(tmp_path):
    """libtrad's own staging folder (its marker inside, a dead pid) is recognised and cleaned."""
    out = tmp_path / "out"
    _write(out, "v1")
    (out / "NOTES.md").write_text("mine")
    stale = tmp_path / f".out.partial-{DEAD_PID}-abc"
    shutil.copytree(out, stale / "content")  # as a run killed after carrying NOTES.md into its staging
    (stale / STAGING_MARKER).write_text(json.dumps({"libtrad_staging": 1, "output": str(out), "purpose": "partial",
                                                     "pid": DEAD_PID}))
    (out / "NOTES.md").unlink()
    _write(out, "v2")
    assert (out / "NOTES.md").read_text() == "mine" and not stale.exists()


def test_a_run_killed_between_the_two_renames_gets_the_old_output_back(tmp_path):
    out = tmp_path / "out"
    _write(out, "v1")
    stale = tmp_path / f".out.old-{DEAD_PID}-abc"
    stale.mkdir()
    (stale / STAGING_MARKER).write_text(json.dumps({"libtrad_staging": 1, "output": str(out), "purpose": "old",
                                                     "pid": DEAD_PID}))
    out.rename(stale / "content")
    outputs._recover_stale(out.resolve())
    assert json.loads((out / "results.json").read_text()) == {"v": "v1"} and not stale.exists()


def test_a_staging_marker_for_another_output_or_purpose_is_not_enough(rel, tmp_path):
    out = tmp_path / "out"
    cases = {f".out.partial-{DEAD_PID}-a": {"output": str(tmp_path / "other"), "purpose": "partial"},
             f".out.old-{DEAD_PID}-b": {"output": str(out), "purpose": "partial"},
             f".out.partial-{DEAD_PID}-c": "not json"}
    for name, info in cases.items():
        (tmp_path / name / "content").mkdir(parents=True)
        (tmp_path / name / "content" / "keep.txt").write_text("keep")
        text = info if isinstance(info, str) else json.dumps({"libtrad_staging": 1, "pid": DEAD_PID, **info})
        (tmp_path / name / STAGING_MARKER).write_text(text)
    before = rel.snapshot(tmp_path)
    outputs._recover_stale(out.resolve())
    assert rel.snapshot(tmp_path) == before


def test_resume_folder_of_the_exact_name_that_libtrad_did_not_make_is_refused(rel, tmp_path):
    out = tmp_path / "out"
    mine = tmp_path / ".out.resume-abc"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    before = rel.snapshot(mine)
    with pytest.raises(LibtradError, match=r"\.out\.resume-abc: exists and was not made by libtrad"):
        resumable_staging(out, "abc")
    assert rel.snapshot(mine) == before
    (tmp_path / ".out.resume-link").symlink_to(mine)
    with pytest.raises(LibtradError, match="not made by libtrad"):
        resumable_staging(out, "link")
    assert rel.snapshot(mine) == before


def test_resumable_staging_is_kept_and_marked(tmp_path):
    out = tmp_path / "out"
    first = resumable_staging(out, "abc")
    (first / "unit-0.parquet").write_bytes(b"done")
    again = resumable_staging(out, "abc")
    assert again == first and (again / "unit-0.parquet").read_bytes() == b"done"
    info = json.loads((first.parent / STAGING_MARKER).read_text())
    assert info["purpose"] == "resume" and info["output"] == str(out.resolve())
    with atomic_output(out, "embeddings", staging=again):
        pass
    assert (out / "unit-0.parquet").read_bytes() == b"done" and not first.parent.exists()
    assert read_marker(out)["kind"] == "embeddings"


@pytest.mark.parametrize("what", ["file", "empty file", "folder", "link", "link to nothing"])
def test_a_users_lock_named_file_is_refused_and_kept(rel, tmp_path, what):
    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    target = tmp_path / "elsewhere.txt"
    target.write_text("the link's target")
    if what == "file":
        lock.write_text("my lock notes")
    elif what == "empty file":
        lock.touch()
    elif what == "folder":
        lock.mkdir()
        (lock / "x").write_text("x")
    elif what == "link":
        lock.symlink_to(target)
    else:
        lock.symlink_to(tmp_path / "missing")
    before = rel.snapshot(tmp_path)
    with pytest.raises(LibtradError, match=r"\.out\.lock: exists and was not written by libtrad") as caught:
        with output_lock(out):
            pytest.fail("locked over a file libtrad did not write")
    assert "\n" not in str(caught.value)
    assert rel.snapshot(tmp_path) == before


def test_the_lock_file_is_libtrads_own_and_removed_after(tmp_path):
    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    with output_lock(out):
        assert json.loads(lock.read_text()) == {"libtrad_lock": 1, "output": str(out.resolve())}
        with pytest.raises(LibtradError, match="another libtrad job is writing it now"):
            with output_lock(out):
                pass
        assert lock.exists()
    assert not lock.exists() and not list(tmp_path.iterdir())
    lock.write_text(json.dumps({"libtrad_lock": 1, "output": str(out)}))  # left by a killed job: reused
    with output_lock(out):
        pass
    assert not lock.exists()


def test_the_lock_excludes_another_process(tmp_path):
    out = tmp_path / "out"
    code = ("import sys; from libtrad.folders.lock import output_lock\n"
            "try:\n    with output_lock(sys.argv[1]): print('locked')\n"
            "except Exception as exc: print(exc)\n")
    with output_lock(out):
        done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    assert "another libtrad job is writing it now" in done.stdout, done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "locked", done.stdout + done.stderr


def test_leaderboard_is_a_kind_of_its_own_and_old_leaderboards_are_recognised(tmp_path):
    board = tmp_path / "board"
    with atomic_output(board, "leaderboard") as tmp:
        for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.png"):
            (tmp / name).write_text(name)
    assert read_marker(board)["kind"] == "leaderboard"
    with pytest.raises(LibtradError, match="is a libtrad leaderboard folder, not a results folder"):
        outputs.check_output(board, "results")
    # Written before leaderboards had their kind: marked "results", but holding only the leaderboard files.
    marker = json.loads((board / MARKER).read_text())
    (board / MARKER).write_text(json.dumps({**marker, "kind": "results"}))
    assert marker_kind(board) == "leaderboard"
    with pytest.raises(LibtradError, match="is a libtrad leaderboard folder, not a results folder"):
        outputs.check_output(board, "results")
    assert outputs.check_output(board, "leaderboard") == board.resolve()
