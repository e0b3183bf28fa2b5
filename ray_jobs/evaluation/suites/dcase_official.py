"""The DCASE Task 2 official score of one set, as each year's official evaluator computes it.

SIREN's numbers (:mod:`.siren_dcase`) are SIREN's protocol; a DCASE participant is ranked by the
organisers' evaluator. The facts below come from the evaluators' repositories (y-kawagu's
``dcase2020_task2_evaluator`` and ``dcase2021_task2_evaluator``, nttcslab's
``dcase2023_task2_evaluator`` and ``dcase2024_task2_evaluator``, read, not copied) and the task
pages; 2022 and 2025 follow the 2023/2024 rule (same file names and metrics on the task pages;
their evaluators were not read), 2026 is listed with the same rule until its evaluator says
otherwise. One rule per year in :data:`RULES`; a new year is one more line there.

* **2020** (``id``): one ROC per machine × machine ID over all its test clips: AUC and pAUC
  (``max_fpr`` 0.1, McClish-standardised as scikit-learn's). The evaluator prints, per machine
  type, the arithmetic mean over its IDs of AUC and of pAUC ("Average"); there are no decisions.
  libtrad's one 2020 number is the arithmetic mean of those per-type averages, AUC and pAUC
  together (so each machine type weighs the same, whatever its number of IDs).
* **2021** (``domain_files``): one file per machine × section × domain; AUC and pAUC per domain
  over that domain's clips only (its normals *and its own anomalies*), precision/recall/F1 of the
  decisions per domain. Official score: the harmonic mean of every AUC and pAUC value.
* **2022 on** (``section``): one file per machine × section; ``AUC (source)`` / ``AUC (target)``
  over the domain's normals and *all* the section's anomalies (both domains), ``pAUC`` over the
  whole section, ``AUC (all)`` over the whole section (shown, not scored); precision/recall/F1
  per domain over that domain's clips. Official score: the harmonic mean of every AUC (source),
  AUC (target) and pAUC value.

Every harmonic mean clips each value to machine epsilon first (as the evaluators); precision is
``tp / max(tp + fp, eps)``, recall ``tp / max(tp + fn, eps)``, F1 ``2PR / max(P + R, eps)``.
A group with one class has no AUC: its value is None and so is the official score (the evaluator
stops there); ``missing`` names the groups.

**Confidence interval** (the 2023/2024 evaluator's, :func:`jackknife`): the labels and scores of
every test clip of the set pooled (all machine types and sections), the AUC and the pAUC of the
pool are jackknifed (Mesaros et al. 2019, §IV): ``θ̂ᵢ`` without clip ``i``, pseudo-values
``N θ̂ − (N−1) θ̂ᵢ`` whose mean is the estimate, ``σ = sqrt(Σ(θ̂ᵢ − mean θ̂ᵢ)² / (N (N−1)))`` and the
half-width ``|t₀.₀₂₅,N−1| σ``. The evaluator reports the mean of the AUC's and the pAUC's
half-widths as the official score's "ci95"; libtrad records all three. The 2020 and 2021
evaluators print no interval; libtrad gives the same computation for every year.

Note: the evaluator takes the spread of the leave-one-out values ``θ̂ᵢ`` where Mesaros et al.'s
formula takes that of the pseudo-values, which spread ``N − 1`` times wider; its half-width is
therefore ``N − 1`` times narrower than the textbook jackknife's. libtrad reports the evaluator's
(what the challenge prints) and, as ``ci95_pseudo_values``, the textbook one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from libtrad.ray_jobs.evaluation import metrics

EPS = sys.float_info.epsilon
DOMAINS = ("source", "target")
MAX_FPR = 0.1


@dataclass(frozen=True)
class YearRule:
    """How one year's evaluator reads files and scores them (module docstring)."""

    name: str  # "id" (2020), "domain_files" (2021), "section" (2022+)
    decisions: bool = True  # whether the challenge asks for decision_result files


RULES: dict[int, YearRule] = {
    2020: YearRule("id", decisions=False),
    2021: YearRule("domain_files"),
    2022: YearRule("section"),
    2023: YearRule("section"),
    2024: YearRule("section"),
    2025: YearRule("section"),
    2026: YearRule("section"),
}


def rule_for(year: int) -> YearRule:
    """The year's rule; a year without one has no official score here (None)."""
    return RULES.get(int(year))


@dataclass(frozen=True)
class SectionScores:
    """One machine × section of one set: its labelled test clips (labels 0/1), in file-name order."""

    machine: str
    section: int
    labels: np.ndarray
    domains: np.ndarray  # "source" / "target" (None in 2020)
    scores: np.ndarray
    decisions: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.machine}/{self.section:02d}"


