"""ARCH's linear probe on frozen clip embeddings, with the checkpoint chosen on validation, not the last epoch.

The probe (ARCH's linear evaluation): the mean-pooled clip embedding (what ``libtrad embed``
stores) → one ``Linear(D, classes)`` layer, cross-entropy loss, AdamW (PyTorch defaults: weight
decay 0.01, betas 0.9/0.999) at a peak learning rate of 1e-3 with a linear warm-up from 0 over
the first 10 % of the optimiser steps and a linear decay to 0 over the rest (updated every
step, :func:`libtrad.ray_jobs.evaluation.suites.probes.arch_lr`), 200 epochs, mini-batches of 32 rows —
ARCH's recipe and its default batch size.

What differs from ARCH's code, and why:

* The checkpoint reported is the epoch with the best **validation** metric (accuracy, or AUC for
  an anomaly task; the first such epoch on a tie), scored once on test. ARCH's code ends with the
  last epoch's weights (its best-model bookkeeping keeps every epoch), so its number depends on
  when training stops.
* The learning rate follows the schedule exactly once per optimiser step (ARCH's code also steps
  its scheduler once more per epoch, so its decay ends early).
* Validation, when the task has no validation split, is a **stratified** 10 % of the training
  rows (per class, seed fixed by ``split_seed``), the same rows for every seed; k-fold tasks
  carve it from the training folds, never from the test fold.
* Every training seed (``seeds``, default 3: seeds 0, 1, 2) is a separate run; the result is
  the mean ± sample standard deviation over seeds of each seed's test metric (the mean over
  folds for a k-fold task).

Splits and folds: :mod:`libtrad.ray_jobs.evaluation.suites.probe_task`; metrics:
:mod:`libtrad.ray_jobs.evaluation.suites.probe_results`; training and determinism:
:mod:`libtrad.ray_jobs.evaluation.suites.probes`. Units: one per (seed, fold), each an independent Ray task.

Results (``results.json``)::

    {"suite": "linear-probe", "protocol": "splits" | "kfold" | "5fold-for-loocv",
     "task": name, "metric": "accuracy" | "auc", "seeds": [0, 1, 2],
     "per_seed": [{"seed": s, "test_metric": v, ("test_pauc": v,)
                   "folds": [{"fold": name, "best_epoch": e, "val_metric": v, "test_metric": v,
                              ("test_pauc": v,) "sizes": {"train": n, "validation": n, "test": n},
                              "val_curve": [v per epoch], "train_loss": [v per epoch]}]}],
     "mean": v, "std": v | null, ("pauc": {"mean": v, "std": v, "max_fpr": 0.1},)
     "splits_used": {"train": ..., "validation": ..., "test": ..., ("folds": ...)},
     "test_size": n, "classes": [name, ...], "options": {...}, "note": text | null}
"""

from __future__ import annotations

from dataclasses import dataclass

from libtrad.ray_jobs.evaluation.suites import probes


@dataclass(frozen=True)
class LinearProbeOptions(probes.TrainedProbeOptions):
    """ARCH's recipe by default (AdamW, 200 epochs, 10 % warm-up); ``task`` names the task in results.json."""

    weight_decay: float = 0.01
    warmup_fraction: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        probes.check_number_in("weight_decay", self.weight_decay, 0, None)
        probes.check_number_in("warmup_fraction", self.warmup_fraction, 0, 1)


class LinearProbeSuite(probes.ProbeSuite):
    """ARCH's linear probe (the module docstring)."""

    name = "linear-probe"
    options = LinearProbeOptions

    def model(self, dim: int, n_classes: int):
        import torch

        return torch.nn.Linear(dim, n_classes)

    def optimizer(self, options: LinearProbeOptions, model):
        import torch

        return torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)

    def lr(self, options: LinearProbeOptions, step: int, total: int) -> float:
        return probes.arch_lr(step, total, options.lr, options.warmup_fraction)


SUITE = LinearProbeSuite()
