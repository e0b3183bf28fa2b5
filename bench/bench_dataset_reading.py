"""Reading a LiB-TRAD export: its card's YAML header and the training loader's six TR splits.

Data: the LiB-TRAD synthetic stand-in (``--scale``, default 0.02 as the tests build it) exported with every
config. Card: the export's ``README.md`` header parsed ``--repeats`` times by PyYAML's pure-Python
``yaml.safe_load`` and by ``libtrad.core.yaml_header.safe_load`` (libyaml's loader), mean per parse; the two
results must be equal. Loader: ``load_clips`` of TR1-TR3 train and test (warm ``datasets`` cache, prepared
once before the clock), against the path it replaced — the same split check, then a second builder through
``datasets.load_dataset`` — process CPU seconds, best of ``--repeats``; the clips and labels must be equal.
Run: ``python bench/bench_dataset_reading.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import markdown_table, write_section  # noqa: E402

SPLITS = [(config, split) for config in ("tr1", "tr2", "tr3") for split in ("train", "test")]


def card_parse_ms(card: Path, repeats: int) -> dict[str, float]:
    import yaml

    from libtrad.core import yaml_header

    header = card.read_text().split("---")[1]
    assert yaml.safe_load(header) == yaml_header.safe_load(header)
    out = {"lines": len(header.splitlines())}
    for name, load in (("pure", yaml.safe_load), ("libyaml", yaml_header.safe_load)):
        start = time.perf_counter()
        for _ in range(repeats):
            load(header)
        out[name] = (time.perf_counter() - start) / repeats * 1000
    return out


def two_builders(folder: Path, config: str, split: str, cache: str):
    """The replaced path: the split checked with one builder, then loaded through load_dataset's own."""
    import datasets

    from libtrad.ray_jobs.lib_trad import data

    data._check_local_split(folder, str(folder), config, split, cache)
    ds = datasets.load_dataset(str(folder), config, split=split, cache_dir=cache)
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    return [data._decode(row["audio"], "bench") for row in ds], np.asarray(ds["label"])


def loader_cpu_s(folder: Path, repeats: int) -> dict[str, float]:
    from libtrad.ray_jobs.lib_trad.data import load_clips

    cache = tempfile.mkdtemp(prefix="bench-cache-")
    for config, split in SPLITS:  # prepared once: both paths read the same Arrow cache
        new = load_clips(str(folder), config, split, cache_dir=cache, progress=False)
        old_clips, old_labels = two_builders(folder, config, split, cache)
        assert np.array_equal(new.labels, old_labels) and all(map(np.array_equal, new.waveforms, old_clips))
    paths = {
        "load_clips (one builder)": lambda c, s: load_clips(str(folder), c, s, cache_dir=cache, progress=False),
        "check + load_dataset (two builders)": lambda c, s: two_builders(folder, c, s, cache),
    }
    best = {}
    for name, run in paths.items():
        times = []
        for _ in range(repeats):
            start = time.process_time()
            for config, split in SPLITS:
                run(config, split)
            times.append(time.process_time() - start)
        best[name] = min(times)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from libtrad.builders.lib_trad.export import export_lib_trad
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    work = Path(tempfile.mkdtemp(prefix="bench-reading-"))
    synthesize_lib_trad(work / "raw", scale=args.scale, seed=7, progress=False)
    export_lib_trad(work / "raw", work / "lib-trad", progress=False)
    card = card_parse_ms(work / "lib-trad" / "README.md", args.repeats * 4)
    loader = loader_cpu_s(work / "lib-trad", args.repeats)
    rows = [
        [f"card header ({card['lines']} lines), PyYAML pure-Python safe_load", f"{card['pure']:.1f} ms", ""],
        [
            "card header, libtrad.core.yaml_header (libyaml)",
            f"{card['libyaml']:.1f} ms",
            f"**{card['pure'] / card['libyaml']:.1f}×**",
        ],
    ]
    (old_name, old), (new_name, new) = sorted(loader.items(), key=lambda kv: -kv[1])
    rows += [
        [f"6 TR splits, {old_name}", f"{old:.2f} CPU-s", ""],
        [f"6 TR splits, {new_name}", f"{new:.2f} CPU-s", f"**{old / new:.1f}×**"],
    ]
    table = markdown_table(["what", "time", "speed-up"], rows)
    notes = (
        f"- LiB-TRAD stand-in at scale {args.scale}, every config exported; the header results are equal, and "
        "both loader paths give the same clips and labels (checked before timing).\n"
        f"- Card: mean of {args.repeats * 4} parses. Loader: process CPU, best of {args.repeats} passes over the "
        "six splits, warm `datasets` cache (what a training or evaluation run re-reads)."
    )
    print(table)
    print(notes)
    write_section(
        "bench_dataset_reading", f"## Reading a LiB-TRAD export (`bench_dataset_reading`)\n\n{table}\n\n{notes}"
    )


if __name__ == "__main__":
    main()
