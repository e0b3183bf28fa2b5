"""siren-dcase on a full-size synthetic year: units in-process (``--local``) vs Ray tasks, same cores.

Data: an embeddings folder shaped like DCASE 2021 (7 machines × 6 sections, dev 00–02 and eval
03–05, ~200 test clips and ~27 % of a section's rows as train per section, both domains) with
ECHO-Small's 2688-dim float32 embeddings (random, with a shift for anomalies) — about 10 000
rows, built once (not timed). Each contender is a fresh process timing
``evaluate_embeddings("siren-dcase", ...)`` end to end (reading the Parquet, the units, writing
results and plots); the Ray run includes starting the local Ray. Run:
``python bench/bench_siren_dcase.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import markdown_table, write_section  # noqa: E402

MACHINES = ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve")
DIM = 2688


def make_embeddings(folder: Path, seed: int = 0) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for machine in MACHINES:
        rows = {k: [] for k in ("file", "machine", "section", "domain", "year", "set", "split", "label")}
        vectors = []
        for section in range(6):
            dataset = "dev" if section < 3 else "eval"
            for split, n in (("train", 1000 // 14 + 3), ("test", 200)):
                for i in range(n):
                    domain = "target" if (i // 2) % 5 == 0 else "source"
                    label = 0 if split == "train" or i % 2 else 1
                    rows["file"].append(
                        f"section_{section:02d}_{domain}_{split}_{'anomaly' if label else 'normal'}_{i:04d}.wav"
                    )
                    rows["machine"].append(machine)
                    rows["section"].append(section)
                    rows["domain"].append(domain)
                    rows["year"].append(2021)
                    rows["set"].append(dataset)
                    rows["split"].append(split)
                    rows["label"].append(label)
                    vectors.append(rng.standard_normal(DIM).astype(np.float32) + 0.05 * label)
        table = pa.table(
            {
                **{k: pa.array(v, type=pa.int32() if k in ("section", "year") else None) for k, v in rows.items()},
                "embedding": pa.array(list(vectors), type=pa.list_(pa.float32())),
            }
        )
        pq.write_table(table, folder / f"{machine}.parquet")
        total += table.num_rows
    return total


def child(kind: str, embeddings: Path, out: Path) -> dict:
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

    shutil.rmtree(out, ignore_errors=True)  # the benchmark's own scratch output
    start = time.perf_counter()
    results = evaluate_embeddings("siren-dcase", [embeddings], out, local=kind == "local", progress=False)
    return {"kind": kind, "wall_s": time.perf_counter() - start, "score": results["score"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=HERE / "_work")
    parser.add_argument("--child", choices=["local", "ray"])
    parser.add_argument("--embeddings", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.embeddings, args.out)))
        return
    emb = args.workdir / "siren-dcase-2021-full"
    if not emb.is_dir():
        print(f"writing {emb} (not timed)", flush=True)
        make_embeddings(emb)
    import pyarrow.parquet as pq

    rows_total = sum(pq.read_metadata(p).num_rows for p in emb.glob("*.parquet"))
    results = {}
    for kind in ("local", "ray"):
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--embeddings",
                str(emb),
                "--out",
                str(args.workdir / f"siren-dcase-{kind}"),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0:
            raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
        results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        print(kind, results[kind], flush=True)
    same = results["local"]["score"] == results["ray"]["score"]
    rows = [[kind, rows_total, f"{r['wall_s']:.1f}", f"{r['score']:.6f}"] for kind, r in results.items()]
    table = markdown_table(["units run", "rows", "wall (s)", "year score"], rows)
    body = (
        f"## siren-dcase on a full-size synthetic year (`bench_siren_dcase`)\n\n{table}\n\n"
        f"- {rows_total} rows × {DIM} float32 (DCASE 2021's shape: 7 machines × 6 sections, both sets); "
        "42 units (set × machine × section). "
        f"Ray / local = {results['ray']['wall_s'] / results['local']['wall_s']:.2f}×; "
        f"scores {'identical' if same else 'DIFFERENT'}.\n"
        "- Wall time includes reading the Parquet, writing results.json, results.md and the plots, and (Ray) "
        "starting a local Ray and putting the embeddings in the object store once."
    )
    print(table)
    write_section("bench_siren_dcase", body)


if __name__ == "__main__":
    main()
