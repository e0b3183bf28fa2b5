"""The evaluation metrics of the benchmark suites, in NumPy float64 (no scikit-learn at run time).

Why not call scikit-learn: the suites run the same code in-process and on Ray workers, and the
numbers must not depend on which scikit-learn a worker happens to have. Every function here
computes exactly what the scikit-learn function it names computes (the tests compare them):

* :func:`roc_auc`, :func:`partial_auc` — ``roc_auc_score(y, s)`` and ``roc_auc_score(y, s,
  max_fpr=...)``: the trapezoidal area under the ROC curve built from the distinct score
  thresholds (ties between a normal and an anomaly count one half); the partial AUC is the area
  up to ``max_fpr`` (the curve linearly interpolated at ``max_fpr``), McClish-standardised to
  ``0.5 * (1 + (A - min) / (max - min))`` with ``min = max_fpr**2 / 2`` and ``max = max_fpr``.
* :func:`auc_or_none`, :func:`harmonic_mean_or_none` — the same, with None for an undefined value
  (LiB-TRAD's tables: a split with one class has no AUC, a table with a missing AUC no summary).
* :func:`classification_scores` — accuracy, precision/recall/F1 (per class, macro and
  weighted, ``zero_division=0``) and the confusion matrix, over the labels that occur in the
  true or predicted labels (scikit-learn's default when ``labels`` is not given).

Both ROC functions need both classes; a caller with a one-class group applies its own
convention (SIREN's: the group scores 0.0).
"""

from __future__ import annotations

import numpy as np

from libtrad.core.errors import ParameterError

EPS = float(np.finfo(float).eps)


