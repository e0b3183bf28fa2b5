"""``official_result_<set>.csv``: one set's official rows in the layout of the year's evaluator's result file.

The layout (facts from the evaluators' code, :mod:`.dcase_official`), per machine type in name order:

* 2020: the machine type's name; ``id,AUC,pAUC``; a row per machine ID; ``Average`` (the arithmetic
  means over its IDs); a blank line.
* 2021: the name; ``section,domain,AUC,pAUC,precision,recall,F1 score``; a row per domain
  (source first) and section; ``arithmetic mean``, ``harmonic mean``, ``source harmonic mean`` and
  ``target harmonic mean`` rows over them; a blank line. (The 2021 evaluator's per-machine source/target
  rows take the first/last ``len(machines) // 2`` rows, a slip in its code; here they are the
  source and the target rows.) Then the same four rows "over all machine types, sections, and
  domains" and ``official score``.
* 2022 on: the name; ``section,AUC (all),AUC (source),AUC (target),pAUC,precision (source),
  precision (target),recall (source),recall (target),F1 score (source),F1 score (target)``; a row per
  section; ``,,AUC,pAUC,precision,recall,F1 score`` and the four mean rows, each over the source
  values followed by the target values (pAUC counted once per domain, as the evaluator); a blank
  line. Then the four rows over all machine types, ``official score`` and ``official score ci95``.

Harmonic means clip each value to machine epsilon first; a value that could not be computed (a
one-class group, a section without decisions) is an empty cell, and so is any mean over it.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from libtrad.ray_jobs.evaluation.suites.dcase_official import hmean

MEASURES = ("AUC", "pAUC", "precision", "recall", "F1 score")
SECTION_COLUMNS = (
    "AUC (all)",
    "AUC (source)",
    "AUC (target)",
    "pAUC",
    "precision (source)",
    "precision (target)",
    "recall (source)",
    "recall (target)",
    "F1 score (source)",
    "F1 score (target)",
)
_FIELDS = {"AUC (all)": "auc_all", "pAUC": "pauc"} | {
    f"{m} ({d})": f"{k}_{d}"
    for m, k in (("AUC", "auc"), ("precision", "precision"), ("recall", "recall"), ("F1 score", "f1"))
    for d in ("source", "target")
}


def _mean(values, harmonic: bool):
    if not values or any(v is None for v in values):
        return None
    return hmean(values) if harmonic else float(np.mean(values))


def _mean_rows(label_suffix: str, columns: list[list], source_count: int | None) -> list[list]:
    """The arithmetic/harmonic/source/target mean rows over ``columns`` (one list of values per measure)."""
    rows = []
    for label, part, harmonic in (
        ("arithmetic mean", slice(None), False),
        ("harmonic mean", slice(None), True),
        ("source harmonic mean", slice(None, source_count), True),
        ("target harmonic mean", slice(source_count, None), True),
    ):
        rows.append([label + label_suffix, "", *(_mean(c[part], harmonic) for c in columns)])
    return rows


def _section_layout(rows: list[dict]) -> tuple[list[list], list[list]]:
    """(per-machine blocks, the values over all) for 2022 on: source values then target values per measure."""
    lines: list[list] = []
    for machine in sorted({r["key"].split("/")[0] for r in rows}):
        mine = [r for r in rows if r["key"].split("/")[0] == machine]
        lines += [[machine], ["section", *SECTION_COLUMNS]]
        lines += [[r["key"].split("/")[1], *(r[_FIELDS[c]] for c in SECTION_COLUMNS)] for r in mine]
        lines += [["", "", *MEASURES], *_mean_rows("", _by_measure(mine), len(mine)), []]
    return lines, _by_measure(rows)


def _by_measure(rows: list[dict]) -> list[list]:
    """Per measure, the source values then the target values (pAUC, one per section, twice)."""
    keys = (("auc_source", "auc_target"), ("pauc", "pauc"), ("precision_source", "precision_target"))
    keys += (("recall_source", "recall_target"), ("f1_source", "f1_target"))
    return [[r[s] for r in rows] + [r[t] for r in rows] for s, t in keys]


def _domain_layout(rows: list[dict]) -> tuple[list[list], list[list], int]:
    lines: list[list] = []
    ordered_all: list[dict] = []
    for machine in sorted({r["key"].split("/")[0] for r in rows}):
        mine = sorted(
            (r for r in rows if r["key"].split("/")[0] == machine),
            key=lambda r: (r["key"].split("/")[2], r["key"].split("/")[1]),
        )
        ordered_all += mine
        lines += [[machine], ["section", "domain", *MEASURES]]
        lines += [[*r["key"].split("/")[1:3], *_measures(r)] for r in mine]
        source = sum(1 for r in mine if r["key"].endswith("/source"))
        lines += [*_mean_rows("", _columns(mine), source), []]
    ordered_all.sort(key=lambda r: r["key"].split("/")[2])
    return lines, _columns(ordered_all), sum(1 for r in rows if r["key"].endswith("/source"))


def _measures(row: dict) -> list:
    return [row["auc"], row["pauc"], row["precision"], row["recall"], row["f1"]]


def _columns(rows: list[dict]) -> list[list]:
    return [list(values) for values in zip(*(_measures(r) for r in rows))] if rows else [[] for _ in MEASURES]


def result_rows(entry: dict) -> list[list]:
    """The CSV rows of one set's ``official`` entry (:func:`~.dcase_official.set_official`)."""
    rows, rule = entry["rows"], entry["rule"]
    if rule == "id":
        lines: list[list] = []
        for machine, means in (entry.get("machine_means") or {}).items():
            lines += [[machine], ["id", "AUC", "pAUC"]]
            lines += [[r["key"].split("/")[1], r["auc"], r["pauc"]] for r in rows if r["key"].split("/")[0] == machine]
            lines += [["Average", means["auc"], means["pauc"]], []]
        return lines + [["official score", "", entry["score"]]]
    if rule == "domain_files":
        lines, over_all, source = _domain_layout(rows)
    else:
        lines, over_all = _section_layout(rows)
        source = len(rows)
    suffix = " over all machine types, sections, and domains"
    lines += [["", "", *MEASURES], *_mean_rows(suffix, over_all, source), [], ["official score", "", entry["score"]]]
    if rule == "section":
        lines.append(["official score ci95", "", (entry.get("ci") or {}).get("ci95")])
    return lines + [[]]


def result_csv(entry: dict) -> str:
    """:func:`result_rows` as CSV text (``\\n`` line ends; floats as Python writes them; None empty)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [["" if v is None else v for v in row] for row in result_rows(entry)]
    )
    return buffer.getvalue()
