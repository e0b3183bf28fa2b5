"""The suites' metric functions equal scikit-learn's (ROC AUC, McClish pAUC, P/R/F1, confusion) and the DCASE means."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.evaluation import metrics


def _binary_cases(seed: int = 0, count: int = 300):
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(2, 80))
        labels = rng.integers(0, 2, n)
        labels[:2] = [0, 1]
        scores = rng.integers(0, 4, n).astype(float) if i % 2 else rng.normal(size=n)  # odd cases: heavy ties
        yield labels, scores


def test_roc_auc_and_partial_auc_equal_sklearn():
    for labels, scores in _binary_cases():
        assert metrics.roc_auc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-14)
        for max_fpr in (0.1, 0.25, 0.5, 1.0):
            expected = skm.roc_auc_score(labels, scores, max_fpr=max_fpr)
            assert metrics.partial_auc(labels, scores, max_fpr) == pytest.approx(expected, abs=1e-14)


def test_hand_checked_auc_and_pauc():
    # normals 0.1, 0.2, 0.4; anomalies 0.5 (above all), 0.3 (above two), 0.15 (above one), 0.05
    labels = [0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.2, 0.4, 0.5, 0.3, 0.15, 0.05]
    assert metrics.roc_auc(labels, scores) == pytest.approx((3 + 2 + 1 + 0) / 12)
    # up to FPR 0.1 only the anomaly above every normal counts: TPR 1/4 over [0, 0.1]
    area, low, high = 0.1 * 0.25, 0.5 * 0.1**2, 0.1
    assert metrics.partial_auc(labels, scores, 0.1) == pytest.approx(0.5 * (1 + (area - low) / (high - low)))
    assert metrics.roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts one half


def test_roc_refuses_one_class_and_bad_labels():
    with pytest.raises(LibtradError, match="both normals"):
        metrics.roc_auc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(LibtradError, match="labels"):
        metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(LibtradError, match="max_fpr"):
        metrics.partial_auc([0, 1], [0.1, 0.2], max_fpr=0)


def test_harmonic_mean_clips_to_machine_epsilon_and_arithmetic_mean():
    eps = np.finfo(float).eps
    assert metrics.harmonic_mean([0.5, 1.0]) == pytest.approx(2 / (2 + 1))
    assert metrics.harmonic_mean([0.0, 1.0]) == pytest.approx(2 / (1 / eps + 1))  # a 0.0 group: tiny, not an error
    assert metrics.harmonic_mean([-1.0, 1.0]) == metrics.harmonic_mean([0.0, 1.0])
    assert metrics.arithmetic_mean([0.0, 0.5, 1.0]) == 0.5
    with pytest.raises(LibtradError, match="at least one"):
        metrics.harmonic_mean([])


def test_classification_scores_equal_sklearn():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, c = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        t, p = rng.integers(0, c, n), rng.integers(0, c, n)
        got = metrics.classification_scores(t, p)
        assert got["accuracy"] == skm.accuracy_score(t, p)
        for average in ("weighted", "macro"):
            want = skm.precision_recall_fscore_support(t, p, average=average, zero_division=0)[:3]
            have = [got[f"{k}_{average}"] for k in ("precision", "recall", "f1")]
            np.testing.assert_allclose(have, want, rtol=0, atol=1e-14)
        prec, rec, f1, support = skm.precision_recall_fscore_support(t, p, zero_division=0)
        per = got["per_class"]
        np.testing.assert_allclose(per["precision"], prec, atol=1e-14)
        np.testing.assert_allclose(per["recall"], rec, atol=1e-14)
        np.testing.assert_allclose(per["f1"], f1, atol=1e-14)
        np.testing.assert_array_equal(per["support"], support)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns on single-label inputs
            np.testing.assert_array_equal(got["confusion"], skm.confusion_matrix(t, p))


def test_classification_with_given_labels_keeps_absent_classes():
    got = metrics.classification_scores([0, 0, 2], [0, 2, 2], labels=[0, 1, 2])
    np.testing.assert_array_equal(got["confusion"], [[1, 0, 1], [0, 0, 0], [0, 0, 1]])
    want = skm.f1_score([0, 0, 2], [0, 2, 2], labels=[0, 1, 2], average="macro", zero_division=0)
    assert got["f1_macro"] == pytest.approx(want)
