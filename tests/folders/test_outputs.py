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

from libtrad.core.errors import LibtradError
from libtrad.folders import outputs
from libtrad.folders.lock import output_lock
from libtrad.folders.marker import MARKER, STAGING_MARKER, marker_kind, read_marker
from libtrad.folders.outputs import atomic_output, resumable_staging

DEAD_PID = 2**22 + 12345  # above the default pid_max: no such process


def _users_lookalikes(parent: Path, name: str) -> list[Path]:
    """A user's folders and files named like every kind of libtrad staging folder and lock file."""
    made = []
    for entry in (
        f".{name}.resume-mine",
        f".{name}.resume-{'0' * 24}",
        f".{name}.partial-{DEAD_PID}-x",
        f".{name}.partial-1-y",
        f".{name}.old-{DEAD_PID}",
        f".{name}.old-{DEAD_PID}-z",
    ):
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
    (stale / STAGING_MARKER).write_text(
        json.dumps({"libtrad_staging": 1, "output": str(out), "purpose": "partial", "pid": DEAD_PID})
    )
    (out / "NOTES.md").unlink()
    _write(out, "v2")
    assert (out / "NOTES.md").read_text() == "mine" and not stale.exists()


def test_a_run_killed_between_the_two_renames_gets_the_old_output_back(tmp_path):
    out = tmp_path / "out"
    _write(out, "v1")
    stale = tmp_path / f".out.old-{DEAD_PID}-abc"
    stale.mkdir()
    (stale / STAGING_MARKER).write_text(
        json.dumps({"libtrad_staging": 1, "output": str(out), "purpose": "old", "pid": DEAD_PID})
    )
    out.rename(stale / "content")
    outputs._recover_stale(out.resolve())
    assert json.loads((out / "results.json").read_text()) == {"v": "v1"} and not stale.exists()


def test_a_staging_marker_for_another_output_or_purpose_is_not_enough(rel, tmp_path):
    out = tmp_path / "out"
    cases = {
        f".out.partial-{DEAD_PID}-a": {"output": str(tmp_path / "other"), "purpose": "partial"},
        f".out.old-{DEAD_PID}-b": {"output": str(out), "purpose": "partial"},
        f".out.partial-{DEAD_PID}-c": "not json",
    }
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
    code = (
        "import sys; from libtrad.folders.lock import output_lock\n"
        "try:\n    with output_lock(sys.argv[1]): print('locked')\n"
        "except Exception as exc: print(exc)\n"
    )
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


# ----------------------------------------------------------------------------- from test_reliability_outputs.py
# ----------------------------------------------------------------------------- never replace others' folders
def test_unrelated_folder_with_a_manifest_is_refused(cli, rel, raw, tmp_path, build_lib_trad):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "manifest.json").write_text('{"my": "own manifest"}')
    (mine / "thesis.tex").write_text("irreplaceable")
    before = rel.snapshot(mine, raw)
    rel.assert_error_line(build_lib_trad(cli, raw, mine), str(mine), "not a libtrad folder")
    assert rel.snapshot(mine, raw) == before


def test_output_that_is_a_file_is_refused(cli, rel, raw, tmp_path, build_lib_trad):
    target = tmp_path / "results.csv"
    target.write_text("a,b\n")
    before = rel.snapshot(target)
    rel.assert_error_line(build_lib_trad(cli, raw, target), "results.csv", "not a folder")
    assert rel.snapshot(target) == before


@pytest.mark.parametrize("where", ["output-contains-data", "output-inside-data", "output-is-data"])
def test_output_may_not_overlap_the_data_dir(cli, rel, raw, tmp_path, where, build_lib_trad):
    if where == "output-contains-data":
        out, data = tmp_path, raw
        expected = "contains the input --data-dir"
    elif where == "output-inside-data":
        out, data = raw / "export", raw
        expected = "lies inside the input --data-dir"
    else:
        out, data = raw, raw
        expected = "is the input --data-dir"
    before = rel.snapshot(tmp_path)
    rel.assert_error_line(build_lib_trad(cli, data, out), expected)
    assert rel.snapshot(tmp_path) == before


def test_a_folder_of_another_kind_is_refused(cli, rel, raw, tmp_path, build_lib_trad):
    """A libtrad synthetic folder is not a dataset export (and vice versa): neither replaces the other."""
    before = rel.snapshot(raw)
    rel.assert_error_line(
        build_lib_trad(cli, raw, raw.parent / "elsewhere" / ".." / raw.name), "is the input --data-dir"
    )
    export = tmp_path / "export"
    assert build_lib_trad(cli, raw, export).exit_code == 0
    exported = rel.snapshot(export)
    rel.assert_error_line(
        cli("synth", "lib-trad", export, "--scale", "0.02"), "is a libtrad dataset folder", "not a synthetic folder"
    )
    assert rel.snapshot(export) == exported and rel.snapshot(raw) == before