# ----------------------------------------------------------------------------- metrics of one group
def auc_pair(labels: np.ndarray, scores: np.ndarray, max_fpr: float = MAX_FPR) -> tuple[float | None, float | None]:
    """(AUC, pAUC) of one group, (None, None) when it lacks a class."""
    if len(np.unique(labels)) < 2:
        return None, None
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    return metrics.area(fpr, tpr), metrics.partial_area(fpr, tpr, max_fpr)


def decision_scores(labels: np.ndarray, decisions: np.ndarray) -> dict:
    """Counts and the evaluator's precision, recall and F1 (epsilon-guarded denominators)."""
    y, d = np.asarray(labels) == 1, np.asarray(decisions) == 1
    tp, fp = int(np.sum(y & d)), int(np.sum(~y & d))
    fn, tn = int(np.sum(y & ~d)), int(np.sum(~y & ~d))
    precision = tp / max(tp + fp, EPS)
    recall = tp / max(tp + fn, EPS)
    f1 = 2.0 * precision * recall / max(precision + recall, EPS)
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1}


def _prf(labels, decisions) -> dict:
    if (np.asarray(decisions) < 0).any():  # a section without a threshold (dcase_threshold.try_fit): no decisions
        return {"precision": None, "recall": None, "f1": None}
    scores = decision_scores(labels, decisions)
    return {k: scores[k] for k in ("precision", "recall", "f1")}


# ----------------------------------------------------------------------------- rows of the evaluator's table
def section_rows(rule: YearRule, section: SectionScores) -> list[dict]:
    """The evaluator's rows for one section: 2020 one row (AUC, pAUC), 2021 one per domain, 2022+ one."""
    y, s, dom = section.labels, section.scores, section.domains
    if rule.name == "id":
        auc, pauc = auc_pair(y, s)
        return [{"key": section.key, "auc": auc, "pauc": pauc}]
    in_domain = {d: np.array([v == d for v in dom], dtype=bool) for d in DOMAINS}
    if rule.name == "domain_files":
        rows = []
        for d in DOMAINS:
            m = in_domain[d]
            if not m.any():
                continue
            auc, pauc = auc_pair(y[m], s[m])
            rows.append({"key": f"{section.key}/{d}", "auc": auc, "pauc": pauc, **_prf(y[m], section.decisions[m])})
        return rows
    row = {"key": section.key}
    row["auc_all"], row["pauc"] = auc_pair(y, s)
    for d in DOMAINS:
        m = in_domain[d]
        row[f"auc_{d}"] = auc_pair(y[m | (y == 1)], s[m | (y == 1)])[0] if m.any() else None
        for name, value in _prf(y[m], section.decisions[m]).items():
            row[f"{name}_{d}"] = value if m.any() else None
    return [row]


def scored_values(rule: YearRule, rows: list[dict]) -> list[tuple[str, float | None]]:
    """(group label, value) of every value the year's official score averages, in the evaluator's order."""
    if rule.name in ("id", "domain_files"):
        return [(f"AUC {r['key']}", r["auc"]) for r in rows] + [(f"pAUC {r['key']}", r["pauc"]) for r in rows]
    return (
        [(f"AUC (source) {r['key']}", r["auc_source"]) for r in rows]
        + [(f"AUC (target) {r['key']}", r["auc_target"]) for r in rows]
        + [(f"pAUC {r['key']}", r["pauc"]) for r in rows]
    )


def hmean(values) -> float:
    """The evaluators' harmonic mean: each value clipped to machine epsilon first."""
    v = np.maximum(np.asarray(values, dtype=np.float64), EPS)
    return float(v.size / np.sum(1.0 / v))


def machine_means(rows: list[dict]) -> dict[str, dict[str, float]]:
    """2020: per machine type, the arithmetic mean over its IDs of AUC and of pAUC (the evaluator's "Average")."""
    out: dict[str, dict[str, float]] = {}
    for machine in sorted({r["key"].split("/")[0] for r in rows}):
        mine = [r for r in rows if r["key"].split("/")[0] == machine]
        out[machine] = {k: float(np.mean([r[k] for r in mine])) for k in ("auc", "pauc")}
    return out


def official_score(rule: YearRule, rows: list[dict]) -> tuple[float | None, list[str]]:
    """The year's one number from the evaluator's rows, and the groups without a value (then None)."""
    values = scored_values(rule, rows)
    missing = [label for label, v in values if v is None]
    if missing or not values:
        return None, missing
    if rule.name == "id":
        means = machine_means(rows)
        return float(np.mean([m[k] for m in means.values() for k in ("auc", "pauc")])), []
    return hmean([v for _, v in values]), []


