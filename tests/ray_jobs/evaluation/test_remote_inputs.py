"""``evaluate``, ``leaderboard``, ``verify`` and ``publish`` read their input folders from fsspec URLs:
a real S3 API (moto's server on 127.0.0.1, ``s3_env``), the folder fetched once into libtrad's cache
and checked there like a local folder, the URL recorded; bad URLs are one ``error:`` line (exit 2)
and leave no cache entry behind."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from libtrad.folders.outputs import write_marker


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "libtrad-cache"
    monkeypatch.setenv("LIBTRAD_CACHE", str(path))
    return path


def upload(folder: Path, url: str) -> str:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        fs.put_file(str(path), f"{url.removeprefix('s3://')}/{path.relative_to(folder).as_posix()}")
    return url


def entries(cache: Path) -> list[str]:
    """Everything libtrad left in its cache of remote folders (entries and any partial download)."""
    remote = cache / "remote"
    return sorted(p.name for p in remote.iterdir()) if remote.is_dir() else []


def test_verify_evaluate_leaderboard_and_publish_read_s3(s3_env, cache, ae_dir, tmp_path, cli, embeddings_folder):
    url = upload(embeddings_folder(tmp_path / "emb"), f"{s3_env}/runs/emb")

    verified = cli("verify", url)
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.strip().splitlines()[-1] == f"OK: {url} is intact"
    assert "fetching 4 file(s)" in verified.stderr
    assert len(entries(cache)) == 1

    result = cli("evaluate", "siren-fault", "--embeddings", url, "--output", tmp_path / "res", "--local")
    assert result.exit_code == 0, result.output
    assert "fetching" not in result.output and len(entries(cache)) == 1  # the same content: the cached copy
    record = json.loads((tmp_path / "res" / "results.json").read_text())["inputs"][0]
    assert record["path"] == url and record["verified"] is True and record["encoder"] == "logmel-stats"

    local = cli(
        "evaluate",
        "siren-fault",
        "--embeddings",
        f"file://{tmp_path / 'emb'}",
        "--output",
        tmp_path / "res-file",
        "--local",
    )  # file:// is the local disk: read in place, no copy
    assert local.exit_code == 0, local.output
    assert (
        json.loads((tmp_path / "res-file" / "results.json").read_text())["inputs"][0]["path"]
        == f"file://{tmp_path / 'emb'}"
    )
    assert len(entries(cache)) == 1

    upload(tmp_path / "res", f"{s3_env}/runs/results/siren-fault")
    board = cli("leaderboard", f"{s3_env}/runs/results", "--output", tmp_path / "board")
    assert board.exit_code == 0, board.output
    assert "logmel-stats" in (tmp_path / "board" / "leaderboard.md").read_text()

    model = tmp_path / "model"
    shutil.copytree(ae_dir, model)
    (model / "README.md").write_text("# a tiny attention AE\n")
    write_marker(model, "model")
    plan = cli("publish", "model", upload(model, f"{s3_env}/models/ae"), "--repo-id", "someone/tiny", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "would upload 5 files" in plan.output and "model.safetensors" in plan.output


def test_a_changed_remote_file_is_fetched_again_and_refused_by_its_url(
    s3_env, cache, tmp_path, cli, rel, embeddings_folder, flip_byte
):
    emb = embeddings_folder(tmp_path / "emb")
    url = upload(emb, f"{s3_env}/emb")
    assert cli("verify", url).exit_code == 0
    flip_byte(emb / "data" / "train-00001.parquet", at=40)  # the marker still has the old SHA-256
    upload(emb, url)
    result = cli("evaluate", "siren-fault", "--embeddings", url, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, f"{url}/data/train-00001.parquet: corrupted", f"--embeddings {url}")
    assert len(entries(cache)) == 2 and not (tmp_path / "res").exists()


def test_bad_urls_are_one_line_and_leave_no_cache_entry(s3_env, cache, tmp_path, cli, rel, embeddings_folder):
    missing = "s3://libtrad-no-such-bucket-7f3a/emb"
    rel.assert_error_line(cli("verify", missing), f"FOLDER '{missing}'", "does not exist")
    rel.assert_error_line(
        cli("evaluate", "siren-fault", "--embeddings", f"{s3_env}/nothing", "--output", tmp_path / "res", "--local"),
        f"--embeddings '{s3_env}/nothing'",
        "holds no files",
    )
    plain = embeddings_folder(tmp_path / "plain", mark=False)
    url = upload(plain, f"{s3_env}/plain")
    rel.assert_error_line(
        cli("leaderboard", url, "--output", tmp_path / "board"), f"RESULTS '{url}'", "not a libtrad folder"
    )
    rel.assert_error_line(
        cli("publish", "model", url, "--repo-id", "a/b", "--dry-run"), f"FOLDER '{url}'", "not a libtrad folder"
    )
    assert entries(cache) == [] and not (tmp_path / "res").exists() and not (tmp_path / "board").exists()


def test_a_download_failing_half_way_leaves_nothing(s3_env, cache, tmp_path, cli, rel, monkeypatch, embeddings_folder):
    import s3fs

    url = upload(embeddings_folder(tmp_path / "emb"), f"{s3_env}/emb")
    calls = []
    real = s3fs.S3FileSystem.get_file

    def flaky(self, rpath, lpath, **kwargs):
        calls.append(rpath)
        if len(calls) == 2:
            raise PermissionError("Access Denied")
        return real(self, rpath, lpath, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "get_file", flaky)
    rel.assert_error_line(cli("verify", url), "FOLDER", "access denied")
    assert len(calls) == 2 and entries(cache) == []

    # A fetch killed half way leaves its partial folder: the next fetch removes it (its process is gone);
    # a folder of that name libtrad did not write stays.
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed, mine = cache / "remote" / ".partial-killed", cache / "remote" / ".partial-mine"
    for folder in (killed, mine):
        (folder / "emb").mkdir(parents=True)
    (killed / ".libtrad-fetch-partial.json").write_text(
        json.dumps({"libtrad_fetch_partial": 1, "pid": int(dead.stdout), "host": socket.gethostname()})
    )
    (mine / "notes.txt").write_text("mine")
    monkeypatch.setattr(s3fs.S3FileSystem, "get_file", real)
    assert cli("verify", url).exit_code == 0
    assert not killed.exists() and (mine / "notes.txt").read_text() == "mine" and len(entries(cache)) == 2


def test_denied_credentials_are_one_line(s3_env, s3_server, cache, tmp_path, cli, rel, monkeypatch, embeddings_folder):
    """moto accepts any secret unless its authentication is on: a real key (made through moto's IAM)
    with a wrong secret is then refused by the server (SignatureDoesNotMatch, HTTP 403)."""
    import boto3
    import moto.settings
    import s3fs

    url = upload(embeddings_folder(tmp_path / "emb"), f"{s3_env}/emb")
    iam = boto3.client("iam", endpoint_url=s3_server, region_name="us-east-1")
    iam.create_user(UserName="reader")
    key = iam.create_access_key(UserName="reader")["AccessKey"]["AccessKeyId"]
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    s3fs.S3FileSystem.clear_instance_cache()
    line = rel.assert_error_line(cli("verify", url), f"FOLDER '{url}'", "access denied")
    assert "SignatureDoesNotMatch" in line or "signature" in line.lower()
    assert "not-the-secret" not in line and entries(cache) == []


def test_a_folder_url_nothing_answers_at_is_named_with_the_cause(tmp_path, cli, rel):
    """HTTP lists nothing where it cannot connect: "cannot be reached", never "holds no files"."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/emb"
    for args, named in (
        (("evaluate", "siren-fault", "--embeddings", url, "--output", tmp_path / "res", "--local"), "--embeddings"),
        (("verify", url), "FOLDER"),
    ):
        rel.assert_error_line(cli(*args), f"{named} {url!r}: cannot list it: the store cannot be reached")
    assert not (tmp_path / "res").exists()
