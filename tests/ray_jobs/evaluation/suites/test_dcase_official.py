"""The official DCASE score per year and its jackknife CI, against computations written here from the evaluators'
documented definitions (scikit-learn's roc_auc_score, scipy's hmean and t, the jackknife formulas of Mesaros et
al. 2019 §IV), not by calling libtrad's functions."""

from __future__ import annotations

import csv
import io
import sys

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from libtrad.ray_jobs.evaluation.suites import dcase_official as O
from libtrad.ray_jobs.evaluation.suites.dcase_result_csv import result_csv

EPS = sys.float_info.epsilon


def table(seed=0, machines=("fan", "valve"), sections=(0, 1), n=24):
    """Stored scores: per machine × section n clips, both domains, both labels, decisions at a threshold."""
    rng = np.random.default_rng(seed)
    out = []
    for m, machine in enumerate(machines):
        for section in sections:
            labels = np.array([i % 2 for i in range(n)])
            domains = np.array(["source" if i < n * 3 // 4 else "target" for i in range(n)], dtype=object)
            scores = rng.normal(size=n) + (0.6 + 0.3 * m) * labels + 0.4 * (domains == "target")
            out.append(O.SectionScores(machine, section, labels, domains, scores, (scores > 0.5).astype(int)))
    return out


def prf(y, d):
    tp, fp, fn = np.sum((y == 1) & (d == 1)), np.sum((y == 0) & (d == 1)), np.sum((y == 1) & (d == 0))
    p, r = tp / max(tp + fp, EPS), tp / max(tp + fn, EPS)
    return p, r, 2 * p * r / max(p + r, EPS)


def independent(year, sections):
    """The year's official score from the evaluators' definitions (module docstring of dcase_official)."""
    if year == 2020:
        per_machine = {}
        for s in sections:
            per_machine.setdefault(s.machine, []).append(
                (roc_auc_score(s.labels, s.scores), roc_auc_score(s.labels, s.scores, max_fpr=0.1))
            )
        means = [np.mean(np.array(v), axis=0) for v in per_machine.values()]
        return float(np.mean([x for m in means for x in m]))
    aucs, paucs = [], []
    for s in sections:
        for domain in ("source", "target"):
            d = s.domains == domain
            if year == 2021:
                aucs.append(roc_auc_score(s.labels[d], s.scores[d]))
                paucs.append(roc_auc_score(s.labels[d], s.scores[d], max_fpr=0.1))
            else:
                m = d | (s.labels == 1)
                aucs.append(roc_auc_score(s.labels[m], s.scores[m]))
        if year >= 2022:
            paucs.append(roc_auc_score(s.labels, s.scores, max_fpr=0.1))
    return float(scipy.stats.hmean(np.maximum(np.array(aucs + paucs), EPS)))


@pytest.mark.parametrize("year", [2020, 2021, 2022, 2023, 2024, 2025])
def test_official_score_equals_the_evaluators_definition(year):
    sections = table(seed=year)
    got = O.set_official(year, sections)
    assert abs(got["score"] - independent(year, sections)) <= 1e-12


def test_the_rules_give_different_numbers_on_one_table():
    sections = table(seed=3)
    scores = {year: O.set_official(year, sections)["score"] for year in (2020, 2021, 2022)}
    assert len({round(v, 12) for v in scores.values()}) == 3, scores
    # 2020 is the mean of the per-type averages: each machine type weighs the same, whatever its ID count
    uneven = table(seed=4, machines=("fan",), sections=(0, 1, 2)) + table(seed=5, machines=("pump",), sections=(0,))
    rows = O.set_official(2020, uneven)["rows"]
    flat = float(np.mean([r[k] for r in rows for k in ("auc", "pauc")]))
    assert abs(O.set_official(2020, uneven)["score"] - flat) > 1e-6
    assert abs(O.set_official(2020, uneven)["score"] - independent(2020, uneven)) <= 1e-12


def test_2022_domain_auc_counts_the_anomalies_of_both_domains_2021_only_its_own():
    s = table(seed=7, machines=("fan",), sections=(0,))[0]
    row22 = O.set_official(2022, [s])["rows"][0]
    rows21 = {r["key"]: r for r in O.set_official(2021, [s])["rows"]}
    src = s.domains == "source"
    both = src | (s.labels == 1)
    assert abs(row22["auc_source"] - roc_auc_score(s.labels[both], s.scores[both])) <= 1e-12
    assert abs(rows21["fan/00/source"]["auc"] - roc_auc_score(s.labels[src], s.scores[src])) <= 1e-12
    assert abs(row22["auc_source"] - rows21["fan/00/source"]["auc"]) > 1e-6
    p, r, f = prf(s.labels[src], s.decisions[src])
    assert (row22["precision_source"], row22["recall_source"], row22["f1_source"]) == pytest.approx(
        (p, r, f), abs=1e-15
    )


def jackknife_here(y, s, fn):
    n = len(y)
    theta = fn(y, s)
    loo = np.array([fn(np.delete(y, i), np.delete(s, i)) for i in range(n)])
    pseudo = n * theta - (n - 1) * loo
    sigma = np.sqrt(np.sum((loo - loo.mean()) ** 2) / (n * (n - 1)))
    return pseudo.mean(), abs(scipy.stats.t.ppf(0.025, n - 1)) * sigma


def textbook_half_width(y, s, fn):
    """Mesaros et al.'s eq. (6) on the pseudo-values (what the evaluator's formula was meant to be)."""
    n = len(y)
    theta = fn(y, s)
    pseudo = np.array([n * theta - (n - 1) * fn(np.delete(y, i), np.delete(s, i)) for i in range(n)])
    return abs(scipy.stats.t.ppf(0.025, n - 1)) * np.sqrt(np.sum((pseudo - pseudo.mean()) ** 2) / (n * (n - 1)))


def test_jackknife_ci_equals_the_evaluators_formula_on_pooled_clips():
    sections = table(seed=11)
    got = O.set_official(2023, sections)["ci"]
    y = np.concatenate([s.labels for s in sections])
    s = np.concatenate([s.scores for s in sections])
    auc_est, auc_ci = jackknife_here(y, s, roc_auc_score)
    pauc_est, pauc_ci = jackknife_here(y, s, lambda a, b: roc_auc_score(a, b, max_fpr=0.1))
    assert got["clips"] == len(y)
    for name, est, ci in (("auc", auc_est, auc_ci), ("pauc", pauc_est, pauc_ci)):
        assert abs(got[name]["jackknife"] - est) <= 1e-12 and abs(got[name]["ci95"] - ci) <= 1e-12
    assert abs(got["ci95"] - (auc_ci + pauc_ci) / 2) <= 1e-12
    assert abs(got["auc"]["ci95_pseudo_values"] - textbook_half_width(y, s, roc_auc_score)) <= 1e-12
    assert got["auc"]["ci95_pseudo_values"] == pytest.approx((len(y) - 1) * got["auc"]["ci95"], rel=1e-9)


def test_ties_in_the_scores_count_half_as_scikit_learn():
    y = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.1, 0.2, 0.3, 0.3, 0.3, 0.9, 0.05])
    got = O.jackknife(y, s)
    want, ci = jackknife_here(y, s, roc_auc_score)
    assert abs(got["auc"]["jackknife"] - want) <= 1e-12 and abs(got["auc"]["ci95"] - ci) <= 1e-12


