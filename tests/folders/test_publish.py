"""libtrad.folders.publish (and ``libtrad publish``): only libtrad folders, whole and intact, are planned and
sent; links, special files and foreign repos refused by name."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from libtrad.core.errors import LibtradError
from libtrad.folders.marker import MARKER
from libtrad.folders.outputs import write_marker
from libtrad.folders.publish import plan_upload, publish_folder
from libtrad.folders.verify import verify_dataset_split, verify_folder

SHARD = "data/tr1/train-00000-of-00001.parquet"


TEST_SHARD = "data/tr1/test-00000-of-00001.parquet"


DATASET_REQUIRED = ("README.md", "manifest.json", "data")


def dry_run(cli, folder, repo_id="me/lib-trad", kind="dataset"):
    return cli("publish", kind, folder, "--repo-id", repo_id, "--dry-run")


# ----------------------------------------------------------------------------- publish
def test_dry_run_lists_the_marker_and_user_notes_but_not_git(export, cli):
    (export / "NOTES.md").write_text("my notes\n")
    (export / ".git" / "objects").mkdir(parents=True)
    (export / ".git" / "config").write_text("[core]\n")
    (export / ".cache" / "huggingface").mkdir(parents=True)
    (export / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    result = dry_run(cli, export)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(lines) == {
        MARKER,
        ".gitattributes",
        "NOTES.md",
        "README.md",
        "manifest.json",
        SHARD,
        TEST_SHARD,
        "images/normal_vs_abnormal_logmel.png",
    }
    assert lines["NOTES.md"].endswith("(not written by libtrad)")
    assert lines[".gitattributes"].endswith("(not written by libtrad)")
    assert "not written" not in lines[SHARD] and "not written" not in lines[MARKER]


def test_dry_run_lists_a_file_whose_name_holds_a_newline_as_one_entry_escaped(export, cli):
    (export / "my\nnotes.md").write_text("a user's file with a newline in its name\n")
    (export / "tab\there\x1b.md").write_text("and one with a tab and an escape\n")
    result = dry_run(cli, export)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # the head line, then one line per file: the dataset's 6 and the two user files
    assert lines[0].startswith("would upload 8 files") and len(lines) == 1 + 8
    assert any(line.startswith("  my\\nnotes.md  ") and line.endswith("(not written by libtrad)") for line in lines)
    assert any(line.startswith("  tab\\there\\x1b.md  ") for line in lines)


def test_symlink_to_etc_passwd_is_refused_by_name(export, cli, rel, problems_about):
    link = export / "images" / "passwd.txt"
    link.symlink_to("/etc/passwd")
    line = rel.assert_error_line(dry_run(cli, export), str(link), "symbolic link")
    assert "root:" not in line
    assert problems_about(verify_folder(export), str(link))


def test_symlinked_shard_and_folder_are_refused(export, cli, rel, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(export / "data"), elsewhere)
    (export / "data").symlink_to(elsewhere, target_is_directory=True)
    rel.assert_error_line(dry_run(cli, export), str(export / "data"), "symbolic link")


def test_fifo_is_refused_without_opening_it(export, rel, problems_about):
    os.mkfifo(export / "images" / "pipe")
    done = rel.subprocess_cli("publish", "dataset", export, "--repo-id", "me/x", "--dry-run", timeout=60)
    rel.assert_error_line(done, str(export / "images" / "pipe"), "FIFO")
    assert problems_about(verify_folder(export), "FIFO")


@pytest.mark.parametrize("damage", ["bit-flip", "truncate", "delete"])
def test_damaged_shard_is_refused_and_reported(export, cli, rel, damage, flip_byte, problems_about):
    shard = export / SHARD
    if damage == "bit-flip":
        flip_byte(shard)
    elif damage == "truncate":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    else:
        shard.unlink()
    word = "missing" if damage == "delete" else "corrupted"
    rel.assert_error_line(dry_run(cli, export), str(shard), word)
    with pytest.raises(LibtradError, match=re.escape(str(shard))):
        plan_upload(export, "me/x", "dataset", False, DATASET_REQUIRED)
    report = verify_folder(export)
    assert not report.ok and problems_about(report, str(shard)), report.describe()
    assert report.describe().splitlines()[-1].startswith("FAILED")


def test_truncated_shard_with_matching_checksum_is_still_found(export, problems_about):
    """A shard broken before the marker was written: the checksum agrees, Parquet does not."""
    shard = export / SHARD
    shard.write_bytes(shard.read_bytes()[:-200])
    write_marker(export, "dataset")
    report = verify_folder(export)
    assert problems_about(report, f"{shard}: not a readable Parquet file"), report.describe()
    with pytest.raises(LibtradError, match="not a readable Parquet file"):
        verify_dataset_split(export, "tr1", "train")


@pytest.mark.parametrize(
    "repo_id",
    [
        "a--b/c",
        "org/name.",
        "org/" + "n" * 97,
        "org/na..me",
        "org/name.git",
        "org/x/y",
        "no-slash",
        "/name",
        "org/-name",
        "órg/name",
    ],
)
def test_repo_ids_the_hub_rejects_are_refused(export, cli, rel, repo_id):
    rel.assert_error_line(dry_run(cli, export, repo_id=repo_id), "--repo-id")


def test_the_old_regex_let_the_first_ones_through():
    old = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
    assert all(old.match(r) for r in ("a--b/c", "org/name.", "org/" + "n" * 97))


def test_unrelated_folders_are_refused(tmp_path, cli, rel, model_folder):
    lookalike = tmp_path / "lookalike"
    (lookalike / "data").mkdir(parents=True)
    (lookalike / "README.md").write_text("# mine\n")
    (lookalike / "manifest.json").write_text("{}")
    rel.assert_error_line(dry_run(cli, lookalike), "not a libtrad folder")
    rel.assert_error_line(dry_run(cli, tmp_path / "lookalike" / "data"), "not a publishable dataset folder")
    rel.assert_error_line(dry_run(cli, model_folder), "not a publishable dataset folder")
    (model_folder / "data").mkdir()
    (model_folder / "manifest.json").write_text("{}")
    rel.assert_error_line(dry_run(cli, model_folder), "libtrad model folder, not a dataset folder")
    assert "not a libtrad folder" in verify_folder(lookalike).problems[0]


def test_manifest_disagreeing_with_marker_is_refused(export, cli, rel, problems_about):
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["parquet_files"][SHARD] = "0" * 64
    (export / "manifest.json").write_text(json.dumps(manifest))
    write_marker(export, "dataset")
    rel.assert_error_line(dry_run(cli, export), "manifest.json", SHARD)
    assert problems_about(verify_folder(export), "parquet_files SHA-256")


def test_marker_path_outside_the_folder_is_refused(export, cli, rel, problems_about):
    marker = json.loads((export / MARKER).read_text())
    marker["files"]["../../etc/passwd"] = "0" * 64
    (export / MARKER).write_text(json.dumps(marker))
    rel.assert_error_line(dry_run(cli, export), "outside the folder")
    assert problems_about(verify_folder(export), "outside the folder")


def test_model_dry_run_and_kind(model_folder, cli):
    result = dry_run(cli, model_folder, kind="model")
    assert result.exit_code == 0, result.output
    assert {line.split()[0] for line in result.output.splitlines()[1:]} == {
        MARKER,
        "README.md",
        "config.json",
        "model.safetensors",
    }


class _FakeHub:
    """Stands in for HfApi: records the commit; the repo holds a previous, bigger libtrad upload."""

    def __init__(self, remote_marker: Path):
        self.remote_marker = remote_marker
        self.commits = []

    def create_repo(self, repo_id, **kwargs):
        return f"https://huggingface.co/datasets/{repo_id}"

    def list_repo_files(self, repo_id, **kwargs):
        return [MARKER, "README.md", SHARD, "data/tr1/train-00001-of-00002.parquet", "mine.txt"]

    def hf_hub_download(self, repo_id, filename, **kwargs):
        return str(self.remote_marker)

    def create_commit(self, **kwargs):
        self.commits.append(kwargs)


def test_publish_sends_exactly_the_plan_and_drops_stale_libtrad_shards(export, tmp_path, monkeypatch, flip_byte):
    import huggingface_hub

    remote = tmp_path / "remote-marker.json"
    remote.write_text(
        json.dumps(
            {
                "kind": "dataset",
                "files": {"README.md": "x", SHARD: "x", "data/tr1/train-00001-of-00002.parquet": "x", "gone.txt": "x"},
            }
        )
    )
    hub = _FakeHub(remote)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: hub)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_fake")
    (export / ".git").mkdir()
    (export / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    plan = plan_upload(export, "me/lib-trad", "dataset", False, DATASET_REQUIRED)
    url = publish_folder(plan, export, "Upload")
    assert url.endswith("me/lib-trad")
    ops = hub.commits[0]["operations"]
    added = sorted(op.path_in_repo for op in ops if type(op).__name__ == "CommitOperationAdd")
    deleted = sorted(op.path_in_repo for op in ops if type(op).__name__ == "CommitOperationDelete")
    assert added == sorted(path for path, _ in plan.files) and MARKER in added
    assert not any(p.startswith(".git/") for p in added)
    assert deleted == ["data/tr1/train-00001-of-00002.parquet"]  # not mine.txt, not the absent gone.txt

    flip_byte(export / SHARD)  # changed between the plan and the upload
    with pytest.raises(LibtradError, match="changed since it was checked"):
        publish_folder(plan, export, "Upload")
    assert len(hub.commits) == 1
