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

from libtrad.ray_jobs.evaluation.suites import probes


@dataclass(frozen=True)
class XaresMlpOptions(probes.TrainedProbeOptions):
    """X-ARES's defaults (10 epochs); ``min_lr_ratio`` is where the cosine decay ends (× ``lr``)."""

    epochs: int = 10
    min_lr_ratio: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        probes.check_number_in("min_lr_ratio", self.min_lr_ratio, 0, 1)


class XaresMlpSuite(probes.ProbeSuite):
    """X-ARES's LayerNorm + Linear probe (the module docstring)."""

    name = "xares-mlp"
    options = XaresMlpOptions

    def model(self, dim: int, n_classes: int):
        import torch

        return torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, n_classes))

    def optimizer(self, options: XaresMlpOptions, model):
        import torch

        return torch.optim.Adam(model.parameters(), lr=options.lr)

    def lr(self, options: XaresMlpOptions, step: int, total: int) -> float:
        return probes.cosine_lr(step, total, options.lr, options.min_lr_ratio)


SUITE = XaresMlpSuite()
