"""Build + export of SIREN's fault corpora: the new ones (Paderborn, XJTU-SY, MFPT, SEU, JNU) beside CWRU/MAFAULDA.

Each row is ``libtrad build siren --component C`` on that component's synthetic stand-in at one
scale, in a fresh process (library imports not timed; peak RSS = that process's ru_maxrss). Where
the corpus has a fixed set of files (MFPT, SEU, JNU) the scale multiplies their length; elsewhere
it multiplies the number of files. The speed class is read off the raw MiB/s and the ms per row
next to CWRU's and MAFAULDA's, and peak RSS should stay flat from the smaller scale to the larger.
Run: ``python bench/bench_fault_build.py`` (``--scales 1,4`` by default; keep it small on shared cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _build_bench import median_run, peak_rss_mib, warm  # noqa: E402
from _results import markdown_table, write_section  # noqa: E402

COMPONENTS = ("cwru", "mafaulda", "paderborn", "xjtu-sy", "mfpt", "seu", "jnu")


def child(component: str, raw: Path, out: Path) -> dict:
    """One measured build, in this (fresh) process."""
    import datasets

    import libtrad.builders.export  # noqa: F401 - imported before the clock starts
    from libtrad.builders.registry import SIREN

    SIREN.component(component)
    datasets.disable_progress_bars()
    start = time.perf_counter()
    summary = SIREN.build(raw, out / component, component=component, progress=False)
    rows = sum(v["rows"] for splits in summary.configs.values() for v in splits.values())
    return {"kind": component, "rows": rows, "wall_s": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib()}


def ensure_raw(work: Path, component: str, scale: float) -> tuple[Path, int, int]:
    from libtrad.builders.fault.synth import synthesize_fault

    raw = work / f"fault-{component}-{scale:g}"
    if not (raw / "SYNTHETIC.json").is_file():
        synthesize_fault(raw, component=component, scale=scale, progress=False)  # not timed
    files = [p for p in raw.rglob("*") if p.is_file() and p.name != "SYNTHETIC.json" and not p.name.startswith(".")]
    return (raw, *warm(raw, files))  # .mat / .csv / .txt as well as WAVs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,4")
    parser.add_argument("--components", default=",".join(COMPONENTS))
    parser.add_argument("--repeats", type=int, default=1, help="fresh-process runs per row; the median is reported")
    parser.add_argument("--workdir", type=Path, default=HERE / "_work")
    parser.add_argument("--child")
    parser.add_argument("--raw", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.raw, args.out)))
        return
    table, rss = [], {}
    scales = [float(s) for s in args.scales.split(",")]
    for component in args.components.split(","):
        for scale in scales:
            raw, n_files, n_bytes = ensure_raw(args.workdir, component, scale)
            r = median_run(__file__, component, raw, args.workdir, args.repeats)
            mib = n_bytes / 2**20
            table.append(
                [
                    component,
                    f"{scale:g}",
                    n_files,
                    r["rows"],
                    f"{mib:.1f}",
                    f"{r['wall_s']:.2f}",
                    f"{mib / r['wall_s']:.1f}",
                    f"{1e3 * r['wall_s'] / r['rows']:.0f}",
                    f"{r['peak_rss_mib']:.0f}",
                ]
            )
            rss.setdefault(component, []).append(r["peak_rss_mib"])
            print(" | ".join(str(c) for c in table[-1]), flush=True)
    headers = [
        "component",
        "scale",
        "raw files",
        "rows",
        "raw MiB",
        "wall (s)",
        "raw MiB/s",
        "ms / row",
        "peak RSS (MiB)",
    ]
    notes = [
        f"- {c}: peak RSS {min(v):.0f}-{max(v):.0f} MiB across scales {args.scales} "
        f"({'flat: within 15 %' if max(v) - min(v) <= 0.15 * min(v) else 'grows by more than 15 %'})"
        for c, v in rss.items()
    ]
    body = (
        f"## SIREN fault corpora build + export (`bench_fault_build`)\n\n{markdown_table(headers, table)}\n\n"
        + "\n".join(notes)
        + f"\n\nEach row is the median of {args.repeats} fresh-process run(s) of `libtrad build siren --component "
        "C` on its synthetic stand-in (MFPT, SEU, JNU: the fixed file set, scale = length; the others: scale = "
        "files). Target: the new corpora in CWRU's and MAFAULDA's speed class; peak RSS flat across sizes. "
        "A build's fixed cost (the card figure, Parquet writer, checksums) dominates at these sizes; the "
        "text formats (XJTU-SY, SEU, JNU CSVs, like MAFAULDA's) parse slower per MiB than .mat files."
    )
    print(markdown_table(headers, table))
    print("\n".join(notes))
    write_section("bench_fault_build", body)


if __name__ == "__main__":
    main()
