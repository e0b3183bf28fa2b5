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

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix
from libtrad.ray_jobs.evaluation import report
from libtrad.ray_jobs.evaluation.suites import fault_neighbours as N
from libtrad.ray_jobs.evaluation.suites import siren_fault as F


def frame(x, y, fold=None, names=None) -> pd.DataFrame:
    """Rows whose ``file`` order is the row order (predictions come back sorted by file)."""
    data = {
        "file": [f"clip{i:05d}.mat" for i in range(len(x))],
        "label": np.asarray(y, dtype=np.int64),
        "embedding": list(np.asarray(x, dtype=np.float32)),
    }
    if fold is not None:
        data["fold"] = np.asarray(fold, dtype=np.int32)
    if names is not None:
        data["label_name"] = [names[v] for v in y]
    return pd.DataFrame(data)


def predicted(df, options=None) -> np.ndarray:
    """Label predictions per row (the rows are already in file order)."""
    res = F.SUITE.evaluate_local(df, options)
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
    unit = F.SUITE.plan(df)[0]
    wide = F.SUITE.run_unit(
        unit, embedding_matrix(df).astype(np.float64), F.SUITE.columns_for(df)
    )  # no screen for float64
    assert wide == F.SUITE.run_unit(unit, embedding_matrix(df), F.SUITE.columns_for(df))


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
    nearest = N.lowest_index_k(d, 5)
    naive = N.vote(np.searchsorted(np.unique(y), y)[nearest], 4)
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
    res = F.SUITE.evaluate_local(df, F.FaultOptions(sklearn_threads=threads))
    assert res["protocol"] == "kfold" and [u.key for u in F.SUITE.plan(df)] == [f"fold/{i}" for i in range(5)]
    np.testing.assert_array_equal([int(p) for p in res["predictions"]], want)
    # an unbalanced split (a large fold predicted from a small one): sklearn then splits the queries, not the rows
    fold = (np.arange(500) % 10 == 0).astype(int)
    want = sklearn_predictions(x, y, PredefinedSplit(fold), threads)
    np.testing.assert_array_equal(predicted(frame(x, y, fold), F.FaultOptions(sklearn_threads=threads)), want)
    loocv = F.SUITE.evaluate_local(df, F.FaultOptions(protocol="loocv"))
    assert loocv["protocol"] == "loocv"


def test_scores_names_and_shape():
    # two tight clusters plus one stray: every row but the stray is predicted right
    x = np.array(
        [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
            [0, 2],
            [0, 0.5],
            [10, 10],
            [10, 11],
            [11, 10],
            [11, 11],
            [10, 12],
            [0.5, 0.5],
        ],
        dtype=float,
    )
    x = np.hstack([x, np.zeros((12, 14))])
    y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]  # the last row (label 1) sits in cluster 0
    res = F.SUITE.evaluate_local(frame(x, y, names={0: "normal", 1: "inner_race"}))
    assert set(res) == {
        "suite",
        "protocol",
        "classes",
        "accuracy",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "confusion",
        "predictions",
        "per_class",
    }
    assert res["suite"] == "siren-fault" and res["protocol"] == "loocv"
    assert res["classes"] == ["normal", "inner_race"]
    assert res["confusion"] == [[6, 0], [1, 5]]
    assert res["accuracy"] == pytest.approx(11 / 12)
    assert res["per_class"]["normal"] == {
        "precision": pytest.approx(6 / 7),
        "recall": 1.0,
        "f1": pytest.approx(12 / 13),
        "support": 6,
    }
    assert res["precision_macro"] == pytest.approx((6 / 7 + 1) / 2)
    assert res["predictions"][-1] == "normal"
    json.dumps(res)
    named = F.SUITE.evaluate_local(frame(x, y), F.FaultOptions(classes=("a", "b")))
    assert named["classes"] == ["a", "b"]
    assert F.SUITE.evaluate_local(frame(x, y))["classes"] == ["0", "1"]


def test_predictions_follow_file_order():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 16)), rng.integers(0, 3, 40)
    df = frame(x, y)
    want = F.SUITE.evaluate_local(df)["predictions"]
    shuffled = df.iloc[rng.permutation(40)].reset_index(drop=True)
    assert F.SUITE.evaluate_local(shuffled)["predictions"] == want  # random data: no ties, so row order is irrelevant


