"""siren-dcase on constructed embeddings whose scores, AUCs and means can be checked by hand.

Every test embedding is the unit vector at an angle θ from the train bank's direction (1, 0),
so its score is 1 - cos θ: a larger angle is a more anomalous clip.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from libtrad.errors import LibtradError
from libtrad.ray_jobs.evaluation import metrics, report
from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix
from libtrad.ray_jobs.evaluation.suites import siren_dcase as S

EPS = np.finfo(float).eps


def row(file, split, label, angle=0.0, *, set_="dev", machine="fan", section=0, domain="source", year=2022,
        vector=None):
    v = vector if vector is not None else [math.cos(math.radians(angle)), math.sin(math.radians(angle))]
    return {"file": file, "machine": machine, "section": section, "domain": domain, "year": year, "set": set_,
            "split": split, "label": label, "embedding": np.asarray(v, dtype=np.float32)}


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["section"] = df["section"].astype("int32")
    df["year"] = df["year"].astype("int32")
    return df


def section_rows(year=2022, domain_of=lambda d: d, **kw):
    """One section: source normals 10°, 20°, source anomalies 30°, 5°; target normal 40°, anomalies 50°, 15°."""
    rows = [row("tr_s.wav", "train", 0, 0, domain=domain_of("source"), year=year, **kw),
            row("tr_t.wav", "train", 0, 0, domain=domain_of("target"), year=year, **kw)]
    for name, dom, label, angle in [("s_n1", "source", 0, 10), ("s_n2", "source", 0, 20), ("s_a1", "source", 1, 30),
                                    ("s_a2", "source", 1, 5), ("t_n1", "target", 0, 40), ("t_a1", "target", 1, 50),
                                    ("t_a2", "target", 1, 15)]:
        rows.append(row(f"{name}.wav", "test", label, angle, domain=domain_of(dom), year=year, **kw))
    return rows


# pAUC over the whole section: normals {10, 20, 40}, anomalies {30, 5, 50, 15}: only 50° beats every normal,
# so TPR is 1/4 over FPR [0, 0.1] (the first normal is passed at FPR 1/3).
PAUC_SECTION = 0.5 * (1 + (0.1 * 0.25 - 0.005) / (0.1 - 0.005))


def test_scores_are_one_minus_max_cosine_min_over_banks():
    source, target = np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([[0.0, 1.0]])
    test = np.array([[0.8, 0.6], [1.0, 1.0], [-1.0, 0.0], [0.0, -3.0]])
    scores = S.cosine_scores(test, [source, target])
    np.testing.assert_allclose(scores, [1 - 0.96, 1 - 1.4 / math.sqrt(2), 1 - 0.0, 1 - 0.0], atol=1e-12)
    assert scores.dtype == np.float64
    # the bank that is nearer decides: min over banks of (1 - max similarity)
    np.testing.assert_allclose(S.cosine_scores(test[:1], [target]), [1 - 0.6])
    np.testing.assert_allclose(S.cosine_scores(np.zeros((1, 2)), [source]), [1.0])  # all-zero: similarity 0


def test_2022_groups_domain_auc_per_domain_and_pauc_per_section():
    res = S.evaluate_local(frame(section_rows()))
    dev = res["sets"]["dev"]
    assert dev["auc"] == {"fan/00/source": pytest.approx(0.5), "fan/00/target": pytest.approx(0.5)}
    assert dev["pauc"] == {"fan/00": pytest.approx(PAUC_SECTION)}
    assert dev["score"] == pytest.approx(3 / (1 / 0.5 + 1 / 0.5 + 1 / PAUC_SECTION))
    assert res["score"] == pytest.approx(dev["score"])  # one set: the year score is the same aggregate
    assert res["file_scores"]["dev/fan/s_a1.wav"] == pytest.approx(1 - math.cos(math.radians(30)))
    assert set(res) == {"suite", "year", "sets", "score", "file_scores", "options", "counts"}
    assert res["suite"] == "siren-dcase" and res["year"] == 2022
    assert res["counts"]["dev"]["fan/00"] == {"train": 2, "normal": 3, "anomaly": 4, "unlabelled": 0}


def test_official_domain_auc_uses_all_anomalies_of_the_section():
    df = frame(section_rows())
    res = S.evaluate_local(df, S.DcaseOptions(official_domain_auc=True))
    # source normals {10, 20} vs anomalies {30, 5, 50, 15}: 2 + 0 + 2 + 1 wins of 8; target normal {40}: 1 of 4
    assert res["sets"]["dev"]["auc"] == {"fan/00/source": pytest.approx(5 / 8), "fan/00/target": pytest.approx(1 / 4)}
    assert res["sets"]["dev"]["pauc"] == {"fan/00": pytest.approx(PAUC_SECTION)}  # pAUC unchanged
    assert res["options"] == {"official_domain_auc": True, "max_fpr": 0.1}
    assert res["sets"]["dev"]["auc"] != S.evaluate_local(df)["sets"]["dev"]["auc"]


def test_2021_both_metrics_per_domain():
    res = S.evaluate_local(frame(section_rows(year=2021)))
    dev = res["sets"]["dev"]
    assert set(dev["auc"]) == set(dev["pauc"]) == {"fan/00/source", "fan/00/target"}
    # source: normals {10, 20}, anomalies {30, 5}: 30° beats both normals -> TPR 1/2 up to FPR 0.1
    src = 0.5 * (1 + (0.1 * 0.5 - 0.005) / 0.095)
    assert dev["pauc"]["fan/00/source"] == pytest.approx(src)
    values = [dev["auc"]["fan/00/source"], dev["auc"]["fan/00/target"], src, dev["pauc"]["fan/00/target"]]
    assert dev["score"] == pytest.approx(metrics.harmonic_mean(values))


def test_2020_one_group_per_machine_id_and_arithmetic_mean():
    rows = section_rows(year=2020, domain_of=lambda d: None)
    rows += section_rows(year=2020, domain_of=lambda d: None, machine="pump", section=2)
    res = S.evaluate_local(frame(rows))
    dev = res["sets"]["dev"]
    auc = (2 + 0 + 3 + 1) / 12  # anomalies {30, 5, 50, 15}, each vs the normals {10, 20, 40}
    assert dev["auc"] == {"fan/00": pytest.approx(auc), "pump/02": pytest.approx(auc)}
    assert dev["pauc"] == {"fan/00": pytest.approx(PAUC_SECTION), "pump/02": pytest.approx(PAUC_SECTION)}
    assert dev["score"] == pytest.approx((2 * auc + 2 * PAUC_SECTION) / 4)  # arithmetic, not harmonic


def test_one_class_group_scores_zero_and_drags_the_harmonic_mean():
    rows = [r for r in section_rows(year=2021) if r["file"] not in ("t_a1.wav", "t_a2.wav")]  # target: normals only
    res = S.evaluate_local(frame(rows))
    dev = res["sets"]["dev"]
    assert dev["auc"]["fan/00/target"] == 0.0 and dev["pauc"]["fan/00/target"] == 0.0
    values = [dev["auc"]["fan/00/source"], dev["pauc"]["fan/00/source"]]
    assert dev["score"] == pytest.approx(4 / (1 / values[0] + 1 / values[1] + 2 / EPS))


def test_year_score_pools_dev_and_eval_values_and_unlabelled_rows_only_get_scores():
    rows = section_rows() + section_rows(set_="eval", section=3)
    rows.append(row("x.wav", "test", -1, 60, set_="eval", section=3))
    res = S.evaluate_local(frame(rows))
    dev, ev = res["sets"]["dev"], res["sets"]["eval"]
    pooled = [*dev["auc"].values(), *dev["pauc"].values(), *ev["auc"].values(), *ev["pauc"].values()]
    assert res["score"] == pytest.approx(metrics.harmonic_mean(pooled))
    assert res["file_scores"]["eval/fan/x.wav"] == pytest.approx(0.5)
    assert res["counts"]["eval"]["fan/03"]["unlabelled"] == 1
    unlabelled = S.evaluate_local(frame([row("a.wav", "train", 0, 0), row("b.wav", "test", -1, 90)]))
    assert unlabelled["sets"]["dev"] == {"auc": {}, "pauc": {}, "score": None} and unlabelled["score"] is None
    assert unlabelled["file_scores"] == {"dev/fan/b.wav": pytest.approx(1.0)}


def test_auc_matches_sklearn_on_random_embeddings():
    rng = np.random.default_rng(0)
    rows = [row(f"tr{i}.wav", "train", 0, vector=rng.normal(size=16), domain=["source", "target"][i % 2])
            for i in range(20)]
    rows += [row(f"te{i}.wav", "test", i % 2, vector=rng.normal(size=16) + (i % 2), domain="source") for i in range(30)]
    df = frame(rows)
    res = S.evaluate_local(df)
    test = df[df.split == "test"]
    scores = [res["file_scores"][f"dev/fan/{f}"] for f in test.file]
    assert res["sets"]["dev"]["auc"]["fan/00/source"] == pytest.approx(roc_auc_score(test.label, scores), abs=1e-14)
    assert res["sets"]["dev"]["pauc"]["fan/00"] == pytest.approx(roc_auc_score(test.label, scores, max_fpr=0.1),
                                                                abs=1e-14)


def test_unit_order_does_not_change_the_results():
    rows = section_rows() + section_rows(machine="pump") + section_rows(set_="eval", section=4)
    df = frame(rows)
    units = S.plan(df)
    assert [u.key for u in units] == ["dev/fan/00", "dev/pump/00", "eval/fan/04"]
    emb, cols = embedding_matrix(df), S.columns_for(df)
    reference = json.dumps(S.evaluate_local(df))
    for seed in range(3):
        shuffled = units[:]
        random.Random(seed).shuffle(shuffled)
        results = {u.key: S.run_unit(u, emb, cols, S.DcaseOptions()) for u in shuffled}
        assert json.dumps(S.combine(results, df)) == reference


def test_refuses_mixed_years_missing_banks_and_missing_units():
    with pytest.raises(LibtradError, match=r"mix 2 DCASE years \(2021, 2022\)"):
        S.plan(frame(section_rows() + section_rows(year=2021, machine="pump")))
    no_bank = [r for r in section_rows() if r["split"] == "test"]
    with pytest.raises(LibtradError, match="section 00: 7 test rows but no train rows"):
        S.plan(frame(no_bank))
    with pytest.raises(LibtradError, match="'label': 3"):
        S.plan(frame([row("a.wav", "train", 0), row("b.wav", "test", 3)]))
    with pytest.raises(LibtradError, match="'domain': empty for the labelled test row file='b.wav'"):
        S.plan(frame([row("a.wav", "train", 0), row("b.wav", "test", 1, domain=None)]))
    with pytest.raises(LibtradError, match="appears twice"):
        S.plan(frame(section_rows() + [row("s_n1.wav", "test", 0, 3)]))
    with pytest.raises(LibtradError, match="no column 'set' in the embeddings .required by siren-dcase.; columns "
                                           "present: file, machine"):
        S.plan(frame(section_rows()).drop(columns=["set"]))
    df = frame(section_rows())
    with pytest.raises(LibtradError, match="missing: dev/fan/00"):
        S.combine({}, df)
    with pytest.raises(LibtradError, match="max_fpr"):
        S.DcaseOptions(max_fpr=0)


def test_report_writes_tables_and_plots(tmp_path):
    df = frame(section_rows() + section_rows(machine="pump"))
    res = S.evaluate_local(df)
    written = report.write_report(res, tmp_path, curves=S.roc_inputs(df, res))
    assert {p.name for p in written} == {"results.md", "auc_dev.png", "roc_dev.png"}
    text = (tmp_path / "results.md").read_text()
    assert "| fan | 00 | 50.00 | 50.00 | 60.53 |" in text and "AUC (source)" in text and "dev score" in text
    assert (tmp_path / "roc_dev.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
