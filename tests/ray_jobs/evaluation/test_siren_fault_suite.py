"""siren-fault: LOOCV / k-fold KNN predictions equal scikit-learn's (ties included), scores, names, errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import LeaveOneOut, PredefinedSplit, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from libtrad.errors import LibtradError
from libtrad.ray_jobs.evaluation import report
from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix
from libtrad.ray_jobs.evaluation.suites import siren_fault as F


def frame(x, y, fold=None, names=None) -> pd.DataFrame:
    """Rows whose ``file`` order is the row order (predictions come back sorted by file)."""
    data = {"file": [f"clip{i:05d}.mat" for i in range(len(x))], "label": np.asarray(y, dtype=np.int64),
            "embedding": list(np.asarray(x, dtype=np.float32))}
    if fold is not None:
        data["fold"] = np.asarray(fold, dtype=np.int32)
    if names is not None:
        data["label_name"] = [names[v] for v in y]
    return pd.DataFrame(data)


def predicted(df, options=None) -> np.ndarray:
    """Label predictions per row (the rows are already in file order)."""
    res = F.evaluate_local(df, options)
    lookup = {name: int(name) for name in res["classes"]}
    return np.array([lookup[p] for p in res["predictions"]])


def sklearn_predictions(x, y, cv, threads: int) -> np.ndarray:
    with threadpool_limits(threads, user_api="openmp"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a LOOCV fold may hold a class with one member
        return cross_val_predict(KNeighborsClassifier(5), np.asarray(x, dtype=np.float32), y, cv=cv)


def test_loocv_equals_sklearn_on_random_embeddings():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(260, 48)), rng.integers(0, 6, 260)
    want = sklearn_predictions(x, y, LeaveOneOut(), threads=1)  # no equal distances: its thread count is moot
    np.testing.assert_array_equal(predicted(frame(x, y)), want)
    np.testing.assert_array_equal(predicted(frame(x, y), F.FaultOptions(block_rows=33)), want)  # blocking is invisible


def test_float32_screen_equals_the_float64_path_and_sklearn_far_from_the_origin():
    """Large norms, small distances: the screen's error bound is wide, so rows fall back to float64."""
    rng = np.random.default_rng(7)
    x = (300 + rng.normal(scale=0.01, size=(120, 32))).astype(np.float32)
    y = rng.integers(0, 3, 120)
    want = sklearn_predictions(x, y, LeaveOneOut(), threads=1)
    df = frame(x, y)
    np.testing.assert_array_equal(predicted(df), want)
    unit = F.plan(df)[0]
    wide = F.run_unit(unit, embedding_matrix(df).astype(np.float64), F.columns_for(df))  # no screen for float64
    assert wide == F.run_unit(unit, embedding_matrix(df), F.columns_for(df))


@pytest.mark.parametrize("threads", [1, 2])
def test_loocv_equals_sklearn_with_many_equal_distances(threads):
    """0/1 embeddings: most distances tie, and sklearn's heap (per thread) decides which rows survive."""
    rng = np.random.default_rng(threads)
    x, y = rng.integers(0, 2, (300, 16)), rng.integers(0, 4, 300)  # 299 fitted rows: two 256-row chunks
    want = sklearn_predictions(x, y, LeaveOneOut(), threads)
    got = predicted(frame(x, y), F.FaultOptions(sklearn_threads=threads, block_rows=128))
    np.testing.assert_array_equal(got, want)


def test_ties_need_the_heap_replay():
    """The plain 'lower row first' rule differs from sklearn here: the replay is what makes them equal."""
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 2, (300, 16)).astype(np.float64), rng.integers(0, 4, 300)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = F._lowest_index_k(d, 5)
    naive = F._vote(np.searchsorted(np.unique(y), y)[nearest], 4)
    want = sklearn_predictions(x, y, LeaveOneOut(), threads=1)
    assert (naive != want).any()
    np.testing.assert_array_equal(predicted(frame(x, y)), want)


@pytest.mark.parametrize("threads", [1, 2])
def test_kfold_from_the_fold_column_equals_sklearn(threads):
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 3, (500, 20)), rng.integers(0, 5, 500)
    fold = rng.integers(0, 5, 500)
    want = sklearn_predictions(x, y, PredefinedSplit(fold), threads)
    df = frame(x, y, fold)
    res = F.evaluate_local(df, F.FaultOptions(sklearn_threads=threads))
    assert res["protocol"] == "kfold" and [u.key for u in F.plan(df)] == [f"fold/{i}" for i in range(5)]
    np.testing.assert_array_equal([int(p) for p in res["predictions"]], want)
    # an unbalanced split (a large fold predicted from a small one): sklearn then splits the queries, not the rows
    fold = (np.arange(500) % 10 == 0).astype(int)
    want = sklearn_predictions(x, y, PredefinedSplit(fold), threads)
    np.testing.assert_array_equal(predicted(frame(x, y, fold), F.FaultOptions(sklearn_threads=threads)), want)
    loocv = F.evaluate_local(df, F.FaultOptions(protocol="loocv"))
    assert loocv["protocol"] == "loocv"