def siren_compat_loocv(x, y, distance, k=5, classes=3):
    """SIREN-compat leave-one-out by hand: 8 channels of 3 values, the first 7 used, each channel's
    distances z-scored, averaged, k nearest (stable order), majority vote."""
    n = len(x)
    xc = x.astype(np.float32).astype(np.float64).reshape(n, 8, 3)
    want = []
    for i in range(n):
        others = np.delete(np.arange(n), i)
        z = []
        for ch in range(7):
            d = distance(xc[others, ch], xc[i, ch])
            z.append((d - d.mean()) / d.std())
        nearest = others[np.argsort(np.mean(z, axis=0), kind="stable")[:k]]
        want.append(int(np.argmax(np.bincount(y[nearest], minlength=classes))))
    return want


def test_siren_compat_zscored_channel_average():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 24)), rng.integers(0, 3, 30)
    got = predicted(frame(x, y), F.FaultOptions(siren_compat=True))
    np.testing.assert_array_equal(got, siren_compat_loocv(x, y, lambda a, b: np.linalg.norm(a - b, axis=1)))
    with pytest.raises(LibtradError, match="divisible by 8"):
        F.SUITE.evaluate_local(frame(rng.normal(size=(10, 12)), [0, 1] * 5), F.FaultOptions(siren_compat=True))


def test_unit_order_does_not_change_the_results():
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 2, (90, 16)), rng.integers(0, 3, 90)
    df = frame(x, y)
    options = F.FaultOptions(block_rows=20)
    units = F.SUITE.plan(df, options)
    assert len(units) == 5
    emb, cols = embedding_matrix(df), F.SUITE.columns_for(df)
    results = {u.key: F.SUITE.run_unit(u, emb, cols, options) for u in reversed(units)}
    assert json.dumps(F.SUITE.combine(results, df, options)) == json.dumps(F.SUITE.evaluate_local(df, options))


def test_input_errors():
    x = np.zeros((8, 16))
    with pytest.raises(LibtradError, match="appears 2 times"):
        F.SUITE.plan(pd.concat([frame(x, [0] * 8)] * 2, ignore_index=True))
    with pytest.raises(LibtradError, match="needs a 'fold' column"):
        F.SUITE.plan(frame(x, [0] * 8), F.FaultOptions(protocol="kfold"))
    with pytest.raises(LibtradError, match="one fold only"):
        F.SUITE.plan(frame(x, [0] * 8, fold=[1] * 8))
    with pytest.raises(LibtradError, match=r"^k=5: LOOCV over 5 rows has 4 neighbours per row: k must be at most 4"):
        F.SUITE.plan(frame(x[:5], [0] * 5))
    with pytest.raises(LibtradError, match="'label': -1"):
        F.SUITE.plan(frame(x, [0] * 7 + [-1]))
    with pytest.raises(LibtradError, match="names 1 classes but the rows have label 1"):
        F.SUITE.evaluate_local(frame(x, [0, 1] * 4), F.FaultOptions(classes=("a",)))
    with pytest.raises(LibtradError, match="protocol='x'"):
        F.FaultOptions(protocol="x")
    with pytest.raises(LibtradError, match="missing: loocv/0000000"):
        F.SUITE.combine({}, frame(x, [0, 1] * 4))


def test_report_writes_tables_and_plots(tmp_path):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(60, 16)) + np.repeat(np.eye(3, 16) * 3, 20, axis=0), np.repeat([0, 1, 2], 20)
    res = F.SUITE.evaluate_local(frame(x, y, names={0: "ok", 1: "ball", 2: "outer"}))
    written = report.write_report(res, tmp_path)
    assert {p.name for p in written} == {"results.md", "confusion.png", "per_class_f1.png"}
    text = (tmp_path / "results.md").read_text()
    assert "weighted (SIREN)" in text and "| ok |" in text


