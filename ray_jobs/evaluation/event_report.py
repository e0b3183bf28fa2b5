"""What an event evaluation shows: its Markdown table, the examples it keeps and their scores-over-time plots.

Shared by the ``lib-trad-events`` suite (embeddings with frames) and the trained-model path
(:mod:`libtrad.ray_jobs.lib_trad.event_models`). A result's ``scorers`` map a scorer name to
``{"experiments": {experiment: metrics}}`` (:func:`~libtrad.ray_jobs.evaluation.event_tuning.evaluate_recordings`'s
dict); ``examples`` keep, per scorer and experiment, a few recordings' scores with their annotated and
detected events, which :func:`plot_examples` draws (scores, the threshold they were cut at, the annotated
event shaded, the detected events as bars).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from libtrad.ray_jobs.evaluation.event_tuning import Recording
from libtrad.ray_jobs.evaluation.report import markdown_table

EXAMPLES_PER_EXPERIMENT = 2  # one abnormal recording and one normal, where there are


def examples(recordings: Sequence[Recording], result: dict) -> list[dict]:
    """A few recordings of one experiment (abnormal first) with their scores, events and threshold."""
    abnormal = [r for r in recordings if r.events][: EXAMPLES_PER_EXPERIMENT - 1]
    normal = [r for r in recordings if not r.events][:1]
    folds = {p["threshold"] for p in result["params"]["folds"]}
    out = []
    for r in abnormal + normal:
        detected = result["detected"].get(r.key, [])
        out.append(
            {
                "key": r.key,
                "hop_s": r.scores.hop_s,
                "start_s": r.scores.start_s,
                "scores": [float(v) for v in r.scores.scores],
                "events": [list(e) for e in r.events],
                "detected": detected,
                "thresholds": sorted(folds),
            }
        )
    return out


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(scorers: dict, title: str, note: str = "") -> str:
    """One row per scorer and experiment: event F1 (200 ms, 50 ms onset), segment F1, latency, false alarms."""
    rows = []
    for name, entry in sorted(scorers.items()):
        for experiment, m in sorted(entry["experiments"].items()):
            lat = m["latency"]
            rows.append(
                [
                    name,
                    experiment.upper(),
                    _fmt(m["event_f1"]),
                    _fmt(m["event_f1_50ms"]),
                    _fmt(m["segment_f1"]),
                    _fmt(lat["median_s"], 2),
                    _fmt(lat["p90_s"], 2),
                    f"{lat['detected']}/{lat['detected'] + lat['missed']}",
                    _fmt(m["false_alarms_per_hour"], 1),
                    _fmt(m.get("charging_false_alarms_per_hour"), 1),
                ]
            )
    header = [
        "scorer",
        "experiment",
        "event F1",
        "event F1 (50 ms onset)",
        "segment F1 (1 s)",
        "latency median (s)",
        "latency p90 (s)",
        "events alarmed",
        "false alarms / h (test normal)",
        "false alarms / h (normal charging)",
    ]
    text = [f"## {title}", ""]
    if note:
        text += [note, ""]
    text += [markdown_table(header, rows), ""]
    text += [
        "Event F1: onset within 200 ms (or 50 ms), offset within max(200 ms, 20 % of the event's length), "
        "sed_eval's definitions. Post-processing (threshold, median filter, minimum duration, merge gap) chosen "
        "on the other fold of segments (2-fold cross-fitting; never on the segments scored); the parameters are "
        "in results.json.",
        "",
    ]
    return "\n".join(text)


def plot_examples(name: str, experiment: str, items: list[dict], path: Path) -> Path:
    """Scores over time of ``items`` (one panel each): threshold(s), annotated events shaded, detections as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(items), 1, figsize=(8, 2.2 * len(items)), dpi=80, squeeze=False)
    for ax, item in zip(axes[:, 0], items):
        times = item["start_s"] + (np.arange(len(item["scores"])) + 0.5) * item["hop_s"]
        ax.plot(times, item["scores"], lw=1, color="C0", label="frame score")
        for threshold in item["thresholds"]:
            ax.axhline(threshold, ls="--", lw=0.8, color="grey")
        for onset, offset in item["events"]:
            ax.axvspan(onset, offset, color="C1", alpha=0.25, label="annotated event")
        low = min(item["scores"]) if item["scores"] else 0.0
        for event in item["detected"]:
            ax.hlines(low, event["start_s"], event["end_s"], color="C3", lw=5, label="detected event")
            ax.axvline(event["alarm_s"], color="C3", lw=0.8)
        ax.set_title(item["key"], fontsize=9)
        ax.set_ylabel("score")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time in the segment (s)")
    fig.suptitle(f"{name} · {experiment.upper()}: scores over time", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(all_examples: dict, folder: Path, prefix: str = "events") -> list[Path]:
    """One PNG per scorer and experiment: ``<prefix>_<scorer>_<experiment>.png``."""
    files = []
    for name, per_experiment in sorted(all_examples.items()):
        for experiment, items in sorted(per_experiment.items()):
            if items:
                safe = name.replace(" ", "_").replace("/", "_")
                files.append(plot_examples(name, experiment, items, folder / f"{prefix}_{safe}_{experiment}.png"))
    return files


__all__ = ["EXAMPLES_PER_EXPERIMENT", "examples", "markdown", "plot_examples", "write_plots"]
