"""LiB-TRAD's anomaly protocol on precomputed embeddings: per-experiment AUC + harmonic mean (Table 3 form).

Input: the embeddings of a LiB-TRAD export's anomaly configs (``libtrad embed --config all``, or one
of ``tr1``/``tr2``/``tr3``): columns ``experiment``, ``split`` (``train``/``test``), ``label``
(0 normal, 1 abnormal). Per experiment, two scorers are fitted on its ``train`` rows (normal
charging only, as the paper trains its auto-encoder) and score its ``test`` rows:

* ``knn`` — 1 − the highest cosine similarity to a train embedding (1-NN; the same scorer as
  SIREN's DCASE suite, so numbers are comparable across suites);
* ``mahalanobis`` — the Mahalanobis distance to the train embeddings' mean under their
  covariance (ridge 1e-6, pseudo-inverse: the scorer of the paper's auto-encoder,
  :class:`libtrad.models.mahalanobis.MahalanobisScorer`), in float64.

AUC per experiment (a one-class test split has no AUC: null) and their harmonic mean (values
clipped to machine epsilon, as the SIREN suites do). ``results.json``::

    {"suite": "lib-trad", "protocol": "embeddings",
     "scorers": {"knn": {"auc": {"tr1": v, ...}, "harmonic_mean": v}, "mahalanobis": {...}},
     "counts": {"tr1": {"train": n, "normal": n, "abnormal": n}, ...},
     "scores": {"knn": {"tr1": {"labels": [...], "scores": [...]}}, ...}}

(``scores`` in test-row order of the input, for ROC curves.)

Device (``device``: auto | cpu | cuda | cuda:N, :mod:`libtrad.core.devices`; not a comparability
option): on CUDA the knn similarities are screened in float32 on the GPU with a float64
re-check (:func:`~libtrad.ray_jobs.evaluation.suites.similarity.screened_cosine_scores`) and
the Mahalanobis distances run in float64 on the GPU (statistics fitted on the CPU,
:meth:`~libtrad.models.mahalanobis.MahalanobisScorer.score_on`). The scores then differ from
the CPU's in the last bits only, within a computed bound; an experiment whose scores come closer
to each other than that bound is scored on the CPU, so every AUC is the CPU's. With ``--model``, the trained
checkpoints' Table 3 (or Table 2) rows are added under ``"model"`` and printed in the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.devices import parse_device
from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.embedding.embeddings_input import require_columns
from libtrad.ray_jobs.evaluation import metrics
from libtrad.ray_jobs.evaluation.report import markdown_table, roc_panels
from libtrad.ray_jobs.evaluation.suites.base import Suite, check_subset
from libtrad.ray_jobs.evaluation.suites.similarity import (
    cosine_score_bound,
    cosine_scores,
    order_is_certain,
    screen_device,
)

NAME = "lib-trad"
REQUIRED_COLUMNS = ("experiment", "split", "label")
OPTIONAL_COLUMNS = ()
SCORERS = ("knn", "mahalanobis")


@dataclass(frozen=True)
class LibTradOptions:
    """Which scorers to run (both by default)."""

    scorers: tuple[str, ...] = SCORERS
    device: str = "auto"

    def __post_init__(self):
        parse_device(self.device)
        check_subset("scorers", self.scorers, SCORERS)


@dataclass(frozen=True)
class Unit:
    key: str  # "<scorer>/<experiment>"
    scorer: str
    experiment: str
    train: np.ndarray
    test: np.ndarray


def _unit_scores(unit: Unit, train: np.ndarray, test: np.ndarray, screen) -> np.ndarray:
    """One scorer's test scores: numpy/CPU torch (``screen`` None, the reference) or on ``screen``."""
    if unit.scorer == "knn":
        scores = cosine_scores(test, [train], screen)
        bound = cosine_score_bound(test.shape[1])
    else:
        from libtrad.models.mahalanobis import MahalanobisScorer

        scorer = MahalanobisScorer.fit_embeddings(train)
        if screen is None:
            return scorer.score(test)
        scores, bound = scorer.score_on(test, screen)
    if screen is not None and not order_is_certain(scores, bound):
        return _unit_scores(unit, train, test, None)  # near-equal scores: the CPU's order decides
    return scores


def score_unit(unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], screen=None) -> dict:
    """:func:`run_unit` with the device work on ``screen`` (a torch device; None: the CPU path);
    ``torch.device("cpu")`` runs the GPU code path on the CPU (tests compare the two)."""
    train = embeddings[unit.train].astype(np.float64)
    test = embeddings[unit.test].astype(np.float64)
    scores = _unit_scores(unit, train, test, screen)
    labels = columns["label"][unit.test]
    auc = metrics.roc_auc(labels, scores)  # SUITE.plan() refused a test part of one class
    return {
        "auc": auc,
        "labels": labels.tolist(),
        "scores": [float(s) for s in scores],
        "counts": {
            "train": int(len(unit.train)),
            "normal": int((labels == 0).sum()),
            "abnormal": int((labels == 1).sum()),
        },
    }


