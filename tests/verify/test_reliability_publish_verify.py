"""Publish sends only intact libtrad folders; ``verify`` finds what is broken in one.

Every case works on a copy of one small real export (``tr1`` only) or a tiny model folder made
by hand, breaks it the way a disk, a user or a bad copy would, and checks the one-line refusal
(publish) or the problem list (verify).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from libtrad.core.errors import LibtradError
from libtrad.folders.marker import MARKER, read_marker
from libtrad.folders.outputs import write_marker
from libtrad.folders.publish import plan_upload, publish_folder
from libtrad.folders.verify import verify_dataset_split, verify_folder

SHARD = "data/tr1/train-00000-of-00001.parquet"
TEST_SHARD = "data/tr1/test-00000-of-00001.parquet"
DATASET_REQUIRED = ("README.md", "manifest.json", "data")


@pytest.fixture(scope="module")
def tr1_export(lib_trad_raw, tmp_path_factory) -> Path:
    """One real export (``tr1`` only), marked as a libtrad dataset by the export itself."""
    from libtrad.builders.lib_trad.export import export_lib_trad

    out = tmp_path_factory.mktemp("tr1") / "lib-trad"
    export_lib_trad(lib_trad_raw, out, configs=("tr1",), progress=False)
    assert read_marker(out)["kind"] == "dataset"
    return out


@pytest.fixture
def export(tr1_export, tmp_path) -> Path:
    """A private copy of the export to break."""
    copy = tmp_path / "lib-trad"
    shutil.copytree(tr1_export, copy)
    return copy


@pytest.fixture
def model_folder(tmp_path) -> Path:
    import torch
    from safetensors.torch import save_file

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "lib_trad_cnn", "hidden": 4}))
    (folder / "README.md").write_text("# a model\n")
    save_file({"weight": torch.arange(64, dtype=torch.float32).reshape(8, 8), "bias": torch.ones(8)},
              str(folder / "model.safetensors"))
    write_marker(folder, "model")
    return folder


def dry_run(cli, folder, repo_id="me/lib-trad", kind="dataset"):
    return cli("publish", kind, folder, "--repo-id", repo_id, "--dry-run")


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def problems_about(report, fragment: str) -> list[str]:
    return [p for p in report.problems if fragment in p]


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
    assert set(lines) == {MARKER, ".gitattributes", "NOTES.md", "README.md", "manifest.json", SHARD, TEST_SHARD,
                          "images/normal_vs_abnormal_logmel.png"}
    assert lines["NOTES.md"].endswith("(not written by libtrad)")
    assert lines[".gitattributes"].endswith("(not written by libtrad)")
    assert "not written" not in lines[SHARD] and "not written" not in lines[MARKER]


def test_symlink_to_etc_passwd_is_refused_by_name(export, cli, rel):
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


def test_fifo_is_refused_without_opening_it(export, rel):
    os.mkfifo(export / "images" / "pipe")
    done = rel.subprocess_cli("publish", "dataset", export, "--repo-id", "me/x", "--dry-run", timeout=60)
    rel.assert_error_line(done, str(export / "images" / "pipe"), "FIFO")
    assert problems_about(verify_folder(export), "FIFO")


@pytest.mark.parametrize("damage", ["bit-flip", "truncate", "delete"])
def test_damaged_shard_is_refused_and_reported(export, cli, rel, damage):
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


def test_truncated_shard_with_matching_checksum_is_still_found(export):
    """A shard broken before the marker was written: the checksum agrees, Parquet does not."""
    shard = export / SHARD
    shard.write_bytes(shard.read_bytes()[:-200])
    write_marker(export, "dataset")
    report = verify_folder(export)
    assert problems_about(report, f"{shard}: not a readable Parquet file"), report.describe()
    with pytest.raises(LibtradError, match="not a readable Parquet file"):
        verify_dataset_split(export, "tr1", "train")


@pytest.mark.parametrize("repo_id", ["a--b/c", "org/name.", "org/" + "n" * 97, "org/na..me", "org/name.git",
                                     "org/x/y", "no-slash", "/name", "org/-name", "órg/name"])
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


def test_manifest_disagreeing_with_marker_is_refused(export, cli, rel):
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["parquet_files"][SHARD] = "0" * 64
    (export / "manifest.json").write_text(json.dumps(manifest))
    write_marker(export, "dataset")
    rel.assert_error_line(dry_run(cli, export), "manifest.json", SHARD)
    assert problems_about(verify_folder(export), "parquet_files SHA-256")


def test_marker_path_outside_the_folder_is_refused(export, cli, rel):
    marker = json.loads((export / MARKER).read_text())
    marker["files"]["../../etc/passwd"] = "0" * 64
    (export / MARKER).write_text(json.dumps(marker))
    rel.assert_error_line(dry_run(cli, export), "outside the folder")
    assert problems_about(verify_folder(export), "outside the folder")


def test_model_dry_run_and_kind(model_folder, cli):
    result = dry_run(cli, model_folder, kind="model")
    assert result.exit_code == 0, result.output
    assert {line.split()[0] for line in result.output.splitlines()[1:]} == {
        MARKER, "README.md", "config.json", "model.safetensors"}


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


def test_publish_sends_exactly_the_plan_and_drops_stale_libtrad_shards(export, tmp_path, monkeypatch):
    import huggingface_hub

    remote = tmp_path / "remote-marker.json"
    remote.write_text(json.dumps({"kind": "dataset", "files": {
        "README.md": "x", SHARD: "x", "data/tr1/train-00001-of-00002.parquet": "x", "gone.txt": "x"}}))
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


# ----------------------------------------------------------------------------- verify
def test_verify_good_export(export):
    report = verify_folder(export)
    assert report.ok and report.kind == "dataset", report.describe()
    assert any(SHARD in item and "schema matches" in item for item in report.checked)
    assert report.describe().splitlines()[-1].startswith("OK")


def _edit_card(folder: Path, old: str, new: str) -> None:
    card = folder / "README.md"
    text = card.read_text()
    assert old in text
    card.write_text(text.replace(old, new, 1))
    write_marker(folder, "dataset")  # a card edited before marking: only the structural checks can tell


def test_verify_card_naming_a_missing_shard(export):
    _edit_card(export, "    path: data/tr1/test-*", "    path: data/tr1/valid-*")
    report = verify_folder(export)
    assert problems_about(report, "split test: no file matches data/tr1/valid-*"), report.describe()
    assert problems_about(report, f"{export / TEST_SHARD}: not loaded by any config")


def test_verify_card_row_count_and_schema_mismatch(export):
    _edit_card(export, "    num_examples: 12", "    num_examples: 13")
    _edit_card(export, "  - name: segment\n    dtype: int32", "  - name: segment\n    dtype: int64")
    report = verify_folder(export)
    assert problems_about(report, "has 13 rows, its shards hold 12"), report.describe()
    assert problems_about(report, "column segment is int32, expected int64")


def test_verify_broken_card_yaml_is_a_problem_not_a_crash(export):
    _edit_card(export, "configs:", "configs: [unclosed")
    report = verify_folder(export)
    assert problems_about(report, "invalid YAML metadata"), report.describe()
    with pytest.raises(LibtradError, match="invalid YAML"):
        verify_dataset_split(export, "tr1", "train")


def test_verify_dataset_split_checks_exactly_that_split(export, tmp_path):
    verify_dataset_split(export, "tr1", "train")
    flip_byte(export / TEST_SHARD)
    verify_dataset_split(export, "tr1", "train")  # the test shard is not read for train
    for split in ("test", "train+test[:50%]", None):
        with pytest.raises(LibtradError, match=re.escape(f"{export / TEST_SHARD}: corrupted")):
            verify_dataset_split(export, "tr1", split)
    with pytest.raises(LibtradError, match=re.escape(f"{export / TEST_SHARD}: corrupted")):
        verify_dataset_split(export, None, "test")  # the default config
    with pytest.raises(LibtradError, match="cannot load config 'tr9'.*no such config"):
        verify_dataset_split(export, "tr9", "train")
    with pytest.raises(LibtradError, match="no split 'validation'"):
        verify_dataset_split(export, "tr1", "validation")
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    shutil.copy(export / SHARD, plain / "data" / "train.parquet")
    verify_dataset_split(plain, None, "train")  # not a libtrad folder: nothing to check
    verify_dataset_split("someone/some-dataset", "default", "train")  # a Hub id


def test_verify_model_folder(model_folder):
    report = verify_folder(model_folder)
    assert report.ok and report.kind == "model", report.describe()
    weights = model_folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])
    write_marker(model_folder, "model")  # the checksum agrees with the broken file
    report = verify_folder(model_folder)
    assert problems_about(report, f"{weights}: truncated"), report.describe()
    (model_folder / "config.json").write_text('{"hidden": 4')
    write_marker(model_folder, "model")
    assert problems_about(verify_folder(model_folder), "config.json: not valid JSON")


def test_verify_refuses_links_and_unmarked_folders(export, tmp_path):
    (export / "data" / "tr1" / "extra.parquet").symlink_to(export / SHARD)
    report = verify_folder(export)
    assert problems_about(report, "extra.parquet: is a symbolic link"), report.describe()
    assert verify_folder(tmp_path / "nowhere").problems == [f"{tmp_path / 'nowhere'}: no such folder"]


def test_verify_command_reports_and_exits_by_the_verdict(cli, lib_trad_raw, tmp_path):
    from libtrad.builders.lib_trad.export import export_lib_trad

    out = tmp_path / "export"
    export_lib_trad(lib_trad_raw, out, configs=("tr1",), progress=False)
    good = cli("verify", out)
    assert good.exit_code == 0 and good.output.strip().splitlines()[-1].startswith("OK:"), good.output
    shard = sorted((out / "data" / "tr1").glob("train-*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    bad = cli("verify", out)
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "corrupted" in bad.output and shard.name in bad.output
    assert bad.output.strip().splitlines()[-1].startswith("error: ")
