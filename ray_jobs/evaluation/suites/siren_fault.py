"""SIREN's fault-classification benchmark on precomputed embeddings: KNN (k = 5, Euclidean) by LOOCV, k-fold or an
external test.

Protocol (options: :class:`FaultOptions`, which also names SIREN's spelling of each):

* ``loocv`` (when the rows have no ``fold`` column, or ``protocol="loocv"``): every row is
  predicted from all the others. ``kfold`` (``fold`` column; ``protocol="kfold"``): the rows of
  each fold are predicted from the rows of the other folds (scikit-learn's ``PredefinedSplit``);
  with ``folds=N`` the folds are scikit-learn's ``StratifiedKFold(N, shuffle=True,
  random_state=split_seed)`` over the rows in ``file`` order instead (any dataset; a ``fold``
  column is then not read). ``external`` (a ``subset`` column, IIEE's): the ``test`` rows are
  predicted from the ``train`` rows (SIREN's noise-robust test: clean cuts in, noisy cuts out)
  and scored; with a ``condition`` column also per recording condition (``per_condition``).
* Refused in one line: external without a ``subset`` column (or with a value other than
  train/test), kfold without a ``fold`` column or ``folds``, ``folds`` above the smallest class's
  rows, ``k`` at or above the rows a fold (or the external test) learns from — every query there
  shares those rows, so k = all of them is one vote for all — and, for LOOCV, ``k`` above the n - 1
  rows each query learns from (each query's set differs, so k = n - 1 still varies).
* Prediction: majority vote of the k nearest rows (uniform weights), a tie between classes
  going to the smallest label, exactly what ``cross_val_predict(KNeighborsClassifier(5), X, y,
  cv=LeaveOneOut())`` (or the fold split) predicts. It is computed without n fits: one blocked
  distance matrix (queries × all rows, blocks bounded to about 64 MiB), searched by
  :mod:`libtrad.ray_jobs.evaluation.suites.fault_neighbours` (for float32 embeddings a float32
  screen with an exact float64 re-check, so the answer is the float64 one at about half the cost).
* Equal distances at the k-th neighbour: scikit-learn's brute-force search keeps neighbours in a
  fixed-size max-heap fed in row order, over chunks of 256 rows split between its OpenMP
  threads when it parallelises over the fitted rows (always so for LOOCV's one-row queries);
  which of several equally distant rows survives depends on that heap and on the thread count.
  Rows with such a tie replay that heap exactly (``sklearn_threads``: the thread count to
  replay, default 1 = a single-threaded scikit-learn); rows without one need no replay. The
  ranking value is scikit-learn's ``|x|² - 2 x·y + |y|²`` in float64, so integer-valued
  embeddings tie exactly as they do there. (This is scikit-learn's brute-force search, which its
  ``algorithm="auto"`` uses for more than 15 features, i.e. for any real embedding; its k-d tree,
  used for 15 features or fewer, may pick other rows among equally distant ones.)
* Scores: accuracy; precision, recall and F1 weighted by support and macro (``zero_division=0``);
  per-class scores and the confusion matrix (rows true, columns predicted), over the classes
  that occur (external: among the test rows or their predictions). SIREN reports the **weighted**
  scores; the macro ones are here for imbalanced sets.
* ``metric="cosine"``: ``1 - cosine similarity`` instead of the Euclidean distance, equal
  distances by the lower row first (:mod:`~libtrad.ray_jobs.evaluation.suites.fault_neighbours`).

``siren_compat=True`` reproduces SIREN's own distance instead (a quirk, off by default): the
embedding of length D is cut into 8 pseudo-channels (8, D/8); per channel the Euclidean
distances from a query to every candidate are z-scored over the candidates (population std;
a constant row becomes 0), the first 7 channels' z-scores are averaged and the k nearest by
that average vote (equal averages: the lower row first).

Device (``device``: auto | cpu | cuda | cuda:N, :mod:`libtrad.core.devices`): on CUDA the float32
screen of float32 embeddings runs on the GPU and only its candidates come back for the same
float64 re-check, so the predictions are the CPU's; on the CPU nothing changes. It is not a
comparability option (the leaderboard ignores it).

Class names: ``classes`` (names by label index) if given, else a ``label_name`` column, else the
Hugging Face ``ClassLabel`` names found in the Parquet metadata, else the label numbers. The columns
are read and checked by :mod:`~libtrad.ray_jobs.evaluation.suites.fault_columns`.

Results (``results.json``)::

    {"suite": "siren-fault", "protocol": "loocv" | "kfold" | "external", "classes": [name, ...],
     "accuracy": v, "precision_weighted": v, "recall_weighted": v, "f1_weighted": v,
     "precision_macro": v, "recall_macro": v, "f1_macro": v,
     "confusion": [[count, ...], ...],
     "predictions": [name, ...],            # rows sorted by ``file`` (external: the test rows)
     "per_class": {name: {"precision": v, "recall": v, "f1": v, "support": n}},
     # external only:
     "counts": {"train": n, "test": n},
     "per_condition": {condition: {"accuracy": v, "precision_weighted": v, ..., "support": n}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.devices import parse_device
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.embedding.embeddings_input import require_columns
from libtrad.ray_jobs.evaluation import metrics
from libtrad.ray_jobs.evaluation.report import write_fault_report
from libtrad.ray_jobs.evaluation.suites.base import Suite
from libtrad.ray_jobs.evaluation.suites.fault_columns import (
    class_names,
    file_column,
    int_column,
    pick_protocol,
    stratified_folds,
    subset_column,
)
from libtrad.ray_jobs.evaluation.suites.fault_neighbours import Candidates, neighbours, vote
from libtrad.ray_jobs.evaluation.suites.similarity import screen_device

NAME = "siren-fault"
REQUIRED_COLUMNS = ("file", "label")
OPTIONAL_COLUMNS = ("fold", "label_name", "subset", "condition")
PROTOCOLS = ("auto", "loocv", "kfold", "external")
METRICS = ("euclidean", "cosine")
BLOCK_BYTES = 64 * 2**20  # one float64 distance block of queries × candidates


@dataclass(frozen=True)
class FaultOptions:
    """How rows are predicted; ``classes`` names label indices 0, 1, ... (optional).

    SIREN's names (``FaultClassificationTester`` config, ``test_fault_classification.py`` flags):
    ``protocol`` loocv [``use_loocv`` / ``--loocv``], kfold [``use_kfold``, the default there],
    external [``use_external_test`` / ``--external_test``, with ``group_by_condition``: here the
    per-condition table comes whenever a ``condition`` column exists]; ``auto`` (default) is kfold
    over the ``fold`` column when there is one (IICA), else loocv; with ``folds`` it is kfold.
    ``folds`` [``n_splits``; None: the ``fold`` column] stratified folds, shuffled with
    ``split_seed`` [``random_state``: 1 in SIREN's script]; ``k`` [``k``, 5]; ``metric``
    [``metric``: euclidean, or cosine = 1 - cosine similarity].
    """

    protocol: str = "auto"
    k: int = 5
    metric: str = "euclidean"
    folds: int | None = None
    split_seed: int = 1
    siren_compat: bool = False
    sklearn_threads: int = 1
    block_rows: int | None = None
    classes: tuple[str, ...] | None = None
    device: str = "auto"

    def __post_init__(self):
        parse_device(self.device)
        if self.protocol not in PROTOCOLS:
            raise ParameterError("protocol", self.protocol, f"must be one of {', '.join(PROTOCOLS)}")
        if self.metric not in METRICS:
            raise ParameterError("metric", self.metric, f"must be one of {', '.join(METRICS)}")
        for name in ("k", "sklearn_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(name, value, "must be a whole number >= 1")
        if (
            isinstance(self.split_seed, bool)
            or not isinstance(self.split_seed, int)
            or not 0 <= self.split_seed < 2**32
        ):
            raise ParameterError("split_seed", self.split_seed, "must be a whole number in [0, 2**32)")
        if self.folds is None and self.split_seed != 1:
            raise ParameterError(
                "split_seed",
                self.split_seed,
                "is read only with folds (--folds N stratified folds); give them or leave the seed at 1",
            )
        if self.folds is not None:
            if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
                raise ParameterError("folds", self.folds, "must be a whole number >= 2 (stratified k-fold)")
            if self.protocol in ("loocv", "external"):
                raise ParameterError(
                    "folds",
                    self.folds,
                    f"is read only by protocol kfold (this run is "
                    f"{self.protocol}); give --protocol kfold or leave folds out",
                )
        if self.block_rows is not None and (not isinstance(self.block_rows, int) or self.block_rows < 1):
            raise ParameterError("block_rows", self.block_rows, "must be a whole number >= 1 (or None: automatic)")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))

    def record(self) -> dict:
        """The ``options`` of results.json (the leaderboard compares them): what it always held, plus
        ``metric`` when not euclidean and ``folds``/``split_seed`` when folds are computed, so a run
        with SIREN's defaults stays comparable with results written before these options existed."""
        out = {
            "protocol": self.protocol,
            "k": self.k,
            "siren_compat": self.siren_compat,
            "sklearn_threads": self.sklearn_threads,
            "block_rows": self.block_rows,
        }
        if self.metric != "euclidean":
            out["metric"] = self.metric
        if self.folds is not None:
            out.update(folds=self.folds, split_seed=self.split_seed)
        return out


@dataclass(frozen=True)
class Unit:
    """Query rows and the rows they are predicted from (positions in the frame)."""

    key: str
    queries: np.ndarray
    candidates: np.ndarray  # sorted; for LOOCV all rows (each query's own row is left out)
    leave_one_out: bool
    fit_queries: int  # rows one scikit-learn fit predicts at once (1 for LOOCV, the fold's size)

    @property
    def rows(self) -> np.ndarray:
        return np.union1d(self.queries, self.candidates)


# ----------------------------------------------------------------------------- plan
def block_rows(n_candidates: int, options: FaultOptions) -> int:
    """Queries per distance block: about :data:`BLOCK_BYTES` of float64 distances."""
    return options.block_rows or max(1, BLOCK_BYTES // (8 * max(1, n_candidates)))


def _fold_units(folds: np.ndarray, options: FaultOptions) -> list[Unit]:
    names = np.unique(folds)
    if names.size < 2:
        raise LibtradError(f"column 'fold': one fold only ({names[0]}); k-fold needs at least two")
    units = []
    for fold in names.tolist():
        queries, candidates = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
        if candidates.size <= options.k:
            raise ParameterError(
                "k",
                options.k,
                f"fold {fold} learns from {candidates.size} rows; k must be below "
                "that (with k = all of them every row of the fold gets the same vote)",
            )
        units.append(Unit(f"fold/{fold}", queries, candidates, False, int(queries.size)))
    return units


def _external_units(subset: np.ndarray, options: FaultOptions) -> list[Unit]:
    """Blocks of the ``test`` rows, each predicted from every ``train`` row (one fit predicting all test rows)."""
    train, test = np.flatnonzero(subset == "train"), np.flatnonzero(subset == "test")
    if train.size <= options.k:
        raise ParameterError(
            "k",
            options.k,
            f"the external protocol learns from {train.size} 'train' rows; k must "
            "be below that (with k = all of them every test row gets the same vote)",
        )
    step = block_rows(train.size, options)
    return [
        Unit(f"external/{start:07d}", test[start : start + step], train, False, int(test.size))
        for start in range(0, test.size, step)
    ]


# ----------------------------------------------------------------------------- run / combine
def predict(
    unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options: FaultOptions, screen=None
) -> dict:
    """:func:`run_unit` with the screen on ``screen`` (a torch device; None: numpy): also callable with
    ``torch.device("cpu")``, which runs the GPU code path on the CPU (tests compare it to numpy's)."""
    labels = columns["label"]
    classes = np.unique(labels)
    cand_codes = np.searchsorted(classes, labels[unit.candidates])
    candidates = Candidates(embeddings[unit.candidates])
    step = block_rows(unit.candidates.size, options)
    predictions = []
    for start in range(0, unit.queries.size, step):
        queries = unit.queries[start : start + step]
        nearest = neighbours(unit, embeddings[queries], candidates, queries, options, screen)
        predictions.append(vote(cand_codes[nearest], classes.size))
    return {"rows": unit.queries.tolist(), "predictions": classes[np.concatenate(predictions)].tolist()}


def _gather(units: list[Unit], unit_results: dict[str, dict], n: int) -> np.ndarray:
    expected = {u.key for u in units}
    missing, extra = sorted(expected - set(unit_results)), sorted(set(unit_results) - expected)
    if missing or extra:
        raise LibtradError(
            f"unit results do not match the plan (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(extra) or 'none'})"
        )
    predicted = np.full(n, -1, dtype=np.int64)
    for unit in units:
        r = unit_results[unit.key]
        if not np.array_equal(np.asarray(r["rows"]), unit.queries):
            raise LibtradError(f"unit {unit.key}: its result is for other rows than the plan's")
        predicted[unit.queries] = r["predictions"]
    return predicted


SUMMARY = (
    "accuracy",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "f1_macro",
)


def _summary(scores: dict) -> dict:
    return {key: scores[key] for key in SUMMARY}


def per_condition(conditions: np.ndarray, truth: np.ndarray, predicted: np.ndarray, files: np.ndarray) -> dict:
    """Accuracy and weighted/macro P/R/F1 of each recording condition's test rows (SIREN's
    ``group_by_condition``), each over the classes that condition's rows hold or are predicted as
    (scikit-learn's default, as SIREN scores each condition), and its row count."""
    empty = pd.isna(conditions)
    if empty.any():
        raise LibtradError(
            f"column 'condition': empty for a test row (file={files[empty][0]!r}); "
            "every test row needs its recording condition"
        )
    conditions = conditions.astype(str)
    out = {}
    for name in sorted(set(conditions.tolist())):
        mask = conditions == name
        scores = metrics.classification_scores(truth[mask], predicted[mask])
        out[name] = {**_summary(scores), "support": int(mask.sum())}
    return out


# ----------------------------------------------------------------------------- the suite
class FaultSuite(Suite):
    """SIREN's fault protocol (the module docstring)."""

    name = NAME
    options = FaultOptions
    required_columns = REQUIRED_COLUMNS
    data_kind = "SIREN fault"  # no column of its own: any labelled recordings that are no other suite's data
    optional_columns = OPTIONAL_COLUMNS

    def columns_for(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """The columns :func:`run_unit` reads, as arrays by row position (checked)."""
        require_columns(df, REQUIRED_COLUMNS, NAME)
        return {"label": int_column(df, "label")}

    def plan(self, df: pd.DataFrame, options: FaultOptions | None = None) -> list[Unit]:
        """LOOCV: blocks of query rows against all rows; k-fold: one unit per fold."""
        options = self.defaults(options)
        labels = self.columns_for(df)["label"]
        files = file_column(df)
        n = len(df)
        protocol = pick_protocol(df, options)
        if protocol == "kfold":
            folds = stratified_folds(labels, files, options) if options.folds is not None else int_column(df, "fold")
            return _fold_units(folds, options)
        if protocol == "external":
            return _external_units(subset_column(df), options)
        if n - 1 < options.k:  # the option at fault, named (the CLI shows it as --k)
            raise ParameterError(
                "k", options.k, f"LOOCV over {n} rows has {n - 1} neighbours per row: k must be at most {n - 1}"
            )
        step = block_rows(n, options)
        everything = np.arange(n)
        return [
            Unit(f"loocv/{start:07d}", everything[start : start + step], everything, True, 1)
            for start in range(0, n, step)
        ]

    def run_unit(
        self, unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options: FaultOptions | None = None
    ) -> dict:
        """Predicted label of each query row: ``{"rows": [...], "predictions": [...]}`` (label values)."""
        options = self.defaults(options)
        return predict(unit, embeddings, columns, options, screen_device(options.device))

    def combine(self, unit_results: dict[str, dict], df: pd.DataFrame, options: FaultOptions | None = None) -> dict:
        """The results.json dict from every unit's result (keyed by ``Unit.key``)."""
        options = self.defaults(options)
        units = self.plan(df, options)
        protocol = pick_protocol(df, options)
        labels = self.columns_for(df)["label"]
        predicted = _gather(units, unit_results, len(df))
        rows = np.flatnonzero(predicted >= 0)  # every row, or (external) the test rows
        truth, predicted = labels[rows], predicted[rows]
        present = np.union1d(truth, predicted)  # LOOCV/k-fold: the true classes; external: those tested or predicted
        names = class_names(df, options.classes)
        scores = metrics.classification_scores(truth, predicted, labels=present)
        per = scores["per_class"]
        order = np.argsort(file_column(df)[rows], kind="stable")
        results = {
            "suite": NAME,
            "protocol": protocol,
            "classes": [names[int(c)] for c in present],
            **_summary(scores),
            "confusion": scores["confusion"].tolist(),
            "predictions": [names[int(p)] for p in predicted[order]],
            "per_class": {
                names[int(c)]: {
                    "precision": float(per["precision"][i]),
                    "recall": float(per["recall"][i]),
                    "f1": float(per["f1"][i]),
                    "support": int(per["support"][i]),
                }
                for i, c in enumerate(present)
            },
        }
        if protocol == "external":
            results["counts"] = {"train": int(len(df) - rows.size), "test": int(rows.size)}
            if "condition" in df.columns:
                results["per_condition"] = per_condition(
                    df["condition"].to_numpy()[rows], truth, predicted, file_column(df)[rows]
                )
        return results

    def write_report(self, results: dict, folder: Path, df=None, options=None) -> list[Path]:
        """results.md and the confusion figure (:func:`libtrad.ray_jobs.evaluation.report.write_fault_report`)."""
        return write_fault_report(results, folder)


SUITE = FaultSuite()
