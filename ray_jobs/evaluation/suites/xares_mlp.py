"""X-ARES's MLP probe on frozen clip embeddings, with model selection never on the test fold.

The probe (X-ARES's): the clip embedding → ``LayerNorm(D)`` → ``Linear(D, classes)``,
cross-entropy loss, Adam (PyTorch defaults, no weight decay) at 1e-3 with a cosine decay to
0.1 × that rate over all optimiser steps (updated every step,
:func:`libtrad.ray_jobs.evaluation.suites.probes.cosine_lr`), 10 epochs and mini-batches of 32 rows
(X-ARES's task defaults). The checkpoint kept is the epoch best on validation (accuracy, or
AUC for an anomaly task; the first on a tie), scored once on test.

What differs from X-ARES's code, and why:

* k-fold tasks: X-ARES validates — and so selects its checkpoint — on the very fold it then
  reports as test, which leaks the test labels into the number. Here the validation part is a
  stratified 10 % carved from the **training folds** (seed ``split_seed``), and the test fold is
  touched once, by the selected checkpoint.
* Tasks without a validation split get the same stratified carve from ``train``; LOOCV datasets
  get 5 stratified folds (:mod:`libtrad.ray_jobs.evaluation.suites.probe_task`).
* Every training seed is a separate run (``seeds``, default 3); the result is the mean ± sample
  standard deviation over seeds (X-ARES runs one fixed seed).

Units, determinism and the ``results.json`` shape are the linear probe's
(:mod:`libtrad.ray_jobs.evaluation.suites.linear_probe`), with ``"suite": "xares-mlp"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from functools import partial

import numpy as np
import pandas as pd

from libtrad.ray_jobs.evaluation.suites import probe_results, probe_task, probes

SUITE = "xares-mlp"
REQUIRED_COLUMNS = probe_task.BASE_COLUMNS
OPTIONAL_COLUMNS = probe_task.OPTIONAL_COLUMNS
Unit = probe_task.ProbeUnit


@dataclass(frozen=True)
class XaresMlpOptions(probes.TrainedProbeOptions):
    """X-ARES's defaults (10 epochs); ``min_lr_ratio`` is where the cosine decay ends (× ``lr``)."""

    epochs: int = 10
    min_lr_ratio: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        probes.check_number_in("min_lr_ratio", self.min_lr_ratio, 0, 1)


def columns_for(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return probe_task.columns_for(df)


def plan(df: pd.DataFrame, options: XaresMlpOptions | None = None) -> list[Unit]:
    """One unit per (seed, fold)."""
    options = options or XaresMlpOptions()
    units, _ = probe_task.probe_units(df, options, SUITE)
    probe_task.columns_for(df)
    return units


def _model(dim: int, n_classes: int):
    import torch

    return torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, n_classes))


def _optimizer(options: XaresMlpOptions, model):
    import torch

    return torch.optim.Adam(model.parameters(), lr=options.lr)


def _lr(options: XaresMlpOptions, step: int, total: int) -> float:
    return probes.cosine_lr(step, total, options.lr, options.min_lr_ratio)


def run_unit(unit: Unit, embeddings: np.ndarray, columns: dict, options: XaresMlpOptions | None = None) -> dict:
    """Train one probe (one seed on one fold) and score its test rows with the best-validation epoch."""
    options = options or XaresMlpOptions()
    return probes.run_probe(unit, embeddings, columns, options, build_model=_model,
                            build_optimizer=partial(_optimizer, options), lr_at=partial(_lr, options))


def combine(unit_results: dict[str, dict], df: pd.DataFrame, options: XaresMlpOptions | None = None) -> dict:
    return probe_results.combine_probe(SUITE, unit_results, df, options or XaresMlpOptions())


def evaluate_local(df: pd.DataFrame, options: XaresMlpOptions | None = None) -> dict:
    """plan → every unit in this process → combine (the runner's ``local`` path)."""
    import sys

    from libtrad.ray_jobs.evaluation.runner import run_suite

    return run_suite(sys.modules[__name__], df, options or XaresMlpOptions(), local=True, progress=False).results


def write_report(results: dict, folder: Path, df=None, options=None) -> list[Path]:
    """results.md and the per-fold figure (:func:`libtrad.ray_jobs.evaluation.probe_report.write_probe_report`)."""
    from libtrad.ray_jobs.evaluation.probe_report import write_probe_report

    return write_probe_report(results, folder)