# ----------------------------------------------------------------------------- ROC
def _binary_inputs(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels as bool (1 = positive, i.e. anomaly) and scores as float64, checked."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape:
        raise ParameterError("scores", f"shape {s.shape}", f"must be 1-D and match labels of shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ParameterError("labels", sorted(set(np.unique(y).tolist()))[:5], "must be 0 (normal) or 1 (anomaly)")
    if not np.isfinite(s).all():
        raise ParameterError("scores", "non-finite", "every score must be finite")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise ParameterError("labels", f"{y.size} rows of one class", "ROC needs both normals (0) and anomalies (1)")
    return y, s


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, from (0, 0) (threshold +inf) up to (1, 1).

    A higher score means "more anomalous". Rows with equal scores move the curve together (a
    diagonal step), which is what makes the area count normal/anomaly ties as one half.
    """
    y, s = _binary_inputs(labels, scores)
    order = np.argsort(s, kind="mergesort")[::-1]
    return curve_of_sorted(y[order], s[order])


def curve_of_sorted(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`roc_curve` of rows already in descending score order (bool labels, float64 scores; both
    classes present): what a caller that drops one row at a time (a jackknife) needs without sorting again."""
    last_of_value = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y, dtype=np.float64)[last_of_value]
    fps = (last_of_value + 1) - tps
    tpr = np.r_[0.0, tps] / tps[-1]
    fpr = np.r_[0.0, fps] / fps[-1]
    return fpr, tpr, np.r_[np.inf, s[last_of_value]]


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (0 normal / 1 anomaly; higher score = more anomalous)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return _trapezoid(fpr, tpr)


def area(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The trapezoidal area under a ROC curve (:func:`roc_auc`'s step)."""
    return _trapezoid(fpr, tpr)


def auc_or_none(labels, scores) -> float | None:
    """:func:`roc_auc`, or None when ``labels`` hold one class only: an undefined cell of a LiB-TRAD table
    (a split without both classes), not an error."""
    if len(np.unique(np.asarray(labels))) < 2:
        return None
    return roc_auc(labels, scores)


def partial_auc(labels, scores, max_fpr: float = 0.1) -> float:
    """McClish-standardised partial AUC up to ``max_fpr``, as ``roc_auc_score(max_fpr=...)``.

    The standardisation maps a random scorer to 0.5 and a perfect one to 1, so pAUC values are
    on the AUC's scale (what DCASE reports). ``max_fpr=1`` is the plain AUC.
    """
    if not (isinstance(max_fpr, (int, float)) and 0 < max_fpr <= 1):
        raise ParameterError("max_fpr", max_fpr, "must be a number in (0, 1]")
    fpr, tpr, _ = roc_curve(labels, scores)
    return partial_area(fpr, tpr, max_fpr)


def partial_area(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """The McClish-standardised partial area of a ROC curve up to ``max_fpr`` (:func:`partial_auc`'s step)."""
    if max_fpr == 1:
        return _trapezoid(fpr, tpr)
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))
    tpr_at = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
    area = _trapezoid(np.r_[fpr[:stop], max_fpr], np.r_[tpr[:stop], tpr_at])
    min_area = 0.5 * max_fpr**2
    return float(0.5 * (1 + (area - min_area) / (max_fpr - min_area)))


# ----------------------------------------------------------------------------- means
def _values(values, name: str) -> np.ndarray:
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ParameterError(name, [], "needs at least one value")
    return v


def arithmetic_mean(values) -> float:
    """The plain mean in float64 (DCASE 2020's official score)."""
    v = _values(values, "values")
    return float(np.sum(v) / v.size)


def harmonic_mean(values) -> float:
    """Harmonic mean after clipping each value to machine epsilon (DCASE 2021+ official score).

    A 0.0 (SIREN's score for a one-class group) would make the harmonic mean 0 with a division
    by zero; clipping keeps it defined and still drags the mean down, as the organisers' code does.
    """
    v = np.maximum(_values(values, "values"), EPS)
    return float(v.size / np.sum(1.0 / v))


def harmonic_mean_or_none(values) -> float | None:
    """:func:`harmonic_mean`, or None when there is no value or any is None (a table with an undefined cell
    has no summary: LiB-TRAD's Table 3 harmonic mean)."""
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return harmonic_mean(values)


# ----------------------------------------------------------------------------- classification
def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    """Counts ``C[i, j]`` of rows with true label ``labels[i]`` predicted as ``labels[j]``."""
    t, p, labels = _class_inputs(y_true, y_pred, labels)
    index = {v: i for i, v in enumerate(labels.tolist())}
    ti = np.array([index.get(v, -1) for v in t.tolist()], dtype=np.int64)
    pi = np.array([index.get(v, -1) for v in p.tolist()], dtype=np.int64)
    keep = (ti >= 0) & (pi >= 0)
    n = len(labels)
    return np.bincount(ti[keep] * n + pi[keep], minlength=n * n).reshape(n, n)


def _class_inputs(y_true, y_pred, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or t.shape != p.shape:
        raise ParameterError("y_pred", f"shape {p.shape}", f"must be 1-D and match y_true of shape {t.shape}")
    if t.size == 0:
        raise ParameterError("y_true", [], "needs at least one row")
    labels = np.unique(np.concatenate([t, p])) if labels is None else np.asarray(labels)
    return t, p, labels


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class_scores(y_true, y_pred, labels=None) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per label (``precision_recall_fscore_support``, zero_division=0)."""
    cm = confusion_matrix(y_true, y_pred, labels).astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)  # = 2PR/(P+R); 0 when the class is never true nor predicted
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def averaged(per_class: dict[str, np.ndarray], average: str) -> dict[str, float]:
    """Macro (plain mean over labels) or weighted (mean weighted by support) precision/recall/F1."""
    if average == "macro":
        weights = np.ones(len(per_class["support"]), dtype=np.float64)
    elif average == "weighted":
        weights = per_class["support"].astype(np.float64)
    else:
        raise ParameterError("average", average, "must be 'macro' or 'weighted'")
    total = weights.sum()
    return {
        k: float(np.sum(per_class[k] * weights) / total) if total > 0 else 0.0 for k in ("precision", "recall", "f1")
    }


def accuracy(y_true, y_pred) -> float:
    t, p, _ = _class_inputs(y_true, y_pred, None)
    return float(np.mean(t == p))


def classification_scores(y_true, y_pred, labels=None) -> dict:
    """Accuracy, weighted and macro P/R/F1, per-class scores and the confusion matrix (float64)."""
    per_class = per_class_scores(y_true, y_pred, labels)
    weighted, macro = averaged(per_class, "weighted"), averaged(per_class, "macro")
    return {
        "accuracy": accuracy(y_true, y_pred),
        **{f"{k}_weighted": v for k, v in weighted.items()},
        **{f"{k}_macro": v for k, v in macro.items()},
        "per_class": per_class,
        "confusion": confusion_matrix(y_true, y_pred, labels),
    }
