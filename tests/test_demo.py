"""The README's first command: the whole pipeline (``libtrad benchmark`` on the embedded stand-ins), from a fresh
process."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_demo_runs_the_whole_pipeline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "libtrad.cli",
            "demo",
            "--workdir",
            str(tmp_path / "demo"),
            "--scale",
            "0.01",
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "RANDOM weights" in out and "SYNTHETIC stand-in" in out and "Artefacts:" in out
    work = tmp_path / "demo"
    bench = work / "benchmark"
    record = json.loads((bench / "benchmark.json").read_text())
    slug = {e["fingerprint"]["kind"]: e["slug"] for e in record["encoders"]}
    echo, logmel = slug["echo"], slug["logmel-stats"]
    for rel in (
        "datasets/lib-trad/README.md",
        "datasets/dcase2021/README.md",
        "models/ae-tr1/README.md",
        "models/ae-tr3/README.md",
        f"embeddings/{echo}/lib-trad/embeddings.json",
        f"embeddings/{logmel}/dcase2021/embeddings.json",
        f"results/{echo}/lib-trad/results.md",
        f"results/{echo}/dcase2021/results.json",
        "leaderboard/leaderboard.md",
        "README.md",
    ):
        assert (bench / rel).is_file(), rel
    assert (work / "models" / "cnn-tr1" / "README.md").is_file()
    # the benchmark's path: one Ray session, the actors loaded once per encoder (not once per component)
    assert record["last_run"]["actor_loads"] == 2, record["last_run"]  # one local node: an actor per encoder
    assert record["components"]["lib-trad"]["status"] == "ok" and record["suite"] == "all"
    lt = json.loads((bench / "results" / echo / "lib-trad" / "results.json").read_text())
    assert lt["model"]["family"] == "attention_ae" and set(lt["scorers"]) == {"knn", "mahalanobis"}
    assert sorted(r["experiment"].lower() for r in lt["model"]["rows"]) == ["tr1", "tr2", "tr3"]  # an AE each
    # the default (paper) stand-in does not saturate: at this scale (2 normal + 2 abnormal test segments per
    # experiment) each AUC is coarse, so only "not all separated" and "the two encoders differ" are asserted
    logmel_lt = json.loads((bench / "results" / logmel / "lib-trad" / "results.json").read_text())
    aucs = {
        name: [a for s in res["scorers"].values() for a in s["auc"].values()]
        for name, res in (("echo", lt), ("logmel", logmel_lt))
    }
    assert all(min(v) < 0.99 for v in aucs.values()) and aucs["echo"] != aucs["logmel"], aucs
    dcase = json.loads((bench / "results" / echo / "dcase2021" / "results.json").read_text())
    assert dcase["year"] == 2021 and dcase["inputs"][0]["encoder"].startswith("echo:")
    board = (bench / "leaderboard" / "leaderboard.md").read_text()
    assert "`logmel-stats`" in board and "echo-small-random" in board and "siren-dcase · DCASE 2021" in board
    events = [line for line in out.splitlines() if "venting events, attention AE TR" in line]
    assert len(events) == 3 and all("event F1 " in e and "false alarms/h on normal charging" in e for e in events)
    assert "ECHO Small" in board and "Difference from" in board  # the papers' rows and the differences
    assert "Summary (synthetic stand-ins):" in out and "attention AE (TR1-TR3)" in out


def test_demo_checks_the_device_before_any_work(tmp_path, cli, rel, gpus):
    gpus(0)
    rel.assert_error_line(
        cli("demo", "--workdir", tmp_path / "demo", "--device", "cuda"), "--device 'cuda'", "has no CUDA GPU"
    )
    rel.assert_error_line(cli("demo", "--workdir", tmp_path / "demo", "--device", "tpu"), "--device 'tpu'")
    assert not (tmp_path / "demo").exists()


# ----------------------------------------------------------------------------- from test_reliability_outputs.py
def test_demo_refuses_a_workdir_it_did_not_write(cli, rel, tmp_path):
    work = tmp_path / "work"
    (work / "data" / "lib-trad").mkdir(parents=True)  # where the demo's LiB-TRAD stand-in goes
    (work / "data" / "lib-trad" / "field-recording.wav").write_bytes(b"RIFF precious")
    before = rel.snapshot(work)
    rel.assert_error_line(cli("demo", "--workdir", work), "lib-trad", "not a libtrad folder")
    assert rel.snapshot(work) == before
