"""`libtrad benchmark` vs the same work as separate commands, same data, same cores.

Data: small synthetic stand-ins of several components in one data root (built here, not timed): DCASE 2021,
CWRU, IICA, MAFAULDA and LiB-TRAD by default (``--components``). Encoder: ``logmel-stats`` (the cheapest:
what is measured is the orchestration — Ray and actor starts, interpreter starts, imports — not the model).
Contenders, each a fresh process (or processes), wall time:

* ``libtrad benchmark --suite all`` — one process, one Ray session, one actor pool per encoder;
* separate commands, as a user chains them by hand: ``build siren|lib-trad`` per component, ``embed`` per
  component (MAFAULDA twice: sound and vibration), ``evaluate`` per embeddings folder, ``leaderboard`` —
  each a fresh ``libtrad`` process, each ``embed``/``evaluate`` starting its own local Ray;
* ``libtrad benchmark`` again on the finished folder (everything cached: nothing to compute).

Both produce the same results (the script checks that the two leaderboards' measured values agree).
Run: ``python bench/bench_benchmark.py`` (``--scale 1``).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import markdown_table, write_section  # noqa: E402

from libtrad.builders.registry import LIB_TRAD, SIREN  # noqa: E402
from libtrad.ray_jobs.benchmark.plan import SUITES  # noqa: E402

CLI = [sys.executable, "-m", "libtrad.cli"]


def synth(root: Path, components: list[str], scale: float) -> None:
    for name in components:
        if name == "lib-trad":
            LIB_TRAD.synthesize(root / name, scale=0.02 * scale, seed=0, progress=False)
        else:
            SIREN.synthesize(root / name, component=name, scale=max(1.0, scale), seed=0, progress=False)


def run(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(CLI + args, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def separate(root: Path, work: Path, components: list[str]) -> tuple[float, int]:
    """The benchmark's work as a user would type it; (seconds, commands)."""
    plan = {c.name: c for c in SUITES["all"].components}
    seconds, commands, results = 0.0, 0, []
    for name in components:
        family = plan[name].family
        build = ["build", family, "--data-dir", str(root / name), "--output", str(work / "datasets" / name)]
        seconds += run(build + (["--component", name] if family == "siren" else []))
        commands += 1
        for job in plan[name].jobs:
            emb, res = work / "embeddings" / job.name, work / "results" / job.name
            embed = ["embed", "--dataset", str(work / "datasets" / name), "--encoder", "logmel-stats"]
            embed += ["--output", str(emb)]
            embed += (["--config", job.config] if job.config else []) + (
                ["--channels", job.channels] if job.channels else []
            )
            seconds += run(embed)
            evaluate = ["evaluate", job.suite, "--embeddings", str(emb), "--output", str(res)]
            evaluate += [f"--{k}={v}" for k, v in job.options.items() if k == "protocol"]
            seconds += run(evaluate)
            commands += 2
            results.append(str(res))
    board = [
        "leaderboard",
        *results,
        "--output",
        str(work / "leaderboard"),
        "--reference",
        "echo-table2,lib-trad-table3",
    ]
    seconds += run(board)
    return seconds, commands + 1


def measured(board: Path) -> dict[str, str]:
    with open(board / "leaderboard.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: v for k, v in rows[0].items() if k.startswith(("siren", "lib-trad")) and v}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--components", default="dcase2021,cwru,iica,mafaulda,lib-trad")
    args = parser.parse_args()
    components = args.components.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="bench-benchmark-"))
    try:
        synth(tmp / "data", components, args.scale)
        one = ["benchmark", "--encoder", "logmel-stats", "--suite", "all", "--data-root", str(tmp / "data")]
        one += ["--components", ",".join(components), "--output", str(tmp / "bench"), "--no-progress"]
        single = run(one)
        cached = run(one)
        chained, commands = separate(tmp / "data", tmp / "separate", components)
        same = measured(tmp / "bench" / "leaderboard") == measured(tmp / "separate" / "leaderboard")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ["`libtrad benchmark` (one process, one Ray session)", 1, f"{single:.1f}"],
        [f"separate commands (build, embed, evaluate, leaderboard), {commands} processes", commands, f"{chained:.1f}"],
        ["`libtrad benchmark` again, nothing changed (all cached, no Ray)", 1, f"{cached:.1f}"],
    ]
    body = (
        "## `libtrad benchmark` vs separate commands (`bench_benchmark`)\n\n"
        f"Components {', '.join(components)} (synthetic stand-ins, scale {args.scale:g}), encoder `logmel-stats`; "
        f"wall time of each way, fresh processes. Same measured values in both leaderboards: {same}.\n\n"
        + markdown_table(["how", "processes", "wall s"], rows)
        + f"\n\nThe single run saves {chained - single:.1f} s ({100 * (chained - single) / chained:.0f} %): one "
        "interpreter and one Ray start instead of one per command, and one actor load per encoder instead of one "
        "per component."
    )
    print(body)
    write_section("bench_benchmark", body)


if __name__ == "__main__":
    main()
