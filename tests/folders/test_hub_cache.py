"""Folders downloaded by huggingface_hub (a ``snapshots/<commit>/`` of relative links into the same
cache repo's ``blobs/``) are valid inputs for ``verify``, ``embed``, ``train`` and ``evaluate lib-trad
--model``; any other link is still refused, and a blob's bytes are checked against the marker."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from libtrad.folders.outputs import write_marker


@pytest.fixture
def dataset_snapshot(hub_cache, lib_trad_export) -> Path:
    return hub_cache(lib_trad_export, "libtrad/lib-trad", repo_type="dataset")


@pytest.fixture
def fitted_ae(tmp_path_factory) -> Path:
    """A tiny LiB-TRAD attention AE with its scorer fitted (what ``libtrad train ae`` writes), marked as
    libtrad's model folder."""
    import torch

    from libtrad.models.attention_ae import (
        LibTradAttentionAEConfig,
        LibTradAttentionAEFeatureExtractor,
        LibTradAttentionAEForAnomalyDetection,
    )

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("fitted-ae") / "ae"
    model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig(hidden_size=16, latent_size=8))
    model.fit_scorer(torch.randn(64, 8))
    model.save_pretrained(out)
    LibTradAttentionAEFeatureExtractor().save_pretrained(out)
    write_marker(out, "model")
    return out


def marked_copy(folder: Path, dest: Path) -> Path:
    """``folder`` copied with a card and marked as libtrad's model folder (the session fixtures carry neither)."""
    shutil.copytree(folder, dest)
    (dest / "README.md").write_text("# a tiny test model\n")
    write_marker(dest, "model")
    return dest


def relink(link: Path, target: Path) -> None:
    link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent))