def test_scores_names_and_shape():
    # two tight clusters plus one stray: every row but the stray is predicted right
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 0.5],
                  [10, 10], [10, 11], [11, 10], [11, 11], [10, 12], [0.5, 0.5]], dtype=float)
    x = np.hstack([x, np.zeros((12, 14))])
    y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]  # the last row (label 1) sits in cluster 0
    res = F.evaluate_local(frame(x, y, names={0: "normal", 1: "inner_race"}))
    assert set(res) == {"suite", "protocol", "classes", "accuracy", "precision_weighted", "recall_weighted",
                        "f1_weighted", "precision_macro", "recall_macro", "f1_macro", "confusion", "predictions",
                        "per_class"}
    assert res["suite"] == "siren-fault" and res["protocol"] == "loocv"
    assert res["classes"] == ["normal", "inner_race"]
    assert res["confusion"] == [[6, 0], [1, 5]]
    assert res["accuracy"] == pytest.approx(11 / 12)
    assert res["per_class"]["normal"] == {"precision": pytest.approx(6 / 7), "recall": 1.0,
                                          "f1": pytest.approx(12 / 13), "support": 6}
    assert res["precision_macro"] == pytest.approx((6 / 7 + 1) / 2)
    assert res["predictions"][-1] == "normal"
    json.dumps(res)
    named = F.evaluate_local(frame(x, y), F.FaultOptions(classes=("a", "b")))
    assert named["classes"] == ["a", "b"]
    assert F.evaluate_local(frame(x, y))["classes"] == ["0", "1"]


def test_predictions_follow_file_order():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 16)), rng.integers(0, 3, 40)
    df = frame(x, y)
    want = F.evaluate_local(df)["predictions"]
    shuffled = df.iloc[rng.permutation(40)].reset_index(drop=True)
    assert F.evaluate_local(shuffled)["predictions"] == want  # random data: no ties, so row order is irrelevant


def test_siren_compat_zscored_channel_average():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 24)), rng.integers(0, 3, 30)
    got = predicted(frame(x, y), F.FaultOptions(siren_compat=True))
    xc = x.astype(np.float32).astype(np.float64).reshape(30, 8, 3)
    want = []
    for i in range(30):
        others = np.delete(np.arange(30), i)
        z = []
        for ch in range(7):
            d = np.linalg.norm(xc[others, ch] - xc[i, ch], axis=1)
            z.append((d - d.mean()) / d.std())
        nearest = others[np.argsort(np.mean(z, axis=0), kind="stable")[:5]]
        counts = np.bincount(y[nearest], minlength=3)
        want.append(int(np.argmax(counts)))
    np.testing.assert_array_equal(got, want)
    with pytest.raises(LibtradError, match="divisible by 8"):
        F.evaluate_local(frame(rng.normal(size=(10, 12)), [0, 1] * 5), F.FaultOptions(siren_compat=True))


def test_unit_order_does_not_change_the_results():
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 2, (90, 16)), rng.integers(0, 3, 90)
    df = frame(x, y)
    options = F.FaultOptions(block_rows=20)
    units = F.plan(df, options)
    assert len(units) == 5
    emb, cols = embedding_matrix(df), F.columns_for(df)
    results = {u.key: F.run_unit(u, emb, cols, options) for u in reversed(units)}
    assert json.dumps(F.combine(results, df, options)) == json.dumps(F.evaluate_local(df, options))


def test_input_errors():
    x = np.zeros((8, 16))
    with pytest.raises(LibtradError, match="appears 2 times"):
        F.plan(pd.concat([frame(x, [0] * 8)] * 2, ignore_index=True))
    with pytest.raises(LibtradError, match="needs a 'fold' column"):
        F.plan(frame(x, [0] * 8), F.FaultOptions(protocol="kfold"))
    with pytest.raises(LibtradError, match="one fold only"):
        F.plan(frame(x, [0] * 8, fold=[1] * 8))
    with pytest.raises(LibtradError, match="at least 6"):
        F.plan(frame(x[:5], [0] * 5))
    with pytest.raises(LibtradError, match="'label': -1"):
        F.plan(frame(x, [0] * 7 + [-1]))
    with pytest.raises(LibtradError, match="names 1 classes but the rows have label 1"):
        F.evaluate_local(frame(x, [0, 1] * 4), F.FaultOptions(classes=("a",)))
    with pytest.raises(LibtradError, match="protocol='x'"):
        F.FaultOptions(protocol="x")
    with pytest.raises(LibtradError, match="missing: loocv/0000000"):
        F.combine({}, frame(x, [0, 1] * 4))


def test_report_writes_tables_and_plots(tmp_path):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(60, 16)) + np.repeat(np.eye(3, 16) * 3, 20, axis=0), np.repeat([0, 1, 2], 20)
    res = F.evaluate_local(frame(x, y, names={0: "ok", 1: "ball", 2: "outer"}))
    written = report.write_report(res, tmp_path)
    assert {p.name for p in written} == {"results.md", "confusion.png", "per_class_f1.png"}
    text = (tmp_path / "results.md").read_text()
    assert "weighted (SIREN)" in text and "| ok |" in text