# ----------------------------------------------------------------------------- options: k, metric, folds, external
def numpy_knn(x, y, queries, learn_from, k, metric="euclidean"):
    """Majority vote (ties: smallest label) of the k nearest rows in plain NumPy float64; ``learn_from(i)``
    gives the rows query ``i`` is predicted from."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    out = []
    for i in queries:
        rows = learn_from(i)
        if metric == "cosine":
            d = 1.0 - (x[rows] / np.sqrt((x[rows] ** 2).sum(1))[:, None]) @ (x[i] / np.sqrt(x[i] @ x[i]))
        else:
            d = np.sqrt(((x[rows] - x[i]) ** 2).sum(1))
        nearest = rows[np.argsort(d, kind="stable")[:k]]
        out.append(int(np.argmax(np.bincount(y[nearest], minlength=y.max() + 1))))
    return np.array(out)


def clusters(n=60, dim=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return rng.normal(size=(n, dim)) + 0.8 * np.eye(classes, dim)[y], y


@pytest.mark.parametrize("k, metric", [(3, "euclidean"), (5, "cosine"), (1, "cosine"), (9, "euclidean")])
def test_loocv_k_and_metric_equal_numpy(k, metric):
    x, y = clusters()
    want = numpy_knn(x, y, range(60), lambda i: np.delete(np.arange(60), i), k, metric)
    res = F.SUITE.evaluate_local(frame(x, y), F.FaultOptions(k=k, metric=metric))
    np.testing.assert_array_equal([int(p) for p in res["predictions"]], want)
    assert res["accuracy"] == pytest.approx(np.mean(want == y), abs=1e-12)


def test_cosine_with_siren_compat_zscores_cosine_distances():
    x, y = clusters(n=30, dim=24, seed=3)
    got = predicted(frame(x, y), F.FaultOptions(siren_compat=True, metric="cosine"))
    cosine = lambda a, b: 1 - (a @ b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b))  # noqa: E731
    np.testing.assert_array_equal(got, siren_compat_loocv(x, y, cosine))


def test_stratified_folds_equal_numpy_and_sklearn():
    from sklearn.model_selection import StratifiedKFold

    x, y = clusters(seed=1)
    options = F.FaultOptions(folds=4, split_seed=3)
    res = F.SUITE.evaluate_local(frame(x, y), options)
    assert res["protocol"] == "kfold" and len(F.SUITE.plan(frame(x, y), options)) == 4
    fold = np.empty(60, dtype=int)
    for i, (_, test) in enumerate(StratifiedKFold(4, shuffle=True, random_state=3).split(x, y)):
        fold[test] = i
    want = numpy_knn(x, y, range(60), lambda i: np.flatnonzero(fold != fold[i]), 5)
    np.testing.assert_array_equal([int(p) for p in res["predictions"]], want)
    split = StratifiedKFold(4, shuffle=True, random_state=3)
    np.testing.assert_array_equal(want, sklearn_predictions(x, y, split, threads=1))
    # the folds follow the file order, not the order the rows were read in
    shuffled = frame(x, y).iloc[np.random.default_rng(0).permutation(60)].reset_index(drop=True)
    assert F.SUITE.evaluate_local(shuffled, options)["predictions"] == res["predictions"]
    other_seed = F.SUITE.evaluate_local(frame(x, y), F.FaultOptions(folds=4, split_seed=4))
    assert other_seed["predictions"] != res["predictions"]
    # --folds takes precedence over a fold column (it is documented, and recorded)
    with_column = F.SUITE.evaluate_local(frame(x, y, fold=np.arange(60) % 2), options)
    assert with_column["predictions"] == res["predictions"]
    assert options.record()["folds"] == 4 and options.record()["split_seed"] == 3


def external_frame(seed=2):
    """40 clean train rows, 30 noisy test rows in three recording conditions."""
    x, y = clusters(n=70, seed=seed)
    df = frame(x, y)
    df["subset"] = ["train"] * 40 + ["test"] * 30
    df["condition"] = ["pure"] * 40 + ["talking", "atmo_low", "stresstest"] * 10
    return df, x, y


def test_external_trains_on_train_tests_on_test_per_condition():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    df, x, y = external_frame()
    res = F.SUITE.evaluate_local(df, F.FaultOptions(protocol="external", k=3))
    want = numpy_knn(x, y, range(40, 70), lambda i: np.arange(40), 3)
    assert res["protocol"] == "external" and res["counts"] == {"train": 40, "test": 30}
    np.testing.assert_array_equal([int(p) for p in res["predictions"]], want)  # test rows only, in file order
    truth = y[40:]
    assert abs(res["accuracy"] - accuracy_score(truth, want)) <= 1e-12
    p, r, f, _ = precision_recall_fscore_support(truth, want, average="weighted", zero_division=0)
    assert (
        max(abs(res["precision_weighted"] - p), abs(res["recall_weighted"] - r), abs(res["f1_weighted"] - f)) <= 1e-12
    )
    conditions = df["condition"].to_numpy()[40:]
    assert sorted(res["per_condition"]) == ["atmo_low", "stresstest", "talking"]
    for name, got in res["per_condition"].items():
        m = conditions == name
        p, r, f, _ = precision_recall_fscore_support(truth[m], want[m], average="weighted", zero_division=0)
        pm, rm, fm, _ = precision_recall_fscore_support(truth[m], want[m], average="macro", zero_division=0)
        assert got["support"] == 10
        np.testing.assert_allclose(
            [
                got["accuracy"],
                got["precision_weighted"],
                got["recall_weighted"],
                got["f1_weighted"],
                got["precision_macro"],
                got["recall_macro"],
                got["f1_macro"],
            ],
            [accuracy_score(truth[m], want[m]), p, r, f, pm, rm, fm],
            rtol=0,
            atol=1e-12,
        )
    blocked = F.SUITE.evaluate_local(df, F.FaultOptions(protocol="external", k=3, block_rows=7))
    assert blocked == res  # blocks of test rows are invisible


def test_option_errors_name_the_option():
    df, x, y = external_frame()
    with pytest.raises(LibtradError, match=r"protocol='external': needs a 'subset' column"):
        F.SUITE.plan(frame(x, y), F.FaultOptions(protocol="external"))
    odd = df.assign(subset=["train"] * 40 + ["val"] * 30)
    with pytest.raises(LibtradError, match=r"column 'subset': 'val'"):
        F.SUITE.plan(odd, F.FaultOptions(protocol="external"))
    with pytest.raises(LibtradError, match=r"k=40: the external protocol learns from 40 .train. rows; k must be below"):
        F.SUITE.plan(df, F.FaultOptions(protocol="external", k=40))
    counts = np.bincount(y)
    with pytest.raises(LibtradError, match=rf"folds={counts.min() + 1}: exceeds the rows of the smallest class"):
        F.SUITE.plan(frame(x, y), F.FaultOptions(folds=int(counts.min()) + 1))
    with pytest.raises(LibtradError, match=r"k=35: fold 0 learns from 35 rows; k must be below that"):
        F.SUITE.plan(frame(x, y, fold=np.arange(70) % 2), F.FaultOptions(k=35))
    with pytest.raises(LibtradError, match="folds=3: is read only by protocol kfold"):
        F.FaultOptions(protocol="loocv", folds=3)
    with pytest.raises(LibtradError, match="folds=1: must be a whole number >= 2"):
        F.FaultOptions(folds=1)
    with pytest.raises(LibtradError, match="metric='manhattan': must be one of euclidean, cosine"):
        F.FaultOptions(metric="manhattan")
    with pytest.raises(LibtradError, match="needs a 'fold' column or --folds N"):
        F.SUITE.plan(frame(x, y), F.FaultOptions(protocol="kfold"))


def test_cli_external_report_and_one_line_refusals(tmp_path, cli, rel):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df, x, y = external_frame()
    folder = tmp_path / "emb"
    (folder / "data").mkdir(parents=True)
    table = pa.Table.from_pandas(df.drop(columns=["embedding"]), preserve_index=False)
    table = table.append_column("embedding", pa.array(list(x.astype(np.float32)), type=pa.list_(pa.float32())))
    pq.write_table(table, folder / "data" / "part-0.parquet")
    done = cli(
        "evaluate",
        "siren-fault",
        "--embeddings",
        folder,
        "--output",
        tmp_path / "out",
        "--local",
        "--protocol",
        "external",
        "--k",
        "3",
        "--metric",
        "cosine",
    )
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    want = numpy_knn(x, y, range(40, 70), lambda i: np.arange(40), 3, "cosine")
    np.testing.assert_array_equal([int(p) for p in results["predictions"]], want)
    assert results["options"] == {
        "protocol": "external",
        "k": 3,
        "metric": "cosine",
        "siren_compat": False,
        "sklearn_threads": 1,
        "block_rows": None,
    }
    text = (tmp_path / "out" / "results.md").read_text()
    assert "## Per recording condition (weighted)" in text and "| stresstest |" in text
    assert (tmp_path / "out" / "per_condition.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = rel.snapshot(folder)
    for args, named in [
        (["--protocol", "holdout"], "'--protocol': 'holdout' is not one of"),
        (["--metric", "l1"], "'--metric': 'l1' is not one of 'euclidean', 'cosine'"),
        (["--folds", "1"], "--folds"),
        (["--folds", "99"], "--folds 99: exceeds the rows of the smallest class"),
        (["--protocol", "external", "--k", "40"], "--k 40"),
        (["--protocol", "loocv", "--k", "70"], "--k 70: LOOCV over 70 rows has 69 neighbours per row"),
        (["--protocol", "loocv", "--folds", "3"], "--folds 3: is read only by protocol kfold"),
        (["--split-seed", "7"], "--split-seed 7: is read only with folds"),
    ]:
        rel.assert_error_line(
            cli("evaluate", "siren-fault", "--embeddings", folder, "--output", tmp_path / "bad", "--local", *args),
            named,
        )
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    pq.write_table(table.drop_columns(["subset"]), plain / "data" / "part-0.parquet")
    rel.assert_error_line(
        cli(
            "evaluate",
            "siren-fault",
            "--embeddings",
            plain,
            "--output",
            tmp_path / "bad",
            "--local",
            "--protocol",
            "external",
        ),
        "--protocol 'external': needs a 'subset' column",
    )
    assert rel.snapshot(folder) == before and not (tmp_path / "bad").exists()
