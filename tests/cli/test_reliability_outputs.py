"""Output folders and the CLI boundary: never touch what libtrad did not write, one line per failure.

Each case drives the real CLI, asserts exit status 2 with a single ``error:`` line naming the
file or option (no traceback), and that every file the user had is byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from libtrad.folders.marker import MARKER, STAGING_MARKER, read_marker


def _build(cli, raw, out, *extra):
    return cli("build", "lib-trad", "--data-dir", raw, "--output", out, "--configs", "tr1", *extra)


@pytest.fixture
def raw(lib_trad_raw, tmp_path) -> Path:
    copy = tmp_path / "raw"
    shutil.copytree(lib_trad_raw, copy)
    return copy


# ----------------------------------------------------------------------------- never replace others' folders
def test_unrelated_folder_with_a_manifest_is_refused(cli, rel, raw, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "manifest.json").write_text('{"my": "own manifest"}')
    (mine / "thesis.tex").write_text("irreplaceable")
    before = rel.snapshot(mine, raw)
    rel.assert_error_line(_build(cli, raw, mine), str(mine), "not a libtrad folder")
    assert rel.snapshot(mine, raw) == before


def test_output_that_is_a_file_is_refused(cli, rel, raw, tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("a,b\n")
    before = rel.snapshot(target)
    rel.assert_error_line(_build(cli, raw, target), "results.csv", "not a folder")
    assert rel.snapshot(target) == before


@pytest.mark.parametrize("where", ["output-contains-data", "output-inside-data", "output-is-data"])
def test_output_may_not_overlap_the_data_dir(cli, rel, raw, tmp_path, where):
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
    rel.assert_error_line(_build(cli, data, out), expected)
    assert rel.snapshot(tmp_path) == before


def test_a_folder_of_another_kind_is_refused(cli, rel, raw, tmp_path):
    """A libtrad synthetic folder is not a dataset export (and vice versa): neither replaces the other."""
    before = rel.snapshot(raw)
    rel.assert_error_line(_build(cli, raw, raw.parent / "elsewhere" / ".." / raw.name), "is the input --data-dir")
    export = tmp_path / "export"
    assert _build(cli, raw, export).exit_code == 0
    exported = rel.snapshot(export)
    rel.assert_error_line(cli("synth", "lib-trad", export, "--scale", "0.02"), "is a libtrad dataset folder",
                          "not a synthetic folder")
    assert rel.snapshot(export) == exported and rel.snapshot(raw) == before


def test_rebuild_into_a_git_clone_keeps_the_users_files(cli, rel, raw, tmp_path):
    published = tmp_path / "published"
    assert _build(cli, raw, published).exit_code == 0
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

    result = _build(cli, raw, clone, "--seed", "5")  # a real change: other splits
    assert result.exit_code == 0, result.output
    assert rel.snapshot(clone / ".git", *users.values()) == before
    marker = read_marker(clone)
    assert marker["kind"] == "dataset" and "README.md" in marker["files"]
    assert not set(users) & set(marker["files"])
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_rebuild_is_byte_identical_and_lists_every_file(cli, raw, tmp_path):
    out = tmp_path / "out"
    assert _build(cli, raw, out).exit_code == 0
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert _build(cli, raw, out).exit_code == 0
    second = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert first == second
    listed = set(read_marker(out)["files"]) | {MARKER}
    assert listed == {p.as_posix() for p in first}


def test_a_killed_swap_gives_the_users_files_back(cli, raw, tmp_path):
    """Killed after carrying a user file into the staging folder: the next run moves it back."""
    out = tmp_path / "out"
    assert _build(cli, raw, out).exit_code == 0
    dead = 2**22 + 12345  # no such process
    stale = tmp_path / f".out.partial-{dead}-dead"
    shutil.copytree(out, stale / "content")
    (stale / STAGING_MARKER).write_text(json.dumps({"libtrad_staging": 1, "output": str(out), "purpose": "partial",
                                                     "pid": dead}))
    (stale / "content" / "NOTES.md").write_text("carried before the kill")
    assert _build(cli, raw, out).exit_code == 0
    assert (out / "NOTES.md").read_text() == "carried before the kill"
    assert not stale.exists()


def test_output_that_cannot_be_written_is_refused_before_the_scan(raw, tmp_path):
    """A read-only place: refused at once (no validation progress), nothing created."""
    locked = tmp_path / "locked"
    locked.mkdir()
    command = [sys.executable, "-m", "libtrad.cli", "build", "lib-trad", "--data-dir", str(raw),
               "--output", str(locked / "out"), "--configs", "tr1"]
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


# ----------------------------------------------------------------------------- nothing accepted silently
def test_a_config_split_with_no_rows_is_refused(cli, rel, raw, tmp_path):
    for path in (raw / "TR1" / "normal").iterdir():
        path.unlink()
    before = rel.snapshot(raw)
    out = tmp_path / "out"
    result = cli("build", "lib-trad", "--data-dir", raw, "--output", out, "--configs", "tr1", "--on-error", "skip")
    rel.assert_error_line(result, "--configs", "tr1/train", "0 rows")
    assert rel.snapshot(raw) == before and not out.exists()


def test_the_card_usage_names_only_built_configs(cli, raw, tmp_path):
    out = tmp_path / "out"
    assert cli("build", "lib-trad", "--data-dir", raw, "--output", out, "--configs", "tr2_cls").exit_code == 0
    usage = (out / "README.md").read_text().split("## Usage", 1)[1].split("##", 1)[0]
    assert '"tr2_cls", split="validation"' in usage
    assert '"tr1"' not in usage and '"segments"' not in usage


@pytest.mark.parametrize("args, fragments", [
    (["synth", "lib-trad", "{tmp}/s", "--scale", "nan"], ["--scale nan", "finite"]),
    (["synth", "lib-trad", "{tmp}/s", "--scale", "inf"], ["--scale inf", "finite"]),
    (["synth", "lib-trad", "{tmp}/s", "--scale", "0"], ["--scale 0", "within"]),
    (["synth", "lib-trad", "{tmp}/s", "--level-db", "-inf"], ["--level-db -inf", "finite", "within [-80, 40]"]),
    (["synth", "lib-trad", "{tmp}/s", "--difficulty", "medium"], ["--difficulty", "easy", "paper", "hard"]),
    (["synth", "siren", "--component", "dcase2021", "{tmp}/s", "--level-db", "nan"], ["--level-db nan", "within"]),
    (["synth", "lib-trad", "{tmp}/s", "--seed", "-1"], ["--seed -1", "within [0, 4294967295]"]),
    (["synth", "lib-trad", "{tmp}/s", "--seed", str(2**32)], ["--seed 4294967296"]),
    (["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--duration-tolerance", "nan"],
     ["--duration-tolerance nan"]),
    (["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--duration-tolerance", "-0.5"],
     ["--duration-tolerance -0.5"]),
    (["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--train-fraction", "1"],
     ["--train-fraction 1"]),
    (["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--configs", ","], ["--configs ','"]),
    (["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--configs", "tr1,"], ["--configs 'tr1,'"]),
    (["train", "cnn", "--dataset", "{tmp}", "--output", "{tmp}/m", "--lr", "nan"], ["--lr nan"]),
    (["train", "cnn", "--dataset", "{tmp}", "--output", "{tmp}/m", "--lr", "inf"], ["--lr inf"]),
    (["train", "cnn", "--dataset", "{tmp}", "--output", "{tmp}/m", "--epochs", "0"], ["--epochs 0"]),
    (["train", "ae", "--dataset", "{tmp}", "--output", "{tmp}/m", "--batch-size", "-3"], ["--batch-size -3"]),
    (["convert", "echo", "{tmp}/ckpt.pth", "{tmp}/o", "--heads", "0"], ["--heads 0"]),
    (["demo", "--workdir", "{tmp}/d", "--scale", "nan"], ["--scale nan"]),
    (["evaluate", "lib-trad", "--model", "{tmp}", "--dataset", "{tmp}", "--experiments", "tr1,,tr2"],
     ["--experiments 'tr1,,tr2'"]),
])
def test_bad_numbers_and_lists_are_refused_by_name(cli, rel, raw, tmp_path, args, fragments):
    before = rel.snapshot(raw, tmp_path)
    filled = [a.format(tmp=tmp_path, raw=raw) for a in args]
    rel.assert_error_line(cli(*filled), *fragments)
    assert rel.snapshot(raw, tmp_path) == before


def test_no_output_flag_value_reaches_the_manifest_as_nan(cli, raw, tmp_path):
    out = tmp_path / "out"
    assert _build(cli, raw, out, "--duration-tolerance", "0.25").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["validation"]["duration_tolerance_s"] == 0.25


def test_demo_refuses_a_workdir_it_did_not_write(cli, rel, tmp_path):
    work = tmp_path / "work"
    (work / "raw").mkdir(parents=True)
    (work / "raw" / "field-recording.wav").write_bytes(b"RIFF precious")
    before = rel.snapshot(work)
    rel.assert_error_line(cli("demo", "--workdir", work), "raw", "not a libtrad folder")
    assert rel.snapshot(work) == before


# ----------------------------------------------------------------------------- the CLI boundary
def test_an_os_error_is_one_line_naming_the_file(cli, rel, raw, tmp_path, monkeypatch):
    import libtrad.builders.export as export

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "data"))

    monkeypatch.setattr(export, "write_configs", disk_full)
    rel.assert_error_line(_build(cli, raw, tmp_path / "out"), "No space left on device", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_an_internal_error_says_so_and_debug_shows_the_traceback(cli, raw, tmp_path, monkeypatch):
    import libtrad.builders.export as export

    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(export, "write_configs", bug)
    result = _build(cli, raw, tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: internal error in libtrad (KeyError") and "--debug" in lines[0]
    debug = cli("--debug", "build", "lib-trad", "--data-dir", raw, "--output", tmp_path / "out", "--configs", "tr1")
    assert isinstance(debug.exception, KeyError)


def test_a_usage_error_is_one_line(cli, rel):
    rel.assert_error_line(cli("build", "lib-trad", "--no-such-flag"), "--no-such-flag")
    rel.assert_error_line(cli("frobnicate"), "frobnicate")


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


def test_a_users_folders_named_like_staging_folders_are_never_touched(cli, rel, raw, tmp_path):
    users = _lookalikes(tmp_path, "out")
    before = rel.snapshot(*users)
    out = tmp_path / "out"
    assert _build(cli, raw, out).exit_code == 0
    assert _build(cli, raw, out, "--seed", "5").exit_code == 0  # a rebuild: swap, retired folder cleaned
    assert rel.snapshot(*users) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "raw", *(u.name for u in users)])


def test_embed_refuses_a_users_file_named_like_its_lock(cli, rel, lib_trad_export, tmp_path):
    lock = tmp_path / ".emb.lock"
    lock.write_text("my notes, not a lock")
    before = rel.snapshot(tmp_path)
    result = cli("embed", "--dataset", lib_trad_export, "--config", "tr1", "--split", "test", "--encoder",
                 "logmel-stats", "--output", tmp_path / "emb")
    rel.assert_error_line(result, str(lock), "not written by libtrad")
    assert rel.snapshot(tmp_path) == before


def test_embed_leaves_a_users_resume_named_folders_alone(cli, rel, lib_trad_export, tmp_path):
    users = _lookalikes(tmp_path, "emb")
    before = rel.snapshot(*users)
    result = cli("embed", "--dataset", lib_trad_export, "--config", "tr1", "--split", "test", "--encoder",
                 "logmel-stats", "--output", tmp_path / "emb", "--actors", "1")
    assert result.exit_code == 0, result.output
    assert rel.snapshot(*users) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["emb", *(u.name for u in users)])


def _results(folder: Path, encoder: str) -> Path:
    from libtrad.folders.outputs import atomic_output

    data = {"suite": "xares-knn", "task": "ds/cfg", "metric": "accuracy", "value": 0.8, "test_size": 10,
            "protocol_version": 1, "options": {},
            "inputs": [{"path": f"/emb/{encoder}", "encoder": encoder, "dataset": "owner/ds", "config": "cfg",
                        "dataset_shards": ["s1"], "cache_key": "k"}]}
    with atomic_output(folder, "results") as tmp:
        (tmp / "results.json").write_text(json.dumps(data))
    return folder


def test_leaderboard_never_replaces_a_results_folder(cli, rel, tmp_path):
    one, two = _results(tmp_path / "r" / "one", "enc-a"), _results(tmp_path / "r2" / "two", "enc-b")
    before = rel.snapshot(two)
    rel.assert_error_line(cli("leaderboard", one, "--output", two), str(two), "is a libtrad results folder",
                          "not a leaderboard folder")
    assert rel.snapshot(two) == before
    board = tmp_path / "board"
    assert cli("leaderboard", one, "--output", board).exit_code == 0
    assert read_marker(board)["kind"] == "leaderboard"
    assert cli("leaderboard", one, two, "--output", board).exit_code == 0  # its own kind: replaced
    verified = cli("verify", board)
    assert verified.exit_code == 0 and "libtrad leaderboard folder" in verified.output, verified.output
    board_before = rel.snapshot(board)
    rel.assert_error_line(cli("evaluate", "xares-knn", "--embeddings", tmp_path / "none", "--output", board),
                          "is a libtrad leaderboard folder", "not a results folder")
    assert rel.snapshot(board) == board_before


@pytest.mark.parametrize("args", [
    ("synth", "lib-trad", "s3://bucket/raw"),
    ("evaluate", "siren-fault", "--embeddings", "EMB", "--output", "gs://bucket/results"),
], ids=["synth", "evaluate"])
def test_an_output_url_is_refused_not_written_to_a_local_s3_folder(args, tmp_path, monkeypatch, cli, rel):
    # Only `embed` writes to object stores; elsewhere pathlib would fold s3://b/x into a local "s3:/b/x".
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMB").mkdir()
    url = next(a for a in args if "://" in a)
    rel.assert_error_line(cli(*args), url, "is a URL; this command writes a local folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["EMB"]
