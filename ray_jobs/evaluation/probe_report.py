"""The report of the probe suites (linear-probe, xares-mlp, xares-knn): ``results.md`` and PNG plots.

* Trained probes: the headline (mean ± std over seeds), a row per seed × fold (best epoch, its
  validation metric, the test metric), the splits used; ``test_per_seed.png`` (the test metric
  of every seed on every fold: the spread behind the ± ) and ``validation_curves.png`` (the
  validation metric per epoch of every seed × fold, the chosen epoch marked — a curve that peaks
  early shows why the last epoch is not reported).
* kNN: the value, a row per fold; ``test_per_fold.png``.

Values are printed in % with two decimals, as the other suites' reports are. Figures use
matplotlib's object API (:mod:`libtrad.ray_jobs.evaluation.report`), safe off the main thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from libtrad.ray_jobs.evaluation.report import markdown_table, new_figure, pct, save_figure

TITLES = {
    "linear-probe": "Linear probe (ARCH recipe)",
    "xares-mlp": "MLP probe (X-ARES recipe)",
    "xares-knn": "Weighted kNN (X-ARES)",
}
METRIC_NAMES = {"accuracy": "accuracy", "auc": "AUC"}


def _headline(results: dict) -> str:
    metric = METRIC_NAMES.get(results["metric"], results["metric"])
    if "mean" in results:
        std = "" if results["std"] is None else f" ± {pct(results['std'])}"
        text = f"**Test {metric}: {pct(results['mean'])}{std} %** (mean ± sample std over seeds {results['seeds']})"
        if "pauc" in results:
            p = results["pauc"]
            std = "" if p["std"] is None else f" ± {pct(p['std'])}"
            text += f"; pAUC (FPR ≤ {p['max_fpr']}): {pct(p['mean'])}{std} %"
        return text
    text = f"**Test {metric}: {pct(results['value'])} %**"
    return text + (f"; pAUC (FPR ≤ 0.1): {pct(results['pauc'])} %" if "pauc" in results else "")


def _context(results: dict) -> list[str]:
    used = results.get("splits_used", {})
    lines = [
        f"Task: `{results.get('task') or '—'}`; protocol: {results['protocol']}; {results['test_size']} test "
        f"rows; classes: {', '.join(results['classes'])}.",
        "",
        "Splits used: " + "; ".join(f"{k}: {v}" for k, v in used.items() if k != "folds") + ".",
    ]
    if results.get("note"):
        lines += ["", f"Note: {results['note']}."]
    return lines


def probe_markdown(results: dict) -> str:
    auc = results["metric"] == "auc"
    headers = ["seed", "fold", "best epoch", "validation", "test"] + (["test pAUC"] if auc else [])
    rows = [
        [
            s["seed"],
            f["fold"],
            f"{f['best_epoch']} / {len(f['val_curve'])}",
            pct(f["val_metric"]),
            pct(f["test_metric"]),
            *([pct(f["test_pauc"])] if auc else []),
        ]
        for s in results["per_seed"]
        for f in s["folds"]
    ]
    return "\n".join(
        [
            f"# {TITLES.get(results['suite'], results['suite'])}",
            "",
            _headline(results),
            "",
            *_context(results),
            "",
            "## Per seed and fold (in %)",
            "",
            markdown_table(headers, rows),
            "",
        ]
    )


def knn_markdown(results: dict) -> str:
    auc = results["metric"] == "auc"
    headers = ["fold", "bank rows", "test rows", "test"] + (["test pAUC"] if auc else [])
    rows = [
        [f["fold"], f["bank"], f["test_size"], pct(f["test_metric"]), *([pct(f["test_pauc"])] if auc else [])]
        for f in results["folds"]
    ]
    options = results.get("options", {})
    return "\n".join(
        [
            f"# {TITLES['xares-knn']}",
            "",
            _headline(results),
            "",
            f"k = {options.get('k')}, temperature {options.get('temperature')} (cosine similarity, "
            "softmax-weighted votes).",
            "",
            *_context(results),
            "",
            "## Per fold (in %)",
            "",
            markdown_table(headers, rows),
            "",
        ]
    )


# ----------------------------------------------------------------------------- figures
def per_seed_figure(results: dict, path: Path) -> Path:
    """Grouped bars: the test metric of each seed (colour) on each fold (group)."""
    folds = [f["fold"] for f in results["per_seed"][0]["folds"]]
    seeds = results["per_seed"]
    width = 0.8 / len(seeds)
    fig = new_figure(max(4.0, 0.5 * len(folds) * len(seeds) + 2), 3.2)
    ax = fig.add_subplot()
    for i, entry in enumerate(seeds):
        values = [100 * f["test_metric"] for f in entry["folds"]]
        ax.bar(np.arange(len(folds)) + (i - (len(seeds) - 1) / 2) * width, values, width, label=f"seed {entry['seed']}")
    ax.set_xticks(range(len(folds)), folds, fontsize=7)
    ax.set_xlabel("fold")
    ax.set_ylabel(f"test {METRIC_NAMES.get(results['metric'], results['metric'])} (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{results['suite']}: test metric per seed (mean {pct(results['mean'])} %)", fontsize=9)
    return save_figure(fig, path)


def validation_figure(results: dict, path: Path) -> Path:
    """The validation metric per epoch of every seed × fold; a dot at the epoch kept."""
    fig = new_figure(6, 3.4)
    ax = fig.add_subplot()
    for entry in results["per_seed"]:
        for fold in entry["folds"]:
            curve = 100 * np.asarray(fold["val_curve"])
            epochs = np.arange(1, curve.size + 1)
            (line,) = ax.plot(epochs, curve, linewidth=0.8, label=f"seed {entry['seed']}, fold {fold['fold']}")
            ax.plot(fold["best_epoch"], curve[fold["best_epoch"] - 1], "o", color=line.get_color(), markersize=4)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {METRIC_NAMES.get(results['metric'], results['metric'])} (%)")
    if sum(len(s["folds"]) for s in results["per_seed"]) <= 12:
        ax.legend(fontsize=6, loc="lower right")
    ax.set_title(f"{results['suite']}: validation curves (dot: the epoch kept)", fontsize=9)
    return save_figure(fig, path)


def per_fold_figure(results: dict, path: Path) -> Path:
    folds = results["folds"]
    fig = new_figure(max(4.0, 0.5 * len(folds) + 2), 3.2)
    ax = fig.add_subplot()
    ax.bar(range(len(folds)), [100 * f["test_metric"] for f in folds])
    ax.set_xticks(range(len(folds)), [f["fold"] for f in folds], fontsize=7)
    ax.set_xlabel("fold")
    ax.set_ylabel(f"test {METRIC_NAMES.get(results['metric'], results['metric'])} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"xares-knn: test metric per fold ({pct(results['value'])} %)", fontsize=9)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- writers
def write_probe_report(results: dict, folder: str | Path) -> list[Path]:
    """results.md, test_per_seed.png and validation_curves.png into ``folder``."""
    folder = Path(folder)
    (folder / "results.md").write_text(probe_markdown(results), encoding="utf-8")
    return [
        folder / "results.md",
        per_seed_figure(results, folder / "test_per_seed.png"),
        validation_figure(results, folder / "validation_curves.png"),
    ]


def write_knn_report(results: dict, folder: str | Path) -> list[Path]:
    """results.md and test_per_fold.png into ``folder``."""
    folder = Path(folder)
    (folder / "results.md").write_text(knn_markdown(results), encoding="utf-8")
    return [folder / "results.md", per_fold_figure(results, folder / "test_per_fold.png")]