def test_a_one_class_group_leaves_the_official_score_undefined_and_names_it():
    s = table(seed=2, machines=("fan",), sections=(0,))[0]
    keep = ~((s.domains == "target") & (s.labels == 0))  # no target normals: AUC (target) has one class
    one = O.SectionScores("fan", 0, s.labels[keep], s.domains[keep], s.scores[keep], s.decisions[keep])
    got = O.set_official(2022, [one])
    assert got["score"] is None and got["missing"] == ["AUC (target) fan/00"]


def test_result_csv_has_the_evaluators_layout_and_reads_back():
    entry = O.set_official(2023, table(seed=5))
    rows = list(csv.reader(io.StringIO(result_csv(entry))))
    assert rows[0] == ["fan"] and rows[1][:5] == ["section", "AUC (all)", "AUC (source)", "AUC (target)", "pAUC"]
    assert [r[0] for r in rows[2:4]] == ["00", "01"]
    assert rows[4] == ["", "", "AUC", "pAUC", "precision", "recall", "F1 score"]
    assert [r[0] for r in rows[5:9]] == [
        "arithmetic mean",
        "harmonic mean",
        "source harmonic mean",
        "target harmonic mean",
    ]
    fan = [r for r in entry["rows"] if r["key"].startswith("fan/")]
    aucs = [r["auc_source"] for r in fan] + [r["auc_target"] for r in fan]
    assert float(rows[6][2]) == scipy.stats.hmean(np.maximum(aucs, EPS))  # written as repr: read back bit for bit
    official = next(r for r in rows if r and r[0] == "official score")
    assert float(official[2]) == entry["score"]
    ci = next(r for r in rows if r and r[0] == "official score ci95")
    assert float(ci[2]) == entry["ci"]["ci95"]