# ----------------------------------------------------------------------------- report
def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def markdown(results: dict) -> str:
    """One table: a row per method (embedding scorers, and trained models when given), a column per experiment."""
    experiments = sorted(results["counts"])
    rows = []
    model = results.get("model")
    if model:
        by_exp = {r["experiment"].lower(): r["auc"] for r in model["rows"]}
        rows.append(
            [
                f"{model['family']} checkpoint ({model['table']})",
                *(_fmt(by_exp.get(e)) for e in experiments),
                _fmt(model.get("harmonic_mean_auc")),
            ]
        )
    for name, entry in sorted(results["scorers"].items()):
        rows.append(
            [f"{name} on embeddings", *(_fmt(entry["auc"].get(e)) for e in experiments), _fmt(entry["harmonic_mean"])]
        )
    counts = ", ".join(
        f"{e.upper()}: {c['train']} train, {c['normal']}+{c['abnormal']} test (normal+abnormal)"
        for e, c in sorted(results["counts"].items())
    )
    inputs = "; ".join(f"`{i.get('encoder') or i['path']}`" for i in results.get("inputs", []))
    return "\n".join(
        [
            "## LiB-TRAD anomaly detection (AUC per experiment, Table 3 form)",
            "",
            f"Embeddings: {inputs or '—'}. Rows: {counts}.",
            "",
            markdown_table(["method", *(e.upper() for e in experiments), "harmonic mean"], rows),
            "",
        ]
    )


# ----------------------------------------------------------------------------- the suite
class LibTradSuite(Suite):
    """The LiB-TRAD scorers on embeddings (the module docstring)."""

    name = NAME
    options = LibTradOptions
    required_columns = REQUIRED_COLUMNS
    data_kind, signature = "LiB-TRAD", ("experiment",)
    optional_columns = OPTIONAL_COLUMNS

    def columns_for(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        require_columns(df, REQUIRED_COLUMNS, NAME)
        labels = pd.to_numeric(df["label"], errors="coerce")
        if labels.isna().any() or not labels.isin([0, 1]).all():
            raise LibtradError(
                "column label: LiB-TRAD's anomaly protocol needs labels 0 (normal) / 1 (abnormal); "
                f"found {sorted(set(df['label'].astype(str)))[:5]} (a *_cls config? use its own suite)"
            )
        return {
            "experiment": df["experiment"].astype(str).str.lower().to_numpy(),
            "split": df["split"].astype(str).to_numpy(),
            "label": labels.astype(np.int64).to_numpy(),
        }

    def plan(self, df: pd.DataFrame, options: LibTradOptions | None = None) -> list[Unit]:
        options = self.defaults(options)
        columns = self.columns_for(df)
        units = []
        for experiment in sorted(set(columns["experiment"])):
            mine = columns["experiment"] == experiment
            train = np.flatnonzero(mine & (columns["split"] == "train"))
            test = np.flatnonzero(mine & (columns["split"] == "test"))
            if not len(test):
                continue
            labels = columns["label"][test]
            if labels.min() == labels.max():
                raise LibtradError(
                    f"lib-trad: experiment {experiment}: its test part holds {int((labels == 0).sum())} "
                    f"normal and {int((labels == 1).sum())} abnormal rows; an AUC needs both "
                    "(embed the config's test split, which holds both)"
                )
            if len(train) < 2:
                raise LibtradError(
                    f"experiment {experiment}: {len(train)} train rows; the scorers need at least 2 "
                    "(embed the train split too: --split train --split test)"
                )
            units += [Unit(f"{s}/{experiment}", s, experiment, train, test) for s in options.scorers]
        if not units:
            raise LibtradError("no test rows: embed a LiB-TRAD anomaly config (all, tr1, tr2, tr3) with its test split")
        return units

    def run_unit(self, unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options=None) -> dict:

        options = self.defaults(options)
        return score_unit(unit, embeddings, columns, screen_device(options.device))

    def combine(self, unit_results: dict[str, dict], df: pd.DataFrame, options: LibTradOptions | None = None) -> dict:
        options = self.defaults(options)
        units = self.plan(df, options)
        missing = [u.key for u in units if u.key not in unit_results]
        if missing:
            raise LibtradError(f"lib-trad: no result for unit {missing[0]}")
        scorers, counts, scores = {}, {}, {}
        for unit in sorted(units, key=lambda u: u.key):
            result = unit_results[unit.key]
            scorers.setdefault(unit.scorer, {"auc": {}})["auc"][unit.experiment] = result["auc"]
            counts[unit.experiment] = result["counts"]
            scores.setdefault(unit.scorer, {})[unit.experiment] = {
                "labels": result["labels"],
                "scores": result["scores"],
            }
        for entry in scorers.values():
            entry["harmonic_mean"] = metrics.harmonic_mean(list(entry["auc"].values()))
        return {
            "suite": NAME,
            "protocol": "embeddings",
            "scorers": scorers,
            "counts": counts,
            "scores": scores,
            "options": {"scorers": list(options.scorers)},
        }

    def write_report(self, results: dict, folder: Path, df=None, options=None) -> list[Path]:
        folder = Path(folder)
        files = [folder / "results.md"]
        files[0].write_text(markdown(results), encoding="utf-8")
        for scorer, per_experiment in sorted(results["scores"].items()):
            curves = {
                e: (np.array(v["labels"]), np.array(v["scores"]))
                for e, v in sorted(per_experiment.items())
                if len(set(v["labels"])) == 2
            }
            if curves:
                files.append(roc_panels(f"lib-trad {scorer}", curves, folder / f"roc_{scorer}.png"))
        return files


SUITE = LibTradSuite()
