"""Decision thresholds: the baseline's gamma fit against scipy's, the percentile and FPR rules, leave-one-out
training scores against a brute-force computation, and what happens where no threshold can be fitted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.evaluation.suites import dcase_threshold as T
from libtrad.ray_jobs.evaluation.suites import siren_dcase as S


def random_section(seed=0, dim=8) -> list[dict]:
    """One 2022 section: 12 source and 3 target train rows, 20 labelled test rows (half of each domain)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(35):
        split, label = ("train", 0) if i < 15 else ("test", (i - 15) % 2)
        domain = ("source" if i < 12 else "target") if i < 15 else ("source", "target")[(i - 15) // 10]
        rows.append(
            {
                "file": f"c{i:02d}.wav",
                "machine": "fan",
                "section": 0,
                "domain": domain,
                "year": 2022,
                "set": "dev",
                "split": split,
                "label": label,
                "embedding": (rng.normal(size=dim) + 0.7 * label).astype(np.float32),
            }
        )
    return rows


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({"section": "int32", "year": "int32"})


def train_scores(seed=0, n=200):
    return np.random.default_rng(seed).gamma(2.0, 0.05, size=n) + 0.01


def test_gamma_threshold_is_scipys_fit_and_ppf():
    s = train_scores()
    got = T.fit_threshold(T.parse_threshold("gamma"), s, "here")
    a, loc, scale = scipy.stats.gamma.fit(s)  # the baseline's call: shape, location and scale all free
    assert got["gamma"] == {"a": a, "loc": loc, "scale": scale}
    assert abs(got["threshold"] - scipy.stats.gamma.ppf(0.9, a, loc=loc, scale=scale)) <= 1e-12
    q80 = T.fit_threshold(T.parse_threshold("gamma:0.8"), s, "here")["threshold"]
    assert abs(q80 - scipy.stats.gamma.ppf(0.8, a, loc=loc, scale=scale)) <= 1e-12 and q80 < got["threshold"]


def test_percentile_and_fpr_rules():
    s = train_scores(seed=1, n=101)
    assert T.fit_threshold(T.parse_threshold("percentile:75"), s, "x")["threshold"] == np.percentile(s, 75)
    for f in (0.05, 0.1, 0.5):
        t = T.fit_threshold(T.parse_threshold(f"fpr:{f}"), s, "x")["threshold"]
        assert np.mean(T.decide(s, t)) <= f  # at most F of the training clips flagged
        lower = np.sort(s)[np.searchsorted(np.sort(s), t) - 1]
        assert np.mean(T.decide(s, lower)) > f  # and the threshold is the smallest such training score


@pytest.mark.parametrize(
    "text, named",
    [
        ("median", "must start with one of"),
        ("gamma:1.5", "strictly between 0 and 1"),
        ("percentile:100", "100"),
        ("fpr:x", "needs a number"),
        ("fpr:0", "strictly between"),
    ],
)
def test_bad_rules_are_refused_in_one_line(text, named):
    with pytest.raises(ParameterError, match=named):
        T.parse_threshold(text)
    with pytest.raises(ParameterError, match="threshold"):
        S.DcaseOptions(threshold=text)


def brute_force_loo(emb, domains, options):
    """Each train row's score against its banks with itself removed, by deleting the row (plain NumPy)."""
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    out = []
    for i in range(len(emb)):
        per_bank = []
        for d in sorted(set(domains)):
            rows = [j for j in range(len(emb)) if domains[j] == d and j != i]
            if not rows:
                continue
            sims = unit[rows] @ unit[i]
            if options.aggregation == "knn":
                per_bank.append(np.mean(1 - np.sort(sims)[::-1][: options.k]))
            else:
                per_bank.append(1 - {"max": np.max, "mean": np.mean, "min": np.min}[options.aggregation](sims))
        out.append({"min": min, "max": max, "mean": np.mean}[options.domain_strategy](per_bank))
    return np.array(out)


@pytest.mark.parametrize(
    "options",
    [
        S.DcaseOptions(),
        S.DcaseOptions(aggregation="mean", domain_strategy="mean"),
        S.DcaseOptions(aggregation="knn", k=3, domain_strategy="max"),
    ],
)
def test_leave_one_out_scores_equal_deleting_each_row(options):
    rng = np.random.default_rng(5)
    emb = rng.normal(size=(14, 6))
    domains = np.array(["source"] * 11 + ["target"] * 3, dtype=object)
    got = T.leave_one_out_scores(emb, domains, options)
    np.testing.assert_allclose(got, brute_force_loo(emb, domains, options), rtol=0, atol=1e-12)
    assert (got > 0).all()  # no row is its own neighbour


def test_suite_records_thresholds_decisions_and_a_section_it_cannot_fit():
    res = S.SUITE.evaluate_local(frame(random_section()), S.DcaseOptions(threshold="percentile:90"))
    entry = res["decisions"]["sections"]["dev/fan/00"]
    assert res["decisions"]["rule"] == "percentile:90" and entry["train_clips"] == 15
    scores = {k: v for k, v in res["file_scores"].items()}
    assert all(res["file_decisions"][k] == int(v > entry["threshold"]) for k, v in scores.items())
    table = res["sets"]["dev"]["decisions"]
    assert set(table) == {"fan/00/source", "fan/00/target"}
    assert sum(v["tp"] + v["fp"] + v["fn"] + v["tn"] for v in table.values()) == 20
    # a section whose training clips all score the same: no gamma fit, no decisions, the AUCs stand
    rows = random_section()
    for r in rows:
        if r["split"] == "train":
            r["embedding"] = np.ones(8, dtype=np.float32)
    flat = S.SUITE.evaluate_local(frame(rows))
    lacking = flat["decisions"]["sections"]["dev/fan/00"]
    assert lacking["threshold"] is None and "gamma fit" in lacking["problem"]
    assert flat["file_decisions"] == {} and flat["sets"]["dev"]["decisions"] == {}
    assert flat["sets"]["dev"]["auc"] and flat["sets"]["dev"]["official"]["rows"][0]["precision_source"] is None
