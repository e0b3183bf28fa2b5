"""Build + export of synthetic LiB-TRAD vs the plain `datasets` path, on the same files.

Plain path: ``load_dataset("audiofolder", data_dir=RAW)`` -> embed the audio bytes
(``embed_table_storage``) -> ``to_parquet``: one copy of every WAV in one Parquet file.
libtrad, like for like: ``export_lib_trad`` with configs tr1, tr2, tr3 and normal_charging,
which also holds every WAV exactly once (plus validation, checksums, card and manifest).
libtrad, full export: all ten configs (the TR audio appears in the anomaly, classification
and 4-channel views). Each run is a fresh process; peak RSS is that process's ru_maxrss.
Run: ``python bench/bench_lib_trad_build.py`` (``--scales 0.25,1.0`` by default).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _build_bench import median_run, peak_rss_mib, plain_export, warm  # noqa: E402
from _results import markdown_table, write_section  # noqa: E402

LIKE_FOR_LIKE = ("tr1", "tr2", "tr3", "normal_charging")


def child(kind: str, raw: Path, out: Path) -> dict:
    """One measured run, in this (fresh) process."""
    import datasets

    from libtrad.builders.lib_trad.export import export_lib_trad

    datasets.disable_progress_bars()
    start = time.perf_counter()  # library imports are not timed, for either path
    if kind == "plain":
        rows = plain_export(raw, out)
    else:
        summary = export_lib_trad(
            raw, out / "lib-trad", configs=LIKE_FOR_LIKE if kind == "ours" else None, progress=False
        )
        rows = sum(
            v["rows"] for name, splits in summary.configs.items() if not name.startswith("all") for v in splits.values()
        )
    wall = time.perf_counter() - start
    return {"kind": kind, "rows": rows, "wall_s": wall, "peak_rss_mib": peak_rss_mib()}


def ensure_raw(work: Path, scale: float) -> tuple[Path, int, int]:
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    raw = work / f"raw-{scale:g}"
    if not (raw / "SYNTHETIC.json").is_file():
        shutil.rmtree(raw, ignore_errors=True)
        print(f"synthesizing scale {scale:g} into {raw} (not timed)", flush=True)
        synthesize_lib_trad(raw, scale=scale, seed=0)
    n_files, n_bytes = warm(raw)
    return raw, n_files, n_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="0.25,1.0")
    parser.add_argument("--repeats", type=int, default=3, help="runs per contender; the median is reported")
    parser.add_argument("--workdir", type=Path, default=HERE / "_work")
    parser.add_argument("--child", choices=["plain", "ours", "full"])
    parser.add_argument("--raw", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.raw, args.out)))
        return
    rows, speedups = [], []
    for scale in [float(s) for s in args.scales.split(",")]:
        raw, n_files, n_bytes = ensure_raw(args.workdir, scale)
        audio_s = n_files * 10.0
        results = {
            kind: median_run(__file__, kind, raw, args.workdir, args.repeats) for kind in ("plain", "ours", "full")
        }
        for kind, label in (
            ("plain", "datasets audiofolder + embed + to_parquet"),
            ("ours", "libtrad export, tr1-3 + normal_charging (each WAV once)"),
            ("full", "libtrad export, all 10 configs"),
        ):
            r = results[kind]
            seconds = r["rows"] * 10.0
            rows.append(
                [
                    f"{scale:g}",
                    label,
                    r["rows"],
                    f"{seconds / 3600:.2f}",
                    f"{r['wall_s']:.1f}",
                    f"{seconds / r['wall_s']:.0f}",
                    f"{r['peak_rss_mib']:.0f}",
                    f"{r['out_bytes'] / 2**20:.0f}",
                ]
            )
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
        speedups.append((scale, results["plain"]["wall_s"] / results["ours"]["wall_s"], n_files, n_bytes, audio_s))
    headers = ["scale", "path", "rows", "audio (h)", "wall (s)", "audio-s / s", "peak RSS (MiB)", "Parquet (MiB)"]
    table = markdown_table(headers, rows)
    notes = "\n".join(
        f"- scale {s:g}: {n} source WAVs ({b / 2**30:.2f} GiB); libtrad like-for-like is **{x:.1f}×** the plain path."
        for s, x, n, b, _ in speedups
    )
    body = (
        f"## LiB-TRAD build + export (`bench_lib_trad_build`)\n\n{table}\n\n{notes}\n\nEach row is the median of "
        f"{args.repeats} fresh-process runs. Target: ≥ 2× the plain path; peak RSS flat across sizes."
    )
    print(table)
    print(notes)
    write_section("bench_lib_trad_build", body)


if __name__ == "__main__":
    main()
