"""The LiB-TRAD paper's metrics: ROC AUC per experiment and their harmonic mean (Table 3).

Pure functions of labels and scores (numpy in, floats out; no model, no files), so the same
numbers come out in-process and on Ray. "Undefined" is ``None`` rather than an error: a split
with one class only has no AUC, and a table with a missing AUC has no harmonic mean.
"""

from __future__ import annotations

import statistics

import numpy as np


def auc_or_none(labels, scores) -> float | None:
    """ROC AUC of ``scores`` (higher = abnormal) against 0/1 ``labels``; None when one class only."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, np.asarray(scores)))


def harmonic_mean_auc(aucs: list[float | None]) -> float | None:
    """Harmonic mean of the per-experiment AUCs (the paper's summary); None if any is undefined."""
    if not aucs or any(a is None for a in aucs):
        return None
    return statistics.harmonic_mean(aucs)


__all__ = ["auc_or_none", "harmonic_mean_auc"]
