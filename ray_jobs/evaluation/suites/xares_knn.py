"""X-ARES's unparameterised probe: a weighted kNN on L2-normalised clip embeddings.

Prediction of a test row: its k = 10 nearest training rows by cosine similarity (the dot product
of L2-normalised embeddings, float64; an all-zero embedding has similarity 0 to everything; equal
similarities at the k-th place go to the lower row), each voting for its class with the weight
``softmax(similarity / T)`` over the k neighbours, T = 0.07. The class with the largest summed
weight wins (equal sums: the lower class). An anomaly task (classes normal/anomaly or
normal/abnormal) is scored by AUC (and pAUC up to FPR 0.1) of the anomaly class's weight share;
every other task by accuracy.

Rows: the training rows are the bank, the test rows are predicted — the same parts as the
trained probes (:mod:`libtrad.ray_jobs.evaluation.suites.probe_task`), without a validation part, since
nothing is selected: ``splits`` (a validation split, if any, is not used), ``kfold`` (one unit
per fold, the fold predicted from the others; the value is the mean over folds, as X-ARES
averages them) and ``5fold-for-loocv`` (the probes' 5 stratified folds, so the suites score the
same partitions). kNN has no seed: one run is the result.

Device (``device``: auto | cpu | cuda | cuda:N, :mod:`libtrad.core.devices`; not a comparability
option): checked where the unit runs (a ``cuda`` the node lacks is an error), but the vote runs
on the CPU whatever it says: the softmax weights and the lower-row rule at equal k-th
similarities use the float64 values themselves, which a GPU product changes in the last bits
(a GPU path with a certainty check, as siren-dcase has, is not written yet).

Results (``results.json``)::

    {"suite": "xares-knn", "protocol": "splits" | "kfold" | "5fold-for-loocv", "task": name,
     "metric": "accuracy" | "auc", "value": v, ("pauc": v,)
     "folds": [{"fold": name, "test_metric": v, ("test_pauc": v,) "bank": n, "test_size": n}],
     "test_size": n, "classes": [name, ...], "splits_used": {...},
     "options": {"k": 10, "temperature": 0.07, "split_seed": 0, "task": name, "device": "auto"}, "note": text | null}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.devices import parse_device
from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.evaluation.probe_report import write_knn_report
from libtrad.ray_jobs.evaluation.suites import probe_results, probe_task, probes
from libtrad.ray_jobs.evaluation.suites.base import Suite, check_unit_results
from libtrad.ray_jobs.evaluation.suites.similarity import screen_device, unit_rows

NAME = "xares-knn"
REQUIRED_COLUMNS = probe_task.BASE_COLUMNS
OPTIONAL_COLUMNS = probe_task.OPTIONAL_COLUMNS
BLOCK_BYTES = 64 * 2**20  # one float64 similarity block of queries × bank


@dataclass(frozen=True)
class XaresKnnOptions:
    """k neighbours, softmax temperature; ``split_seed`` fixes the folds of a LOOCV dataset."""

    k: int = 10
    temperature: float = 0.07
    split_seed: int = 0
    task: str | None = None
    device: str = "auto"

    def __post_init__(self):
        parse_device(self.device)
        probes.check_int("k", self.k, 1, 1_000_000)
        probes.check_positive("temperature", self.temperature)
        probes.check_seed("split_seed", self.split_seed)
        probes.check_task(self.task)


@dataclass(frozen=True)
class Unit:
    key: str  # "fold<i>"
    fold: str
    train: np.ndarray
    test: np.ndarray


def _layout(df: pd.DataFrame, options: XaresKnnOptions) -> probe_task.Layout:
    codes, _ = probe_task.label_codes(df)
    return probe_task.layout(df, codes, suite=NAME, val_fraction=None, split_seed=options.split_seed)


# ----------------------------------------------------------------------------- voting
def nearest(similarity: np.ndarray, k: int) -> np.ndarray:
    """(rows, k) columns of the k largest similarities, equal values by the lower column first."""
    neg = -similarity
    kth = np.partition(neg, k - 1, axis=1)[:, k - 1 : k]
    below, ties = neg < kth, neg == kth
    take = below | (ties & (np.cumsum(ties, axis=1) <= k - below.sum(axis=1, keepdims=True)))
    return np.nonzero(take)[1].reshape(similarity.shape[0], k)


def vote(similarity: np.ndarray, bank_codes: np.ndarray, n_classes: int, k: int, temperature: float) -> np.ndarray:
    """(rows, classes) summed softmax(similarity / T) weights of each row's k nearest bank rows."""
    columns = nearest(similarity, k)
    top = np.take_along_axis(similarity, columns, axis=1) / temperature
    weights = np.exp(top - top.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    votes = np.zeros((similarity.shape[0], n_classes))
    np.add.at(votes, (np.repeat(np.arange(similarity.shape[0]), k), bank_codes[columns].ravel()), weights.ravel())
    return votes


def _similarity(queries: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Cosine similarities in float64 on one thread (the same bits in-process and on a Ray worker)."""
    import torch

    with probes.deterministic_torch(0, strict=False):
        return (torch.from_numpy(queries) @ torch.from_numpy(bank).T).numpy()


# ----------------------------------------------------------------------------- combine


# ----------------------------------------------------------------------------- the suite
class XaresKnnSuite(Suite):
    """X-ARES's weighted kNN (the module docstring)."""

    name = NAME
    options = XaresKnnOptions
    required_columns = REQUIRED_COLUMNS
    optional_columns = OPTIONAL_COLUMNS

    def columns_for(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        return probe_task.columns_for(df)

    def plan(self, df: pd.DataFrame, options: XaresKnnOptions | None = None) -> list[Unit]:
        """One unit per fold (one for a task with splits); a bank smaller than k is refused."""
        options = self.defaults(options)
        probe_task.columns_for(df)
        units = []
        for i, fold in enumerate(_layout(df, options).folds):
            if fold.train.size < options.k:
                raise LibtradError(f"fold {fold.name}: {fold.train.size} training rows, fewer than k={options.k}")
            units.append(Unit(f"fold{i:03d}", fold.name, fold.train, fold.test))
        return units

    def run_unit(
        self, unit: Unit, embeddings: np.ndarray, columns: dict, options: XaresKnnOptions | None = None
    ) -> dict:
        """Vote for every test row of one fold and score the fold."""
        options = self.defaults(options)

        screen_device(options.device)  # a cuda this node lacks is refused here, as by the other suites
        classes = probe_task.classes_from_columns(columns)
        codes = columns["label"]
        bank = unit_rows(embeddings[unit.train])
        step = max(1, BLOCK_BYTES // (8 * bank.shape[0]))
        votes = np.concatenate(
            [
                vote(
                    _similarity(unit_rows(embeddings[unit.test[s : s + step]]), bank),
                    codes[unit.train],
                    len(classes.names),
                    options.k,
                    options.temperature,
                )
                for s in range(0, unit.test.size, step)
            ]
        )
        scored = probe_results.score(votes, codes[unit.test], classes)
        result = {
            "fold": unit.fold,
            "test_metric": scored["metric"],
            "bank": int(unit.train.size),
            "test_size": int(unit.test.size),
        }
        if "pauc" in scored:
            result["test_pauc"] = scored["pauc"]
        return result

    def combine(self, unit_results: dict[str, dict], df: pd.DataFrame, options: XaresKnnOptions | None = None) -> dict:
        """The results.json dict (module docstring), folds in plan order."""
        options = self.defaults(options)
        units = self.plan(df, options)
        check_unit_results([u.key for u in units], unit_results)
        plan_layout = _layout(df, options)
        classes = probe_task.classes_from_columns(self.columns_for(df))
        folds = [unit_results[u.key] for u in sorted(units, key=lambda u: u.key)]
        used = {**plan_layout.splits_used, "validation": "none (kNN selects nothing)"}
        results = {
            "suite": NAME,
            "protocol": plan_layout.protocol,
            "task": options.task,
            "metric": classes.metric,
            "value": probe_results.mean_std([f["test_metric"] for f in folds])[0],
            "folds": folds,
            "test_size": int(sum(f["test_size"] for f in folds)),
            "classes": list(classes.names),
            "splits_used": used,
            "options": probe_results.options_record(options),
            "note": probe_results.protocol_note(plan_layout.protocol, options.split_seed),
        }
        if classes.metric == "auc":
            results["pauc"] = probe_results.mean_std([f["test_pauc"] for f in folds])[0]
        return results

    def write_report(self, results: dict, folder: Path, df=None, options=None) -> list[Path]:
        """results.md and the per-fold figure (:func:`libtrad.ray_jobs.evaluation.probe_report.write_knn_report`)."""
        return write_knn_report(results, folder)


SUITE = XaresKnnSuite()
