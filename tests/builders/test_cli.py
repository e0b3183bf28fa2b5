"""The dataset side of the CLI: one-line errors, publish dry-run, packaging namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from libtrad.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line and "%|" not in line]  # not tqdm
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_build_with_missing_data_dir(tmp_path):
    result = run("build", "lib-trad", "--data-dir", str(tmp_path / "nope"), "--output", str(tmp_path / "out"))
    assert_one_line_error(result, "nope", "no such folder")


def test_build_with_a_url_for_data_dir_says_it_takes_a_local_folder(tmp_path):
    """Not "no such folder" about /cwd/http:/host/raw, the path click's Path type makes of the URL."""
    for component in ("cwru", "all"):
        result = run(
            "build", "siren", "--component", component, "--data-dir", "http://127.0.0.1:9/raw",
            "--output", str(tmp_path / "out"),
        )  # fmt: skip
        assert_one_line_error(result, "--data-dir http://127.0.0.1:9/raw: is a URL; this command reads a local folder")
    weights = run("check-encoder", "py:m:C", "--encoder-weights", "s3://bucket/w.safetensors")
    assert_one_line_error(weights, "--encoder-weights s3://bucket/w.safetensors: is a URL")
    assert not (tmp_path / "out").exists()


def test_build_with_a_bad_file(lib_trad_raw, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(lib_trad_raw, raw)
    (raw / "TR1/normal/seg0000_ch1.wav").write_bytes(b"garbage")
    result = run("build", "lib-trad", "--data-dir", str(raw), "--output", str(tmp_path / "out"), "--configs", "tr1")
    assert_one_line_error(result, "TR1/normal/seg0000_ch1.wav", "not a readable audio file", "--on-error skip")
    result = run(
        "build",
        "lib-trad",
        "--data-dir",
        str(raw),
        "--output",
        str(tmp_path / "out"),
        "--configs",
        "tr1",
        "--on-error",
        "skip",
    )
    assert result.exit_code == 0, result.output
    assert "rejected TR1/normal/seg0000_ch1.wav: not a readable audio file" in result.output
    assert "SYNTHETIC" in result.output


def test_build_unknown_config(lib_trad_raw, tmp_path):
    result = run(
        "build", "lib-trad", "--data-dir", str(lib_trad_raw), "--output", str(tmp_path / "o"), "--configs", "tr9"
    )
    assert_one_line_error(result, "--configs", "tr9")


def test_synth_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    assert_one_line_error(run("synth", "lib-trad", str(tmp_path)), "not empty")


def test_synth_cli_says_synthetic(tmp_path):
    result = run("synth", "lib-trad", str(tmp_path / "s"), "--scale", "0.01", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and (tmp_path / "s/SYNTHETIC.json").is_file()


def test_publish_dry_run_lists_exactly_what_would_be_sent(lib_trad_export):
    result = run("publish", "dataset", str(lib_trad_export), "--repo-id", "me/lib-trad", "--dry-run", "--private")
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.splitlines()[1:]}
    expected = {p.relative_to(lib_trad_export).as_posix() for p in lib_trad_export.rglob("*") if p.is_file()}
    assert listed == expected
    assert "me/lib-trad (private)" in result.output.splitlines()[0]


def test_publish_offline_and_bad_repo_id_are_one_line_errors(lib_trad_export, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_never_printed")
    result = run("publish", "dataset", str(lib_trad_export), "--repo-id", "me/lib-trad")
    assert_one_line_error(result, "offline")
    assert "hf_secret" not in result.output
    assert_one_line_error(run("publish", "dataset", str(lib_trad_export), "--repo-id", "no-slash"), "ORG/NAME")
    assert_one_line_error(
        run("publish", "dataset", str(lib_trad_export.parent / "x"), "--repo-id", "a/b"), "no such folder"
    )


def test_every_command_has_help():
    for args in (
        ["--help"],
        ["synth", "lib-trad", "--help"],
        ["build", "lib-trad", "--help"],
        ["publish", "dataset", "--help"],
        ["demo", "--help"],
    ):
        result = run(*args)
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_cli_runs_from_a_checkout_and_nothing_generic_is_importable(tmp_path):
    """`python cli.py` works from the checkout; only `libtrad` is a top-level name."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0 and "synth" in done.stdout, done.stderr
    probe = (
        "import importlib.util as u; "
        "print([n for n in ('models','builders','cards','ray_jobs','cli') if u.find_spec(n)])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