def test_rebuild_into_a_git_clone_keeps_the_users_files(cli, rel, raw, tmp_path, build_lib_trad):
    published = tmp_path / "published"
    assert build_lib_trad(cli, raw, published).exit_code == 0
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(published)], check=True)
    subprocess.run([*git, "-C", str(published), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(published), "commit", "-qm", "export"], check=True)
    clone = tmp_path / "clone"
    subprocess.run([*git, "clone", "-q", str(published), str(clone)], check=True)
    (clone / "NOTES.md").write_text("my notes")
    (clone / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    (clone / "data" / "tr1" / "review.txt").write_text("checked by hand")
    users = {p: clone / p for p in ("NOTES.md", ".gitattributes", "data/tr1/review.txt")}
    before = rel.snapshot(clone / ".git", *users.values())

    result = build_lib_trad(cli, raw, clone, "--seed", "5")  # a real change: other splits
    assert result.exit_code == 0, result.output
    assert rel.snapshot(clone / ".git", *users.values()) == before
    marker = read_marker(clone)
    assert marker["kind"] == "dataset" and "README.md" in marker["files"]
    assert not set(users) & set(marker["files"])
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_rebuild_is_byte_identical_and_lists_every_file(cli, raw, tmp_path, build_lib_trad):
    out = tmp_path / "out"
    assert build_lib_trad(cli, raw, out).exit_code == 0
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert build_lib_trad(cli, raw, out).exit_code == 0
    second = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert first == second
    listed = set(read_marker(out)["files"]) | {MARKER}
    assert listed == {p.as_posix() for p in first}


def test_a_killed_swap_gives_the_users_files_back(cli, raw, tmp_path, build_lib_trad):
    """Killed after carrying a user file into the staging folder: the next run moves it back."""
    out = tmp_path / "out"
    assert build_lib_trad(cli, raw, out).exit_code == 0
    dead = 2**22 + 12345  # no such process
    stale = tmp_path / f".out.partial-{dead}-dead"
    shutil.copytree(out, stale / "content")
    (stale / STAGING_MARKER).write_text(
        json.dumps({"libtrad_staging": 1, "output": str(out), "purpose": "partial", "pid": dead})
    )
    (stale / "content" / "NOTES.md").write_text("carried before the kill")
    assert build_lib_trad(cli, raw, out).exit_code == 0
    assert (out / "NOTES.md").read_text() == "carried before the kill"
    assert not stale.exists()


def test_output_that_cannot_be_written_is_refused_before_the_scan(raw, tmp_path):
    """A read-only place: refused at once (no validation progress), nothing created."""
    locked = tmp_path / "locked"
    locked.mkdir()
    command = [
        sys.executable,
        "-m",
        "libtrad.cli",
        "build",
        "lib-trad",
        "--data-dir",
        str(raw),
        "--output",
        str(locked / "out"),
        "--configs",
        "tr1",
    ]
    if os.geteuid() == 0:  # root writes through permission bits: use a read-only mount instead
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: cannot make a read-only folder")
        script = 'mount -t tmpfs -o ro none "$1" && shift && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", script, "sh", str(locked), *command]
    else:
        locked.chmod(0o555)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if os.geteuid() == 0 and "mount:" in done.stderr:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --output") and "cannot write" in lines[0], done.stderr
    assert "validating" not in done.stderr and not list(locked.iterdir())


# ----------------------------------------------------------------------------- names are not libtrad's marks
def _lookalikes(parent: Path, name: str) -> list[Path]:
    """A user's folders and file named like libtrad's staging folders and lock file for ``name``."""
    dead = 2**22 + 12345  # no such process
    made = []
    for entry in (f".{name}.partial-{dead}-mine", f".{name}.old-{dead}", f".{name}.resume-mine"):
        (parent / entry / "sub").mkdir(parents=True)
        (parent / entry / "sub" / "thesis.tex").write_text("irreplaceable")
        made.append(parent / entry)
    return made


def test_a_users_folders_named_like_staging_folders_are_never_touched(cli, rel, raw, tmp_path, build_lib_trad):
    users = _lookalikes(tmp_path, "out")
    before = rel.snapshot(*users)
    out = tmp_path / "out"
    assert build_lib_trad(cli, raw, out).exit_code == 0
    assert build_lib_trad(cli, raw, out, "--seed", "5").exit_code == 0  # a rebuild: swap, retired folder cleaned
    assert rel.snapshot(*users) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "raw", *(u.name for u in users)])


