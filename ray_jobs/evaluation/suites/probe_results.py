"""What the probes and the kNN report: a part's score, and the units' results combined into results.json.

One concern: numbers out. :func:`score` scores one evaluation part (accuracy, or ROC AUC and
pAUC up to FPR 0.1 for an anomaly task); :func:`combine_probe` turns every unit's result into
a trained-probe suite's ``results.json`` (each seed's value the mean over its folds, the result
the mean and sample standard deviation over seeds). Which rows a unit holds is
:mod:`libtrad.ray_jobs.evaluation.suites.probe_task`; training it is
:mod:`libtrad.ray_jobs.evaluation.suites.probes`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.evaluation.suites.probe_task import LOOCV_FOLDS, Classes, label_codes, probe_units, task_classes

MAX_FPR = 0.1


# ----------------------------------------------------------------------------- scoring
def score(scores: np.ndarray, truth: np.ndarray, classes: Classes, max_fpr: float = MAX_FPR) -> dict:
    """``{"metric": v}`` (+ ``"pauc"`` for an anomaly task) from per-class scores of each row.

    Accuracy: the class with the highest score (the first on a tie). AUC/pAUC: the anomaly
    class's column, which must be a probability or vote share (comparable across rows).
    """
    from libtrad.ray_jobs.evaluation import metrics

    if classes.metric == "accuracy":
        predicted = np.argmax(scores, axis=1)
        return {"metric": float(np.count_nonzero(predicted == truth)) / truth.size}
    positive = (truth == classes.positive).astype(np.int64)
    if positive.min() == positive.max():
        raise LibtradError(
            f"an evaluation part holds only {classes.names[int(truth[0])]!r} rows: AUC needs normal and anomalous rows"
        )
    s = scores[:, classes.positive].astype(np.float64)
    return {"metric": metrics.roc_auc(positive, s), "pauc": metrics.partial_auc(positive, s, max_fpr)}


# ----------------------------------------------------------------------------- combine
def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.sum(v) / v.size), (float(np.std(v, ddof=1)) if v.size > 1 else None)


def check_unit_results(keys: list[str], unit_results: dict) -> None:
    missing, extra = sorted(set(keys) - set(unit_results)), sorted(set(unit_results) - set(keys))
    if missing or extra:
        raise LibtradError(
            f"unit results do not match the plan (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(extra) or 'none'})"
        )


def protocol_note(protocol: str, split_seed: int) -> str | None:
    if protocol == "5fold-for-loocv":
        return (
            f"no fold column and one split: a leave-one-out dataset, scored with {LOOCV_FOLDS} stratified folds "
            f"(seed {split_seed}) instead of one probe per left-out row"
        )
    return None


def combine_probe(suite: str, unit_results: dict, df: pd.DataFrame, options) -> dict:
    """The results.json dict of a trained-probe suite (module docstrings of the suites give its shape)."""
    units, plan = probe_units(df, options, suite)
    check_unit_results([u.key for u in units], unit_results)
    codes, labels = label_codes(df)
    classes = task_classes(df, labels)
    per_seed = []
    for seed in range(options.seeds):
        folds = [_fold_record(unit_results[u.key]) for u in sorted(units, key=lambda u: u.key) if u.seed == seed]
        entry = {"seed": seed, "folds": folds, "test_metric": mean_std([f["test_metric"] for f in folds])[0]}
        if classes.metric == "auc":
            entry["test_pauc"] = mean_std([f["test_pauc"] for f in folds])[0]
        per_seed.append(entry)
    mean, std = mean_std([s["test_metric"] for s in per_seed])
    results = {
        "suite": suite,
        "protocol": plan.protocol,
        "task": options.task,
        "metric": classes.metric,
        "seeds": list(range(options.seeds)),
        "per_seed": per_seed,
        "mean": mean,
        "std": std,
        "splits_used": plan.splits_used,
        "test_size": int(sum(f.test.size for f in plan.folds)),
        "classes": list(classes.names),
        "options": options_record(options),
        "note": protocol_note(plan.protocol, options.split_seed),
    }
    if classes.metric == "auc":
        p_mean, p_std = mean_std([s["test_pauc"] for s in per_seed])
        results["pauc"] = {"mean": p_mean, "std": p_std, "max_fpr": MAX_FPR}
    return results


def _fold_record(result: dict) -> dict:
    keys = ("fold", "best_epoch", "val_metric", "test_metric", "test_pauc", "sizes", "val_curve", "train_loss")
    return {k: result[k] for k in keys if k in result}


def options_record(options) -> dict:
    """The options that shape the numbers; ``device`` is recorded apart (results.json's ``"device"``)."""
    from dataclasses import asdict

    return {k: v for k, v in sorted(asdict(options).items()) if k != "device"}