# ----------------------------------------------------------------------------- the jackknife
def jackknife(labels, scores, max_fpr: float = MAX_FPR) -> dict | None:
    """The evaluator's jackknife of the pooled AUC and pAUC (module docstring); None without both classes
    (or with fewer than 3 clips, where leaving one out can leave one class)."""
    from scipy import stats

    y = np.asarray(labels) == 1
    s = np.asarray(scores, dtype=np.float64)
    n = y.size
    if n < 3 or y.sum() < 2 or (~y).sum() < 2:
        return None
    order = np.argsort(s, kind="mergesort")[::-1]
    y, s = y[order], s[order]
    fpr, tpr, _ = metrics.curve_of_sorted(y, s)
    full = np.array([metrics.area(fpr, tpr), metrics.partial_area(fpr, tpr, max_fpr)])
    loo = np.empty((n, 2))
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        keep[i] = False
        fpr, tpr, _ = metrics.curve_of_sorted(y[keep], s[keep])
        loo[i] = metrics.area(fpr, tpr), metrics.partial_area(fpr, tpr, max_fpr)
        keep[i] = True
    pseudo = n * full - (n - 1) * loo
    t = abs(float(stats.t.ppf(0.025, n - 1)))
    half = t * np.sqrt(np.sum((loo - loo.mean(axis=0)) ** 2, axis=0) / (n * (n - 1)))
    textbook = t * np.sqrt(np.sum((pseudo - pseudo.mean(axis=0)) ** 2, axis=0) / (n * (n - 1)))
    auc, pauc = (
        {
            "value": float(full[j]),
            "jackknife": float(pseudo[:, j].mean()),
            "ci95": float(half[j]),
            "ci95_pseudo_values": float(textbook[j]),
        }
        for j in (0, 1)
    )
    return {"auc": auc, "pauc": pauc, "ci95": float((half[0] + half[1]) / 2), "clips": int(n)}


# ----------------------------------------------------------------------------- one set
def set_official(year: int, sections: list[SectionScores]) -> dict | None:
    """``sets.<set>.official`` of results.json: the evaluator's rows, the official score and its CI."""
    rule = rule_for(year)
    if rule is None or not sections:
        return None
    rows = [row for section in sections for row in section_rows(rule, section)]
    score, missing = official_score(rule, rows)
    labels = np.concatenate([s.labels for s in sections])
    scores = np.concatenate([s.scores for s in sections])
    out = {"rule": rule.name, "score": score, "rows": rows, "ci": jackknife(labels, scores)}
    if rule.name == "id":
        out["machine_means"] = machine_means(rows) if not missing else None
    if missing:
        out["missing"] = missing
    return out


def official_inputs(
    units: list, columns: dict[str, np.ndarray], file_scores: dict, file_decisions: dict
) -> dict[str, list[SectionScores]]:
    """Per set, each section's labelled test clips in file-name order (as the evaluators sort them); ``units`` are
    siren-dcase's units (set, machine, section, test rows)."""
    out: dict[str, list[SectionScores]] = {}
    for unit in units:
        rows = unit.test[columns["label"][unit.test] >= 0]
        rows = rows[np.argsort(columns["file"][rows].astype(str), kind="stable")]
        keys = [f"{unit.set}/{unit.machine}/{f}" for f in columns["file"][rows]]
        section = SectionScores(
            unit.machine,
            unit.section,
            columns["label"][rows],
            columns["domain"][rows],
            np.array([file_scores[k] for k in keys], dtype=np.float64),
            np.array([file_decisions.get(k, -1) for k in keys], dtype=np.int64),
        )
        out.setdefault(unit.set, []).append(section)
    return {name: [s for s in sections if s.labels.size] for name, sections in out.items()}


def decision_table(sections: list[SectionScores]) -> dict[str, dict]:
    """``sets.<set>.decisions``: counts, precision, recall and F1 per section and domain (2020: per section)."""
    out = {}
    for section in (s for s in sections if (s.decisions >= 0).all()):
        names = sorted({d for d in section.domains if d is not None})
        if not names:
            out[section.key] = decision_scores(section.labels, section.decisions)
            continue
        for d in names:
            m = np.array([v == d for v in section.domains], dtype=bool)
            out[f"{section.key}/{d}"] = decision_scores(section.labels[m], section.decisions[m])
    return out


def year_official(sets: dict[str, dict]) -> dict | None:
    """results.json's ``official``: the evaluation set's official score (what the challenge ranks), else the
    development set's, naming which."""
    for name in ("eval", "dev", *sorted(sets)):
        entry = (sets.get(name) or {}).get("official")
        if entry is not None:
            ci = entry.get("ci") or {}
            return {"set": name, "rule": entry["rule"], "score": entry["score"], "ci95": ci.get("ci95")}
    return None