def test_embed_leaves_a_users_resume_named_folders_alone(cli, rel, lib_trad_export, tmp_path):
    users = _lookalikes(tmp_path, "emb")
    before = rel.snapshot(*users)
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
        "--actors",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert rel.snapshot(*users) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["emb", *(u.name for u in users)])


def _results(folder: Path, encoder: str) -> Path:
    from libtrad.folders.outputs import atomic_output

    data = {
        "suite": "xares-knn",
        "task": "ds/cfg",
        "metric": "accuracy",
        "value": 0.8,
        "test_size": 10,
        "protocol_version": 1,
        "options": {},
        "inputs": [
            {
                "path": f"/emb/{encoder}",
                "encoder": encoder,
                "dataset": "owner/ds",
                "config": "cfg",
                "dataset_shards": ["s1"],
                "cache_key": "k",
            }
        ],
    }
    with atomic_output(folder, "results") as tmp:
        (tmp / "results.json").write_text(json.dumps(data))
    return folder


def test_leaderboard_never_replaces_a_results_folder(cli, rel, tmp_path):
    one, two = _results(tmp_path / "r" / "one", "enc-a"), _results(tmp_path / "r2" / "two", "enc-b")
    before = rel.snapshot(two)
    rel.assert_error_line(
        cli("leaderboard", one, "--output", two), str(two), "is a libtrad results folder", "not a leaderboard folder"
    )
    assert rel.snapshot(two) == before
    board = tmp_path / "board"
    assert cli("leaderboard", one, "--output", board).exit_code == 0
    assert read_marker(board)["kind"] == "leaderboard"
    assert cli("leaderboard", one, two, "--output", board).exit_code == 0  # its own kind: replaced
    verified = cli("verify", board)
    assert verified.exit_code == 0 and "libtrad leaderboard folder" in verified.output, verified.output
    board_before = rel.snapshot(board)
    rel.assert_error_line(
        cli("evaluate", "xares-knn", "--embeddings", tmp_path / "none", "--output", board),
        "is a libtrad leaderboard folder",
        "not a results folder",
    )
    assert rel.snapshot(board) == board_before


@pytest.mark.parametrize(
    "args",
    [
        ("synth", "lib-trad", "s3://bucket/raw"),
        ("evaluate", "siren-fault", "--embeddings", "EMB", "--output", "gs://bucket/results"),
    ],
    ids=["synth", "evaluate"],
)
def test_an_output_url_is_refused_not_written_to_a_local_s3_folder(args, tmp_path, monkeypatch, cli, rel):
    # Only `embed` writes to object stores; elsewhere pathlib would fold s3://b/x into a local "s3:/b/x".
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMB").mkdir()
    url = next(a for a in args if "://" in a)
    rel.assert_error_line(cli(*args), url, "is a URL; this command writes a local folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["EMB"]


# ----------------------------------------------------------------------------- a full disk
def _limited(limit: int):
    """A child's file-size limit (RLIMIT_FSIZE): a write past it fails with EFBIG, "File too large" (Python
    ignores SIGXFSZ), as a full disk fails with ENOSPC; both carry no file name on a write()."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_names_the_file_being_written_and_leaves_no_output(tmp_path, rel):
    from libtrad.builders.registry import SIREN

    SIREN.synthesize(tmp_path / "raw", component="seu", scale=0.05, progress=False)
    out = tmp_path / "out"
    args = ["build", "siren", "--component", "seu", "--data-dir", tmp_path / "raw", "--output", out]
    done = subprocess.run(
        [sys.executable, "-m", "libtrad.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited(30_000),
    )
    line = rel.assert_error_line(done, f"{out}/data/", ": cannot write it (File too large)")
    assert ".partial-" not in line.split(": cannot")[0].rsplit("/", 3)[0]  # the output's own name, not staging's
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_full_disk_while_writing_a_results_file_names_the_output(tmp_path, rel):
    import errno

    def fill(folder: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # a write() names no file

    with pytest.raises(LibtradError, match=rf"^{tmp_path / 'res'}: cannot write it \(No space left on device\)$"):
        with atomic_output(tmp_path / "res", "results") as tmp:
            fill(tmp)
    assert not (tmp_path / "res").exists()
