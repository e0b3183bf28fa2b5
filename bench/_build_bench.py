"""Shared parts of the build + export benchmarks: the plain ``datasets`` path and fresh-process runs.

Plain path: ``load_dataset("audiofolder", data_dir=RAW)`` -> embed the audio bytes
(``embed_table_storage``) -> ``to_parquet``: one copy of every WAV in one Parquet file. Each run
is a fresh process (``SCRIPT --child KIND --raw RAW --out OUT``); its peak RSS is that process's
ru_maxrss and library imports are not timed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path


def plain_export(raw: Path, out: Path) -> int:
    """The plain path; returns the number of rows written."""
    import datasets
    from datasets.table import embed_table_storage

    # Exactly the WAV files under RAW, each once (audiofolder's own split detection would read
    # DCASE's train/test folders as splits and count some files twice).
    wavs = [str(p) for p in sorted(raw.rglob("*.wav"))]
    ds = datasets.load_dataset(
        "audiofolder", data_files={"train": wavs}, split="train", cache_dir=str(out / "cache"), drop_labels=True
    )
    ds = ds.with_format("arrow").map(embed_table_storage, batched=True, batch_size=100)
    ds.with_format(None).to_parquet(str(out / "plain.parquet"))
    return ds.num_rows


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(script: str, kind: str, raw: Path, work: Path, extra: list[str] = ()) -> dict:
    """Run ``script --child kind`` in a fresh process on ``raw``; its JSON result plus the Parquet size."""
    out = work / f"out-{kind}"
    shutil.rmtree(out, ignore_errors=True)  # the benchmark's own scratch folder
    out.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(work / "hf-home")}
    done = subprocess.run(
        [sys.executable, script, "--child", kind, "--raw", str(raw), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["out_bytes"] = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    return result


def median_run(script: str, kind: str, raw: Path, work: Path, repeats: int, extra: list[str] = ()) -> dict:
    """The median-wall run of ``repeats`` fresh-process runs (page-cache writeback makes single runs noisy)."""
    runs = sorted((measure(script, kind, raw, work, extra) for _ in range(repeats)), key=lambda r: r["wall_s"])
    return runs[len(runs) // 2]


def warm(raw: Path, files: list[Path] | None = None) -> tuple[int, int]:
    """Read every WAV (or every one of ``files``) once so that every contender reads from the page
    cache alike; (files, bytes)."""
    files = list(raw.rglob("*.wav")) if files is None else files
    for f in files:
        f.read_bytes()
    return len(files), sum(f.stat().st_size for f in files)
