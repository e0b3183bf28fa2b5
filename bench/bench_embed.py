"""`libtrad embed` on Ray vs a plain in-process loop, same data, same cores, one run.

Data: the DCASE 2021 synthetic stand-in with 10-s clips (like the real ones), built once (not
timed). Encoders: ECHO-Small's shape with random weights (`echo:DIR`) and `logmel-stats`.
Contenders, each a fresh process timed twice: the whole command (interpreter start, imports, work,
exit — the like-for-like number, since the Ray run imports torch in its actors) and the work alone
(from after the driver's imports; model loading and Ray start-up included):

* plain loop — read the Parquet shards with pyarrow, decode with soundfile, `encoder.embed` in
  batches of 8, torch on all cores; nothing written;
* `libtrad embed` with 1 actor × all threads, and with 2 actors × 1 thread (local Ray on
  127.0.0.1; includes starting Ray, the actors' imports and model load, and writing the output).

Where the time goes: the actors' own decode / model seconds (summed over actors), the driver's
writes, and the time until the first unit came back (Ray start, actor start, model load).
Run: ``python bench/bench_embed.py`` (``--scale 4`` = 288 clips).
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

from libtrad.ray_jobs.embedding.units import default_rows_per_unit  # noqa: E402

CLIP_SECONDS = 10.0


def plain_loop(dataset: Path, encoder_spec: str, threads: int) -> dict:
    import io

    import pyarrow.parquet as pq
    import soundfile as sf
    import torch

    from libtrad.ray_jobs.embedding.encoders import load_encoder

    torch.set_num_threads(threads)
    start = time.perf_counter()
    encoder = load_encoder(encoder_spec)
    rows, decode_s, model_s, batch = 0, 0.0, 0.0, []
    for shard in sorted(dataset.glob("data/**/*.parquet")):
        for record in pq.read_table(shard, columns=["audio"]).column("audio").to_pylist():
            t = time.perf_counter()
            samples, _ = sf.read(io.BytesIO(record["bytes"]), dtype="float32")
            decode_s += time.perf_counter() - t
            batch.append(samples)
            if len(batch) == 8:
                t = time.perf_counter()
                encoder.embed(batch)
                model_s += time.perf_counter() - t
                rows, batch = rows + len(batch), []
    if batch:
        t = time.perf_counter()
        encoder.embed(batch)
        model_s += time.perf_counter() - t
        rows += len(batch)
    return {"rows": rows, "wall_s": time.perf_counter() - start, "decode_s": decode_s, "model_s": model_s}


def ray_embed(dataset: Path, encoder_spec: str, out: Path, actors: int, threads: int) -> dict:
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    start = time.perf_counter()
    summary = embed_dataset(
        str(dataset), encoder_spec, out, config="dcase2021", actors=actors, threads_per_actor=threads, progress=False
    )
    wall = time.perf_counter() - start
    s = summary.seconds
    return {
        "rows": sum(summary.rows.values()),
        "wall_s": wall,
        "decode_s": s.get("decode", 0.0) + s.get("read", 0.0),
        "model_s": s.get("model", 0.0),
        "write_s": s.get("write", 0.0),
        "first_s": s.get("until first unit", 0.0),
    }


def child(args) -> None:
    if args.child == "plain":
        result = plain_loop(args.dataset, args.encoder, os.cpu_count() or 1)
    else:
        actors, threads = (int(x) for x in args.child.split("x"))
        for scratch in [args.out, *args.out.parent.glob(f".{args.out.name}.resume-*")]:
            shutil.rmtree(scratch, ignore_errors=True)  # the benchmark's own scratch output (and resumable parts)
        result = ray_embed(args.dataset, args.encoder, args.out, actors, threads)
    print(json.dumps(result))


def ensure_data(work: Path, scale: float) -> tuple[Path, Path]:
    import libtrad.builders.dcase.synth as synth
    from libtrad.builders.registry import SIREN
    from libtrad.models.echo import EchoConfig, EchoFeatureExtractor, EchoModel

    raw, ds, echo = work / f"embed-raw-{scale:g}", work / f"embed-ds-{scale:g}", work / "echo-small-random"
    if not (ds / "README.md").is_file():
        shutil.rmtree(raw, ignore_errors=True)
        synth.CLIP_SECONDS = CLIP_SECONDS
        synth.synthesize_dcase(raw, year=2021, scale=scale, seed=0, progress=False)
        SIREN.build(raw, ds, component="dcase2021", progress=False)
    if not (echo / "model.safetensors").is_file():
        import torch

        torch.manual_seed(0)
        EchoModel(EchoConfig()).save_pretrained(echo)  # ECHO-Small's shape, random weights
        EchoFeatureExtractor().save_pretrained(echo)
    return ds, echo


def run_child(kind: str, dataset: Path, encoder: str, out: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--dataset", str(dataset), "--encoder", encoder, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    process_s = time.perf_counter() - start  # the whole command: interpreter, imports, work, exit
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "process_s": process_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=4.0)
    parser.add_argument("--workdir", type=Path, default=HERE / "_work")
    parser.add_argument("--child")
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--encoder")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    ds, echo = ensure_data(args.workdir, args.scale)
    cores = os.cpu_count() or 1
    rows, notes = [], []
    for label, spec in (("echo (Small, random)", f"echo:{echo}"), ("logmel-stats", "logmel-stats")):
        results = {}
        for kind, what in (
            ("plain", f"in-process loop, {cores} threads"),
            (f"1x{cores}", f"libtrad embed, 1 actor × {cores} threads"),
            (f"{min(2, cores)}x1", f"libtrad embed, {min(2, cores)} actors × 1 thread"),
        ):
            r = results[kind] = run_child(kind, ds, spec, args.workdir / "embed-out")
            overhead = r["wall_s"] / results["plain"]["wall_s"] - 1 if kind != "plain" else 0.0
            steady = "—"
            if kind != "plain":  # after the first unit came back: per-clip cost vs the loop's
                first_rows = default_rows_per_unit(r["rows"]) * int(kind.split("x")[0])
                per_clip = (r["wall_s"] - r["first_s"]) / max(1, r["rows"] - first_rows)
                steady = f"{per_clip / (results['plain']['wall_s'] / r['rows']) - 1:+.0%}"
            whole = r["process_s"] / results["plain"]["process_s"] - 1
            rows.append(
                [
                    label,
                    what,
                    r["rows"],
                    f"{r['process_s']:.1f}",
                    "—" if kind == "plain" else f"{whole:+.0%}",
                    f"{r['wall_s']:.1f}",
                    f"{r['rows'] / r['wall_s']:.2f}",
                    "—" if kind == "plain" else f"{overhead:+.0%}",
                    steady,
                    f"{r['decode_s']:.1f}",
                    f"{r['model_s']:.1f}",
                    f"{r.get('write_s', 0):.2f}",
                    "—" if kind == "plain" else f"{r['first_s']:.1f}",
                ]
            )
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
        best = min(v["process_s"] for k, v in results.items() if k != "plain")
        best_call = min(v["wall_s"] for k, v in results.items() if k != "plain")
        notes.append(
            f"- {label}: best `libtrad embed` command is {best / results['plain']['process_s'] - 1:+.0%} vs the "
            f"in-process loop's command ({'meets' if best <= 1.1 * results['plain']['process_s'] else 'misses'} "
            f"the ≤ 10 % target); {best_call / results['plain']['wall_s'] - 1:+.0%} counting only the work "
            "after the imports."
        )
    headers = [
        "encoder",
        "path",
        "clips",
        "command (s)",
        "command vs loop",
        "work (s)",
        "clips/s",
        "work vs loop",
        "per clip after 1st unit vs loop",
        "read+decode (s)",
        "model (s)",
        "driver write (s)",
        "until 1st unit (s)",
    ]
    table = markdown_table(headers, rows)
    body = (
        f"## `libtrad embed` vs an in-process loop (`bench_embed`)\n\n{table}\n\n" + "\n".join(notes) + "\n\n"
        "'command' is the whole process (interpreter, imports, work, exit) — what a user waits for, and the "
        "like-for-like comparison: the loop imports torch/transformers in its process, the Ray run in its actors. "
        "'work' starts after the driver's imports (the Ray run's actors still import and load inside it). "
        "Clips: DCASE 2021 stand-in, 10 s at 16 kHz. Seconds of read/decode/model are summed over actors "
        "(with 2 actors they run side by side). 'until 1st unit' = Ray start + actor start (imports, model "
        "load) + the first unit: the fixed cost a run pays before the pool is busy. 'per clip after 1st unit' "
        "compares the rest of the run with the loop's average clip (which includes its model load): the "
        "steady-state overhead of Ray, decoding in the actor and the driver's writes."
    )
    print(table)
    print("\n".join(notes))
    write_section("bench_embed", body)


if __name__ == "__main__":
    main()
