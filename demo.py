"""``libtrad demo``: the main job end to end on the embedded default (a synthetic LiB-TRAD)."""

from __future__ import annotations

import time
from pathlib import Path

from libtrad.outputs import check_output


def run_demo(workdir: str | Path, *, scale: float = 0.05, seed: int = 0) -> str:
    """Synthesize a small LiB-TRAD, export it as a Hub dataset, load it back, return a summary."""
    from datasets import load_dataset

    from libtrad.builders.lib_trad.export import export_lib_trad
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    workdir = Path(workdir).expanduser().resolve()
    raw, built = workdir / "raw", workdir / "lib-trad"
    # Both are libtrad folders (synthetic, dataset): a re-run replaces them, anything else is refused.
    check_output(raw, "synthetic", option="--workdir")
    check_output(built, "dataset", option="--workdir")
    start = time.perf_counter()
    synthesize_lib_trad(raw, scale=scale, seed=seed)
    summary = export_lib_trad(raw, built)
    lines = [summary.describe(), ""]
    cache = workdir / "hf-cache"
    test = load_dataset(str(built), "tr1", split="test", cache_dir=str(cache))
    row = test[0]
    samples = row["audio"].get_all_samples()
    label = test.features["label"].int2str(row["label"])
    lines.append(f"load_dataset({str(built)!r}, 'tr1', split='test'): {test.num_rows} rows; row 0: "
                 f"{row['experiment']} segment {row['segment']} mic {row['channel']}, {label}, audio "
                 f"{tuple(samples.data.shape)} at {samples.sample_rate} Hz")
    seg = load_dataset(str(built), "segments", split="train", cache_dir=str(cache))[0]["audio"].get_all_samples()
    lines.append(f"load_dataset(..., 'segments'): 4-microphone audio {tuple(seg.data.shape)} at {seg.sample_rate} Hz")
    lines.append(f"card: {built / 'README.md'}; figure: {built / 'images'}; manifest: {built / 'manifest.json'}")
    lines.append(f"done in {time.perf_counter() - start:.1f} s. This data is a SYNTHETIC stand-in, not LiB-TRAD.")
    return "\n".join(lines)