# ----------------------------------------------------------------------------- accepted
def test_verify_passes_on_dataset_and_model_snapshots(hub_cache, dataset_snapshot, ae_dir, echo_dir, tmp_path, cli):
    assert (dataset_snapshot / ".libtrad.json").is_symlink()
    result = cli("verify", dataset_snapshot)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"OK: {dataset_snapshot} is intact"
    for name, folder in (("ae", ae_dir), ("echo", echo_dir)):
        snap = hub_cache(marked_copy(folder, tmp_path / name), f"libtrad/tiny-{name}")
        result = cli("verify", snap)
        assert result.exit_code == 0, result.output
        assert "libtrad model folder" in result.output and "model_type" in result.output
    plan = cli("publish", "model", snap, "--repo-id", "someone/tiny-echo", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "would upload 5 files" in plan.output and "model.safetensors" in plan.output


def test_embed_reads_a_dataset_snapshot(dataset_snapshot, tmp_path, cli):
    result = cli(
        "embed",
        "--dataset",
        dataset_snapshot,
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
    info = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert info["dataset"]["verification"]["verified"] is True, info["dataset"]
    assert "could not be verified" not in result.output


def test_train_reads_a_dataset_snapshot(dataset_snapshot, tmp_path):
    from libtrad.ray_jobs.lib_trad.data import load_clips

    clips = load_clips(str(dataset_snapshot), "tr1", "test", cache_dir=tmp_path / "cache", progress=False)
    assert len(clips) > 0 and set(clips.labels) <= {0, 1}


def test_train_refuses_a_dataset_snapshot_whose_shard_leaves_the_repo(dataset_snapshot, tmp_path):
    from libtrad.core.errors import LibtradError
    from libtrad.ray_jobs.lib_trad.data import load_clips

    shard = sorted((dataset_snapshot / "data" / "tr1").glob("test-*.parquet"))[0]
    copy = tmp_path / "elsewhere.parquet"
    copy.write_bytes(shard.read_bytes())  # the same bytes: only where the link leads is wrong
    relink(shard, copy)
    with pytest.raises(LibtradError) as caught:
        load_clips(str(dataset_snapshot), "tr1", "test", cache_dir=tmp_path / "cache", progress=False)
    message = str(caught.value)
    assert f"{shard}: is a symbolic link" in message and "\n" not in message


def test_evaluate_lib_trad_takes_a_model_snapshot(hub_cache, dataset_snapshot, fitted_ae, tmp_path, cli):
    snap = hub_cache(fitted_ae, "libtrad/fitted-ae")
    result = cli(
        "evaluate",
        "lib-trad",
        "--model",
        f"tr1={snap}",
        "--experiments",
        "tr1",
        "--dataset",
        dataset_snapshot,
        "--output",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output
    assert "could not be verified" not in result.output
    # The same model by its Hub id: resolved to that snapshot, and the results say which commit was scored.
    result = cli(
        "evaluate",
        "lib-trad",
        "--model",
        "tr1=libtrad/fitted-ae",
        "--experiments",
        "tr1",
        "--dataset",
        dataset_snapshot,
        "--output",
        tmp_path / "out-hub",
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(next((tmp_path / "out-hub").glob("lib_trad_table*.json")).read_text())["rows"]
    assert row["model"] == "libtrad/fitted-ae"
    assert row["model_source"] == {"repo_id": "libtrad/fitted-ae", "revision": None, "commit": snap.name}


# ----------------------------------------------------------------------------- still refused
def _model_snapshot(hub_cache, ae_dir, tmp_path) -> Path:
    return hub_cache(marked_copy(ae_dir, tmp_path / "ae"), "libtrad/tiny-ae")


def assert_refused(cli, rel, snap: Path, path: Path, fragment: str, tmp_path: Path) -> None:
    """``verify`` lists the file as its problem(s); a reader (``evaluate lib-trad --model``) refuses the
    folder in one ``error:`` line naming it."""
    result = cli("verify", snap)
    assert result.exit_code == 2, result.output
    problems = [line for line in result.output.splitlines() if line.startswith("  PROBLEM")]
    assert problems and all(str(path) in line for line in problems), result.output
    assert any(fragment in line for line in problems), result.output
    result = cli(
        "evaluate", "lib-trad", "--model", snap, "--dataset", tmp_path / "no-dataset", "--output", tmp_path / "out"
    )
    rel.assert_error_line(result, f"{path}: {fragment}", f"--model {snap}")
    assert not (tmp_path / "out").exists()


def test_a_link_out_of_the_repo_blobs_is_refused(hub_cache, ae_dir, tmp_path, cli, rel):
    snap = _model_snapshot(hub_cache, ae_dir, tmp_path)
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes((snap / "config.json").read_bytes())  # the same bytes: only the link is wrong
    relink(snap / "config.json", outside)
    before = rel.snapshot(snap, outside)
    assert_refused(cli, rel, snap, snap / "config.json", "is a symbolic link", tmp_path)
    assert rel.snapshot(snap, outside) == before


def test_a_link_to_another_repos_blob_is_refused(hub_cache, ae_dir, tmp_path, cli, rel):
    snap = _model_snapshot(hub_cache, ae_dir, tmp_path)
    other = hub_cache(marked_copy(ae_dir, tmp_path / "other"), "someone/else")
    blob = Path(os.path.realpath(other / "config.json"))
    assert blob.parent.name == "blobs" and blob.read_bytes() == (snap / "config.json").read_bytes()
    relink(snap / "config.json", blob)
    assert_refused(cli, rel, snap, snap / "config.json", "is a symbolic link", tmp_path)


def test_a_link_chain_and_a_link_outside_snapshots_are_refused(hub_cache, ae_dir, tmp_path, cli, rel):
    snap = _model_snapshot(hub_cache, ae_dir, tmp_path)
    repo = snap.parents[1]
    blob = Path(os.path.realpath(snap / "config.json"))
    hop = repo / "blobs" / "hop"  # a link inside blobs/: the chain is not followed
    hop.symlink_to(blob.name)
    relink(snap / "config.json", hop)
    assert_refused(cli, rel, snap, snap / "config.json", "is a symbolic link", tmp_path)

    from libtrad.folders.hub_cache import blob_of

    loose = repo / "refs" / "config.json"  # a link that is not in snapshots/
    loose.symlink_to(os.path.relpath(blob, loose.parent))
    assert blob_of(loose) is None and blob_of(snap / "model.safetensors") is not None

    from libtrad.core.errors import LibtradError
    from libtrad.folders.outputs import check_output

    with pytest.raises(LibtradError, match="lies in a Hugging Face Hub cache snapshot"):
        check_output(snap / "results", "results")  # libtrad writes nothing into huggingface_hub's files


def test_a_modified_blob_fails_its_checksum(hub_cache, ae_dir, tmp_path, cli, rel):
    snap = _model_snapshot(hub_cache, ae_dir, tmp_path)
    blob = Path(os.path.realpath(snap / "preprocessor_config.json"))
    blob.write_text(blob.read_text().replace("16000", "16001"))
    assert_refused(cli, rel, snap, snap / "preprocessor_config.json", "corrupted (SHA-256 differs", tmp_path)
