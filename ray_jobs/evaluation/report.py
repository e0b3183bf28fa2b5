"""What a person reads after a suite ran: ``results.md`` (the tables a paper prints) and PNG plots.

Every function takes the suite's results dict and a folder and writes into that folder (the
caller makes the folder atomic). Figures use matplotlib's object API on the Agg canvas (no
pyplot state), so they are safe in worker threads and on machines without a display.
Percentages are printed with two decimals, as the DCASE and SIREN papers print them.

* siren-dcase: one table per set (AUC per domain or section, pAUC, the set score), the year
  score, the official DCASE score per set with its jackknife CI, the decisions' precision/recall/F1
  per section and domain (:func:`dcase_official_lines`), ``official_result_<set>.csv`` (the
  evaluator's result layout, :mod:`~libtrad.ray_jobs.evaluation.suites.dcase_result_csv`);
  ``auc_<set>.png`` (a bar per AUC/pAUC group) and, given the ROC inputs
  (:func:`libtrad.ray_jobs.evaluation.suites.siren_dcase.roc_inputs`), ``roc_<set>.png`` (one panel per
  machine × section, one curve per AUC group).
* siren-fault: the summary scores, per-class scores, the confusion matrix;
  ``confusion.png`` and ``per_class_f1.png``; an external test with recording conditions adds
  the per-condition table and ``per_condition.png``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.evaluation.suites.dcase_result_csv import result_csv

PANEL_COLUMNS = 6


# ----------------------------------------------------------------------------- markdown helpers
def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    return path


# ----------------------------------------------------------------------------- siren-dcase
def _split_key(key: str) -> tuple[str, str]:
    """``machine/SS[/domain]`` -> (``machine/SS``, column label)."""
    parts = key.split("/")
    return "/".join(parts[:2]), (parts[2] if len(parts) > 2 else "")


def dcase_set_table(name: str, entry: dict) -> str:
    """One set: a row per machine × section, columns AUC (per domain) and pAUC (per domain)."""
    cells: dict[str, dict[str, float]] = {}
    columns: list[str] = []
    for metric, label in (("auc", "AUC"), ("pauc", "pAUC")):
        for key, value in entry[metric].items():
            section, domain = _split_key(key)
            column = f"{label} ({domain})" if domain else label
            if column not in columns:
                columns.append(column)
            cells.setdefault(section, {})[column] = value
    columns = sorted(columns, key=lambda c: (not c.startswith("AUC"), c))
    rows = [[s.split("/")[0], s.split("/")[1], *(pct(cells[s].get(c)) for c in columns)] for s in sorted(cells)]
    return markdown_table(["machine", "section", *columns], rows)


def dcase_markdown(results: dict) -> str:
    mean = "arithmetic mean" if results["year"] == 2020 else "harmonic mean"
    parts = [
        f"# SIREN DCASE {results['year']} (cosine 1-NN on embeddings)",
        "",
        f"Scores in %. Set and year scores: {mean} of every AUC and pAUC value "
        f"(pAUC: max FPR {results.get('options', {}).get('max_fpr', 0.1)}); one-class groups score 0.",
    ]
    if results.get("options", {}).get("official_domain_auc"):
        parts.append("Domain AUCs use the domain's normals with all anomalies of the section (official DCASE).")
    for name, entry in results["sets"].items():
        parts += [
            "",
            f"## {name}",
            "",
            dcase_set_table(name, entry) if entry["auc"] else "No labelled test rows.",
            "",
            f"**{name} score: {pct(entry['score'])}**",
        ]
    parts += ["", f"**Year score ({' + '.join(results['sets'])}): {pct(results['score'])}**"]
    return "\n".join([*parts, *dcase_official_lines(results), ""])


def auc_bars(name: str, entry: dict, path: Path) -> Path:
    """Horizontal bars: every AUC and pAUC group of one set (the weak sections stand out)."""
    labels = [f"AUC {k}" for k in entry["auc"]] + [f"pAUC {k}" for k in entry["pauc"]]
    values = [100 * v for v in entry["auc"].values()] + [100 * v for v in entry["pauc"].values()]
    fig = new_figure(7, max(2.0, 0.22 * len(labels) + 1))
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    ax.barh(y, values, color=["tab:blue"] * len(entry["auc"]) + ["tab:orange"] * len(entry["pauc"]))
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(50, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlim(0, 100)
    ax.set_xlabel("%")
    ax.set_title(f"{name}: AUC and pAUC per group (score {pct(entry['score'])})")
    return save_figure(fig, path)


def roc_panels(name: str, curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """One panel per machine × section with a ROC curve per AUC group (domain)."""
    from libtrad.ray_jobs.evaluation.metrics import roc_curve

    sections = sorted({_split_key(k)[0] for k in curves})
    columns = min(PANEL_COLUMNS, len(sections))
    rows = math.ceil(len(sections) / columns)
    fig = new_figure(2.6 * columns, 2.5 * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).reshape(-1)
    for ax, section in zip(axes, sections):
        for key in (k for k in sorted(curves) if _split_key(k)[0] == section):
            labels, scores = curves[key]
            if labels.size and labels.min() != labels.max():
                fpr, tpr, _ = roc_curve(labels, scores)
                ax.plot(fpr, tpr, linewidth=1, label=_split_key(key)[1] or "all")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5, linestyle="--")
        ax.set_title(section, fontsize=8)
        ax.tick_params(labelsize=6)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="lower right")
    for ax in axes[len(sections) :]:
        ax.set_axis_off()
    fig.suptitle(f"{name}: ROC per section (FPR → TPR)")
    return save_figure(fig, path)


def dcase_official_lines(results: dict) -> list[str]:
    """results.md's official-score part: the official DCASE score per set (with its jackknife CI) beside
    SIREN's, the decisions' precision/recall/F1 per section and domain, and the sections without a threshold."""
    official = results.get("official")
    if official is None and not results.get("decisions"):
        return []  # results written before libtrad computed these
    rule = (results.get("decisions") or {}).get("rule", "?")
    parts = ["", "## Official DCASE score and decisions", ""]
    rows = []
    for name, entry in results["sets"].items():
        off = entry.get("official") or {}
        ci = off.get("ci") or {}
        rows.append([name, pct(entry.get("score")), pct(off.get("score")), _ci(ci.get("ci95")), ci.get("clips", "–")])
    parts += [markdown_table(["set", "SIREN score", "official score", "± CI95 (jackknife)", "clips"], rows), ""]
    if official is not None:
        parts.append(
            f"**Official DCASE {results['year']} score ({official['set']}): {pct(official['score'])}"
            f"{' ± ' + _ci(official['ci95']) if official.get('ci95') is not None else ''}** "
            f"(the {official['rule']} rule of the year's evaluator; the CI is the mean of the pooled AUC's and "
            "pAUC's jackknife 95 % half-widths)"
        )
    for name, entry in results["sets"].items():
        table = entry.get("decisions") or {}
        if table:
            parts += ["", f"Decisions, {name} (threshold {rule}; precision, recall, F1 in %):", ""]
            parts.append(
                markdown_table(
                    ["group", "tp", "fp", "fn", "tn", "precision", "recall", "F1"],
                    [
                        [k, v["tp"], v["fp"], v["fn"], v["tn"], pct(v["precision"]), pct(v["recall"]), pct(v["f1"])]
                        for k, v in table.items()
                    ],
                )
            )
    lacking = {
        k: v for k, v in ((results.get("decisions") or {}).get("sections") or {}).items() if v["threshold"] is None
    }
    if lacking:
        parts += ["", "Sections without a decision threshold (no decisions, no submission files):", ""]
        parts += [f"- {key}: {entry.get('problem', '')}" for key, entry in lacking.items()]
    return parts


def _ci(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def write_dcase_report(results: dict, folder: str | Path, curves: dict | None = None) -> list[Path]:
    """results.md, official_result_<set>.csv (the evaluator's result layout), auc_<set>.png and (given
    ``curves``) roc_<set>.png into ``folder``."""
    folder = _folder(folder)
    written = [write_text(folder / "results.md", dcase_markdown(results))]
    for name, entry in results["sets"].items():
        if entry.get("official") is not None:
            written.append(write_text(folder / f"official_result_{safe_name(name)}.csv", result_csv(entry["official"])))
        if entry["auc"]:
            written.append(auc_bars(name, entry, folder / f"auc_{safe_name(name)}.png"))
        if curves and curves.get(name):
            written.append(roc_panels(name, curves[name], folder / f"roc_{safe_name(name)}.png"))
    return written


# ----------------------------------------------------------------------------- siren-fault
def fault_markdown(results: dict) -> str:
    summary = [
        [
            "weighted (SIREN)",
            pct(results["precision_weighted"]),
            pct(results["recall_weighted"]),
            pct(results["f1_weighted"]),
        ],
        ["macro", pct(results["precision_macro"]), pct(results["recall_macro"]), pct(results["f1_macro"])],
    ]
    per_class = [
        [name, pct(s["precision"]), pct(s["recall"]), pct(s["f1"]), s["support"]]
        for name, s in results["per_class"].items()
    ]
    confusion = [[name, *row] for name, row in zip(results["classes"], results["confusion"])]
    trained = f" (learnt from {results['counts']['train']} train rows)" if "counts" in results else ""
    return "\n".join(
        [
            f"# SIREN fault classification (KNN, {results['protocol'].upper()})",
            "",
            f"**Accuracy: {pct(results['accuracy'])} %** over {len(results['predictions'])} rows{trained}, "
            f"{len(results['classes'])} classes. Scores in %.",
            "",
            markdown_table(["average", "precision", "recall", "F1"], summary),
            "",
            *_condition_section(results),
            "## Per class",
            "",
            markdown_table(["class", "precision", "recall", "F1", "support"], per_class),
            "",
            "## Confusion matrix (rows: true class, columns: predicted)",
            "",
            markdown_table(["true \\ predicted", *results["classes"]], confusion),
            "",
        ]
    )


def _condition_section(results: dict) -> list[str]:
    """The external test's scores per recording condition (weighted P/R/F1, SIREN's), when there are any."""
    if not results.get("per_condition"):
        return []
    rows = [
        [
            name,
            pct(s["accuracy"]),
            pct(s["precision_weighted"]),
            pct(s["recall_weighted"]),
            pct(s["f1_weighted"]),
            s["support"],
        ]
        for name, s in results["per_condition"].items()
    ]
    return [
        "## Per recording condition (weighted)",
        "",
        markdown_table(["condition", "accuracy", "precision", "recall", "F1", "rows"], rows),
        "",
    ]


def condition_figure(results: dict, path: Path) -> Path:
    """Accuracy and weighted P/R/F1 of each recording condition as grouped bars."""
    names = list(results["per_condition"])
    keys = (
        ("accuracy", "accuracy"),
        ("precision_weighted", "precision"),
        ("recall_weighted", "recall"),
        ("f1_weighted", "F1"),
    )
    fig = new_figure(max(4.5, 0.9 * len(names) + 2), 3.4)
    ax = fig.add_subplot()
    width = 0.8 / len(keys)
    for i, (key, label) in enumerate(keys):
        ax.bar(
            np.arange(len(names)) + (i - 1.5) * width,
            [100 * results["per_condition"][c][key] for c in names],
            width,
            label=label,
        )
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.legend(fontsize=7, ncols=4, loc="lower right")
    ax.set_title(f"External test per condition (accuracy {pct(results['accuracy'])} % overall)", fontsize=9)
    return save_figure(fig, path)


def confusion_figure(results: dict, path: Path) -> Path:
    """The confusion matrix as row-normalised colours with the counts written in."""
    counts = np.asarray(results["confusion"], dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(results["classes"])
    fig = new_figure(max(4.0, 0.5 * n + 2.5), max(3.5, 0.5 * n + 2))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), results["classes"], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), results["classes"], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 25:
        for (i, j), c in np.ndenumerate(counts):
            ax.text(
                j,
                i,
                str(int(c)),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if shares[i, j] > 0.5 else "black",
            )
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_title(f"Confusion ({results['protocol']}, accuracy {pct(results['accuracy'])} %)", fontsize=9)
    return save_figure(fig, path)


def per_class_figure(results: dict, path: Path) -> Path:
    names = list(results["per_class"])
    values = [100 * results["per_class"][c]["f1"] for c in names]
    fig = new_figure(max(4.0, 0.35 * len(names) + 2), 3.2)
    ax = fig.add_subplot()
    ax.bar(range(len(names)), values)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("F1 (%)")
    ax.set_title(f"F1 per class (weighted F1 {pct(results['f1_weighted'])} %)")
    return save_figure(fig, path)


def write_fault_report(results: dict, folder: str | Path) -> list[Path]:
    """results.md, confusion.png and per_class_f1.png into ``folder`` (+ per_condition.png for an external test
    with conditions)."""
    folder = _folder(folder)
    written = [
        write_text(folder / "results.md", fault_markdown(results)),
        confusion_figure(results, folder / "confusion.png"),
        per_class_figure(results, folder / "per_class_f1.png"),
    ]
    if results.get("per_condition"):
        written.append(condition_figure(results, folder / "per_condition.png"))
    return written


# ----------------------------------------------------------------------------- dispatch
def write_report(results: dict, folder: str | Path, curves: dict | None = None) -> list[Path]:
    """The report of either suite, chosen by ``results["suite"]``."""
    suite = results.get("suite")
    if suite == "siren-dcase":
        return write_dcase_report(results, folder, curves)
    if suite == "siren-fault":
        return write_fault_report(results, folder)
    raise LibtradError(f"results of suite {suite!r}: no report for it (expected siren-dcase or siren-fault)")


def _folder(folder: str | Path) -> Path:
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
