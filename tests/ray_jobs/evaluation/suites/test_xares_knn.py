"""xares-knn: softmax-weighted votes and their temperature, ties, folds, AUC, refusals — answers worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.evaluation.suites import xares_knn as K


def frame(x, y, **columns) -> pd.DataFrame:
    return pd.DataFrame({"label": np.asarray(y), **columns, "embedding": list(np.asarray(x, dtype=np.float32))})


def unit_vector(cos: float, sign: float = 1.0) -> list[float]:
    return [cos, sign * math.sqrt(1 - cos * cos)]


# Bank: one class-0 row at cosine 0.9 from the query (1, 0), two class-1 rows at cosine 0.5.
BANK = np.array([unit_vector(0.9), unit_vector(0.5), unit_vector(0.5, -1)])
BANK_LABELS = np.array([0, 1, 1])


def test_votes_are_softmax_of_similarity_over_temperature():
    sims = np.array([[0.9, 0.5, 0.5]])
    for t in (0.07, 10.0):
        votes = K.vote(sims, BANK_LABELS, 2, k=3, temperature=t)
        w0 = 1 / (1 + 2 * math.exp(-0.4 / t))  # e^(0.9/t) / (e^(0.9/t) + 2 e^(0.5/t))
        np.testing.assert_allclose(votes, [[w0, 1 - w0]], rtol=1e-12)
    # T = 0.07: the one close neighbour outweighs two far ones; T = 10: nearly a plain majority vote
    assert K.vote(sims, BANK_LABELS, 2, 3, 0.07).argmax() == 0
    assert K.vote(sims, BANK_LABELS, 2, 3, 10.0).argmax() == 1


def test_temperature_decides_the_prediction_end_to_end():
    x = np.r_[BANK, [[2.0, 0.0]]]  # the query, not unit length: the suite normalises it
    df = frame(x, [0, 1, 1, 0], split=["train"] * 3 + ["test"])
    assert K.SUITE.evaluate_local(df, K.XaresKnnOptions(k=3))["value"] == 1.0
    assert K.SUITE.evaluate_local(df, K.XaresKnnOptions(k=3, temperature=10.0))["value"] == 0.0


def test_only_the_k_nearest_vote_and_ties_go_to_the_lower_row():
    sims = np.array([[0.2, 0.7, 0.7, 0.9]])
    assert K.nearest(sims, 2).tolist() == [[1, 3]]  # 0.9, then the first of the two 0.7
    votes = K.vote(sims, np.array([1, 0, 1, 1]), 2, k=2, temperature=0.07)
    w = 1 / (1 + math.exp(-0.2 / 0.07))
    np.testing.assert_allclose(votes, [[1 - w, w]], rtol=1e-12)


def test_kfold_value_is_the_mean_over_folds():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    x = rng.normal(size=(90, 6)) + 2 * rng.normal(size=(3, 6))[y]
    res = K.SUITE.evaluate_local(frame(x, y, fold=np.arange(90) // 30))
    assert res["protocol"] == "kfold" and [f["fold"] for f in res["folds"]] == ["0", "1", "2"]
    assert res["value"] == pytest.approx(np.mean([f["test_metric"] for f in res["folds"]]))
    assert res["test_size"] == 90 and all(f["bank"] == 60 for f in res["folds"])


def test_an_anomaly_task_scores_the_anomaly_vote_share_by_auc():
    # train: normals near (1, 0), anomalies near (0, 1); test: two of each, scored by the anomaly share
    x = np.array(
        [[1, 0.05], [1, -0.05], [1, 0.1], [0.05, 1], [-0.05, 1], [0.1, 1], [1, 0.02], [0.02, 1], [1, 0.3], [0.3, 1]]
    )
    y = [0, 0, 0, 1, 1, 1, 0, 1, 0, 1]
    df = frame(x, y, split=["train"] * 6 + ["test"] * 4, label_name=np.array(["normal", "anomaly"])[y])
    res = K.SUITE.evaluate_local(df, K.XaresKnnOptions(k=3))
    assert res["metric"] == "auc" and res["value"] == 1.0 and res["pauc"] == 1.0


def test_refusals():
    df = frame(BANK, [0, 1, 1], split=["train", "train", "test"])
    with pytest.raises(LibtradError, match="fewer than k=10"):
        K.SUITE.plan(df)
    with pytest.raises(ParameterError, match="temperature=0"):
        K.XaresKnnOptions(temperature=0)
    with pytest.raises(LibtradError, match="one class only"):
        K.SUITE.plan(frame(BANK, [0, 0, 1], split=["train", "train", "test"]), K.XaresKnnOptions(k=1))


# ------------------------------------------------------------------------- from test_reliability_evaluation_inputs.py
def test_a_probe_refuses_an_anomaly_test_part_of_one_class(tmp_path, cli, rel, embeddings_folder):
    rows = 30
    split = ["train"] * 20 + ["test"] * 10
    labels = [0, 1] * 10 + [0] * 10
    folder = embeddings_folder(
        tmp_path / "p", rows=rows, names=("normal", "anomaly"), labels=labels, extra={"split": split}
    )
    result = cli("evaluate", "xares-knn", "--embeddings", folder, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, "xares-knn: the test part holds 10 normal, 0 anomaly rows", "AUC needs")
